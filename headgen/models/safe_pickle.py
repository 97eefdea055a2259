"""Load chumpy-era model pickles (FLAME/SMPL ``.pkl``, DECA ``.npy``) without running foreign code.

``safe_load(path)`` unpickles with a restricted :class:`pickle.Unpickler` whose ``find_class`` allows only:

* numpy array/scalar/dtype reconstruction (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``,
  ``numpy.dtype``, ``numpy.core.multiarray.scalar``, ``numpy.core.numeric._frombuffer``; ``numpy._core``
  spellings too);
* ``chumpy.*`` classes, replaced by a stand-in that records the pickled state; chumpy's ``Ch.__setstate__``
  receives a dict holding the value under ``'x'``, which becomes a plain ``numpy.ndarray`` (chumpy is never
  imported);
* ``scipy.sparse`` csc/csr/coo matrices (old ``scipy.sparse.csc`` and new ``scipy.sparse._csc`` paths),
  rebuilt from their data/indices/indptr/shape;
* torch tensors pickled by plain ``pickle`` (DECA's landmark_embedding.npy), through ``torch.load(...,
  weights_only=True)``;
* ``_codecs.encode`` for str -> bytes only (protocol-2 pickles written by Python 3);
* ``copyreg._reconstructor`` / ``copy_reg._reconstructor`` for those stand-ins, ``builtins.object``,
  ``set``/``frozenset``/``complex``/``slice``, ``collections.OrderedDict``.

Anything else (``os.system``, ``builtins.eval``, any other class) raises :class:`InputError` naming the file
and the refused global. Python-2 pickles are read with ``encoding="latin1"``.
"""
from __future__ import annotations

import _compat_pickle
import collections
import copyreg
import io
import os
import pickle
from pathlib import Path

import numpy as np

from headgen.errors import InputError

__all__ = ["safe_load", "safe_loads", "SafeUnpickler", "UnsafePickleError"]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list."""


class _ChumpyStub:
    """Stand-in for any chumpy class: keeps the state given to __setstate__ (dict with 'x')."""
    _state = None
    _args = ()

    def __init__(self, *args, **kwargs):
        self._args = args
        self._state = None

    def __setstate__(self, state):
        self._state = state


class _SparseStub:
    """Stand-in for a scipy.sparse matrix class: keeps the pickled __dict__ and the format."""
    fmt = "csc"
    _state = None

    def __init__(self, *args, **kwargs):
        self._state = None

    def __setstate__(self, state):
        self._state = state


def _sparse_stub(fmt: str) -> type:
    return type(f"_Sparse_{fmt}", (_SparseStub,), {"fmt": fmt})


def _reconstructor(cls, base, state):
    """Safe ``copyreg._reconstructor``: only for our stand-ins (base object) and numpy arrays."""
    if isinstance(cls, type) and issubclass(cls, (_ChumpyStub, _SparseStub)):
        obj = object.__new__(cls)
        obj._state = None
        obj._args = ()
        return obj
    if cls is np.ndarray:
        return copyreg._reconstructor(cls, base, state)
    raise UnsafePickleError(f"copyreg._reconstructor with class {cls!r}")


def _torch_load_bytes(b):
    import torch
    return torch.load(io.BytesIO(b), weights_only=True)


def _torch_rebuild(name):
    def f(*args):
        import torch  # noqa: F401  (only when a pickle holds tensors)
        import torch._utils
        import torch._tensor
        fn = {"_rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
              "_rebuild_from_type_v2": torch._tensor._rebuild_from_type_v2,
              "_rebuild_parameter": torch._utils._rebuild_parameter}[name]
        if name == "_rebuild_from_type_v2":
            if not getattr(args[0], "_hg_safe_rebuild", False) or args[1] is not torch.Tensor:
                raise UnsafePickleError("torch._tensor._rebuild_from_type_v2 with a non-tensor rebuild function")
        return fn(*args)
    f._hg_safe_rebuild = True
    return f


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` restricted to str -> bytes (how protocol-2 pickles from Python 3 store bytes)."""
    if not isinstance(obj, str) or str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1", "utf-8",
                                                                                    "utf8", "iso-8859-1"):
        raise UnsafePickleError(f"_codecs.encode({type(obj).__name__}, {encoding!r})")
    return obj.encode(encoding, errors)


