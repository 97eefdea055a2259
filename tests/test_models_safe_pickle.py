"""Restricted unpickler for chumpy-era model files: arrays come back, code never runs."""
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from headgen.errors import InputError
from headgen.models.safe_pickle import safe_load, safe_loads


class _FakeCh:
    """Imitates chumpy.ch.Ch's pickling: default reduce + __getstate__ returning its __dict__ with 'x'."""

    def __init__(self, x):
        self.x = np.asarray(x, np.float64)
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False

    def __getstate__(self):
        return dict(self.__dict__)


@pytest.fixture
def fake_chumpy(monkeypatch):
    """Register modules 'chumpy' and 'chumpy.ch' holding class Ch only while pickling."""
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    Ch = type("Ch", (_FakeCh,), {"__module__": "chumpy.ch", "__qualname__": "Ch"})
    mod.Ch = Ch
    pkg.ch = mod
    monkeypatch.setitem(sys.modules, "chumpy", pkg)
    monkeypatch.setitem(sys.modules, "chumpy.ch", mod)
    return Ch


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_chumpy_arrays_and_sparse_become_numpy(fake_chumpy, tmp_path, protocol, monkeypatch):
    rng = np.random.default_rng(0)
    sd, w = rng.normal(size=(20, 3, 4)), rng.random((20, 5))
    J = sp.csc_matrix(rng.random((5, 20)) * (rng.random((5, 20)) > 0.5))
    data = {"shapedirs": fake_chumpy(sd), "weights": fake_chumpy(w), "J_regressor": J,
            "f": np.arange(9, dtype=np.uint32).reshape(3, 3), "bs_style": "lbs", "n": 3, "nested": [fake_chumpy(1.5)]}
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    monkeypatch.delitem(sys.modules, "chumpy")  # loading must not need (or import) chumpy
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    out = safe_load(path)
    assert "chumpy" not in sys.modules
    assert type(out["shapedirs"]) is np.ndarray and np.array_equal(out["shapedirs"], sd)
    assert np.array_equal(out["weights"], w)
    assert sp.issparse(out["J_regressor"]) and out["J_regressor"].format == "csc"
    assert np.array_equal(out["J_regressor"].toarray(), J.toarray())
    assert out["f"].dtype == np.uint32 and out["bs_style"] == "lbs" and out["n"] == 3
    assert float(out["nested"][0]) == 1.5


def _py2_array_pickle() -> bytes:
    """Hand-assembled protocol-2 pickle as Python 2 + numpy wrote them: raw data as a py2 str (BINSTRING),
    dict keys as str, a latin-1 string value."""
    def sbs(b: bytes) -> bytes:  # SHORT_BINSTRING
        return b"U" + bytes([len(b)]) + b
    raw = np.array([1.0, -2.5, 3.25], "<f8").tobytes()
    arr = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85" + sbs(b"b") + b"\x87R"
           + b"(K\x01K\x03\x85" + b"cnumpy\ndtype\n" + sbs(b"f8") + b"K\x00K\x01\x87R"
           + b"(K\x03" + sbs(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb" + b"\x89"
           + b"T" + struct.pack("<i", len(raw)) + raw + b"tb")
    return b"\x80\x02}" + sbs(b"v_template") + arr + b"s" + sbs(b"name") + sbs("café".encode("latin1")) + b"s."


def test_python2_latin1_pickle():
    out = safe_loads(_py2_array_pickle(), "py2.pkl")
    assert np.array_equal(out["v_template"], [1.0, -2.5, 3.25])
    assert out["name"] == "café"


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("1+1",))


def test_code_execution_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros(3), "x": _Evil(f"touch {marker}")}, protocol=2))
    with pytest.raises(InputError, match=r"generic_model\.pkl.*refusing.*(posix|os)\.system"):
        safe_load(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps([_EvalEvil()], protocol=0))
    with pytest.raises(InputError, match=r"refusing.*builtins\.eval"):
        safe_load(path)
    # a class outside the allow-list (even a harmless one) is refused too
    path.write_bytes(pickle.dumps(_FakeCh([1.0])))
    with pytest.raises(InputError, match="_FakeCh"):
        safe_load(path)


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "flame_static_embedding.pkl"
    good = pickle.dumps({"lmk_face_idx": np.arange(51), "lmk_b_coords": np.ones((51, 3)) / 3}, protocol=2)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match=r"flame_static_embedding\.pkl.*truncated"):
        safe_load(path)
    with pytest.raises(InputError, match="cannot read"):
        safe_load(tmp_path / "missing.pkl")


def test_object_npy_with_torch_tensors(tmp_path):
    """DECA's landmark_embedding.npy: a dict (object array) holding numpy arrays and torch tensors."""
    path = tmp_path / "landmark_embedding.npy"
    d = {"static_lmk_faces_idx": np.arange(51), "dynamic_lmk_faces_idx": torch.arange(79 * 17).view(79, 17),
         "dynamic_lmk_bary_coords": torch.rand(79, 17, 3)}
    np.save(path, np.array(d, dtype=object), allow_pickle=True)
    out = safe_load(path)
    assert np.array_equal(out["static_lmk_faces_idx"], np.arange(51))
    assert torch.equal(out["dynamic_lmk_faces_idx"], d["dynamic_lmk_faces_idx"])
    assert torch.equal(out["dynamic_lmk_bary_coords"], d["dynamic_lmk_bary_coords"])
    plain = tmp_path / "plain.npy"
    np.save(plain, np.eye(3))
    assert np.array_equal(safe_load(plain), np.eye(3))