def _allowed(module: str, name: str):
    """The object ``find_class`` returns for an allowed global, or None."""
    if module == "_codecs" and name == "encode":
        return _codecs_encode
    if module.startswith("chumpy"):
        return type(name, (_ChumpyStub,), {})
    if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        if name == "_reconstruct":
            return np.core.multiarray._reconstruct
        if name == "scalar":
            return np.core.multiarray.scalar
    if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
        return np.core.numeric._frombuffer
    if module == "numpy":
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
    if module == "numpy.dtypes" and name.endswith("DType"):
        import numpy.dtypes as npd
        return getattr(npd, name, None)
    if module.startswith("scipy.sparse"):
        for fmt in ("csc", "csr", "coo"):
            if name == f"{fmt}_matrix" or name == f"{fmt}_array":
                return _sparse_stub(fmt)
        return None
    if module in ("copyreg", "copy_reg") and name == "_reconstructor":
        return _reconstructor
    if module in ("builtins", "__builtin__") and name in ("object", "set", "frozenset", "complex", "slice"):
        import builtins
        return getattr(builtins, name)
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "torch.storage" and name == "_load_from_bytes":
        return _torch_load_bytes
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
        return _torch_rebuild(name)
    if module == "torch._tensor" and name == "_rebuild_from_type_v2":
        return _torch_rebuild(name)
    if module == "torch" and name == "Tensor":
        import torch
        return torch.Tensor
    return None


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (see module docstring)."""

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        obj = _allowed(module, name)
        if obj is None:
            raise UnsafePickleError(f"{module}.{name}")
        return obj


def _convert(obj, _seen=None):
    """Replace stand-ins with numpy arrays / scipy matrices throughout dicts, lists and tuples."""
    if isinstance(obj, _ChumpyStub):
        st = obj._state
        if isinstance(st, dict) and "x" in st:
            return np.asarray(_convert(st["x"]))
        raise UnsafePickleError(f"chumpy object {type(obj).__name__} without an 'x' value (unsupported layout)")
    if isinstance(obj, _SparseStub):
        import scipy.sparse as sp
        st = dict(obj._state or {})
        shape = st.get("_shape", st.get("shape"))
        if obj.fmt == "coo":
            data, row, col = st.get("data"), st.get("row"), st.get("col")
            if row is None and "coords" in st:
                row, col = st["coords"]
            return sp.coo_matrix((data, (row, col)), shape=shape)
        cls = sp.csc_matrix if obj.fmt == "csc" else sp.csr_matrix
        return cls((st["data"], st["indices"], st["indptr"]), shape=shape)
    if isinstance(obj, dict):
        return type(obj)((k, _convert(v)) for k, v in obj.items()) if not isinstance(obj, collections.OrderedDict) \
            else collections.OrderedDict((k, _convert(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_convert(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_convert(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        flat = [_convert(v) for v in obj.reshape(-1)]
        out = np.empty(obj.shape, dtype=object)
        for i, v in enumerate(flat):
            out.reshape(-1)[i] = v
        return out
    return obj


def safe_loads(data: bytes, name: str = "<bytes>"):
    """Unpickle ``data`` with :class:`SafeUnpickler` (latin1 for Python-2 strings); see :func:`safe_load`."""
    try:
        obj = SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
        return _convert(obj)
    except UnsafePickleError as e:
        raise InputError(f"{name}: refusing to load pickle: it references '{e}', which is not an allowed "
                         f"array type (numpy / chumpy / scipy.sparse); the file may try to run code") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            ImportError, MemoryError, UnicodeDecodeError) as e:
        raise InputError(f"{name}: not a readable model pickle (truncated or corrupt?): "
                         f"{type(e).__name__}: {e}") from None


def safe_load(path: str | os.PathLike):
    """Load a model pickle (``.pkl``) or an object ``.npy`` (DECA embedding) from ``path`` safely.

    Returns the unpickled object with chumpy arrays as numpy arrays and sparse matrices as scipy.sparse
    (for ``.npy``: a plain array as is, a 0-d object array unwrapped to its item).
    Raises InputError naming the file when it is missing, truncated, corrupt or references a refused global.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e})") from e
    if data[:6] == b"\x93NUMPY":
        return _load_npy(data, path)
    return safe_loads(data, str(path))


def _load_npy(data: bytes, path: Path):
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    except Exception as e:  # noqa: BLE001 - numpy raises several types for bad headers
        raise InputError(f"{path}: not a readable .npy ({e})") from None
    if dtype.hasobject:
        obj = safe_loads(data[f.tell():], str(path))
        if isinstance(obj, np.ndarray) and obj.shape == () and obj.dtype == object:
            return obj.item()
        return obj
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{path}: not a readable .npy ({e})") from None
