"""The one head-model interface: :class:`HeadModel` (a thin ``nn.Module``) and :class:`HeadOutput`.

A head model maps identity/shape, expression, rigid rotation + translation (and, where the model has
them, neck/jaw/eye rotations) to vertices ``(B, V, 3)`` in metres, batched over frames, differentiable,
on the caller's device. Frames (see ``headgen.geometry.conventions``):

* model frame: metres, +x subject-left, +y up, +z out of the face, origin near the head centre
  (each model documents its exact origin);
* output frame: ``vertices = rotation @ model_frame_vertices + translation`` (rotation about the
  model-frame origin, then translation).

Landmarks are embeddings ``(face id, barycentric)`` on the model's own faces, registered by name with
:meth:`HeadModel.set_landmark_embedding`. Two names are special: ``"ibug68"`` fills
``out.landmarks68`` (B, 68, 3) and ``"mediapipe"`` fills ``out.landmarks468`` (B, 468, 3). A partial
embedding (e.g. FLAME's 105 MediaPipe points) gives NaN rows for the points it lacks; the boolean
mask ``model.landmark_valid(name)`` says which rows are real.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from headgen.errors import InputError
from headgen.geometry.rotations import axis_angle_to_matrix
from headgen.models.lbs import landmarks_from_barycentric

__all__ = ["HeadOutput", "HeadModel", "LANDMARK_SETS"]

#: special embedding names -> number of points of the full scheme
LANDMARK_SETS = {"ibug68": 68, "mediapipe": 468}


@dataclass
class HeadOutput:
    """Result of a head-model forward pass (all tensors batched over B frames, metres, output frame).

    vertices (B, V, 3); landmarks68 (B, 68, 3) or None; landmarks468 (B, 468, 3) or None (NaN rows where
    the embedding has no point); joints (B, J, 3) or None for models without a skeleton; landmarks: every
    registered embedding by name, (B, K, 3); rotation (B, 3, 3) and translation (B, 3) as applied;
    vertices_model (B, V, 3): the same vertices before the rigid transform (model frame; a transposed view of
    a (B, 3, V) tensor, call ``.contiguous()`` before ``.view``). ``vertices`` is contiguous.
    """
    vertices: Tensor
    landmarks68: Tensor | None = None
    landmarks468: Tensor | None = None
    joints: Tensor | None = None
    landmarks: dict[str, Tensor] = field(default_factory=dict)
    rotation: Tensor | None = None
    translation: Tensor | None = None
    vertices_model: Tensor | None = None


class HeadModel(nn.Module):
    """Base class: shared buffers (faces, uvs, regions, landmark embeddings), input checks, rigid transform.

    Subclasses set ``model_name``, ``n_shape``, ``n_expression``, ``expression_names`` and implement
    :meth:`_deform` (model-frame vertices and joints). Public attributes: ``faces`` (F, 3) long,
    ``uvs`` (T, 2) float or None, ``faces_uv`` (F, 3) long or None, ``num_vertices``, ``regions``
    (name -> vertex ids), ``has_jaw``/``has_neck``/``has_eyes`` (whether those inputs do something).
    ``check_inputs`` (default True): when the posed vertices hold NaN/inf, raise InputError naming the
    non-finite inputs (costs one device sync per call; set False in tight GPU loops).
    """

    model_name: str = "head"
    has_jaw: bool = False
    has_neck: bool = False
    has_eyes: bool = False

    def __init__(self, faces, uvs=None, faces_uv=None, regions: dict | None = None,
                 expression_names=(), n_shape: int = 0, check_inputs: bool = True):
        super().__init__()
        self.register_buffer("faces", torch.as_tensor(faces, dtype=torch.long).contiguous(), persistent=False)
        self.register_buffer("uvs", None if uvs is None else torch.as_tensor(uvs, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("faces_uv", None if faces_uv is None else torch.as_tensor(faces_uv, dtype=torch.long),
                             persistent=False)
        self.expression_names = list(expression_names)
        self.n_expression = len(self.expression_names)
        self.n_shape = int(n_shape)
        self.check_inputs = check_inputs
        self._region_names: list[str] = []
        for name, ids in (regions or {}).items():
            self.add_region(name, ids)
        self._embeddings: dict[str, dict] = {}

    # ------------------------------------------------------------------ basic properties
    @property
    def num_vertices(self) -> int:
        """Number of vertices V of this (sub)mesh."""
        return int(self._num_vertices())

    def _num_vertices(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def device(self) -> torch.device:
        return self.faces.device

    @property
    def dtype(self) -> torch.dtype:
        return self._float_dtype()

    def _float_dtype(self) -> torch.dtype:
        for name in ("template_soa", "v_template"):
            b = getattr(self, name, None)
            if torch.is_tensor(b):
                return b.dtype
        for name, b in self.named_buffers():
            if b is not None and b.is_floating_point() and name != "uvs":
                return b.dtype
        return torch.float32

    # ------------------------------------------------------------------ regions
    def add_region(self, name: str, vertex_ids) -> None:
        """Register a named vertex region (vertex ids (N,) into this mesh)."""
        self.register_buffer(f"region_{name}", torch.as_tensor(vertex_ids, dtype=torch.long), persistent=False)
        if name not in self._region_names:
            self._region_names.append(name)

    @property
    def regions(self) -> dict[str, Tensor]:
        """Named regions: name -> vertex ids (N,) long on the model's device."""
        return {n: getattr(self, f"region_{n}") for n in self._region_names}

    # ------------------------------------------------------------------ landmark embeddings
    def set_landmark_embedding(self, name: str, face_ids, bary, indices=None, num_points: int | None = None,
                               topology: str = "model") -> None:
        """Register landmarks as points on faces.

        face_ids (K,) long into ``self.faces`` (or, with ``topology="full"``, into the model's full
        topology; see ``full_face_to_model`` on models that are submeshes); bary (K, 3) barycentric
        weights (rows sum to 1). ``indices`` (K,) optional: which rows of a ``num_points``-point scheme
        these K points are (for partial embeddings); ``name`` "ibug68" / "mediapipe" default
        ``num_points`` to 68 / 468. Raises InputError on inconsistent shapes or ids.
        """
        face_ids = torch.as_tensor(face_ids, dtype=torch.long).reshape(-1)
        bary = torch.as_tensor(bary, dtype=torch.float64)
        if bary.shape != (face_ids.shape[0], 3):
            raise InputError(f"landmark embedding '{name}': bary must have shape ({face_ids.shape[0]}, 3) "
                             f"to match face_ids ({face_ids.shape[0]},); got {tuple(bary.shape)}")
        if topology == "full":
            mapping = getattr(self, "full_face_to_model", None)
            if mapping is not None:
                face_ids = mapping.cpu()[face_ids]
                if (face_ids < 0).any():
                    raise InputError(f"landmark embedding '{name}': some faces are not part of this model's "
                                     f"parts ({getattr(self, 'parts', '?')}); load a larger part set")
        elif topology != "model":
            raise InputError(f"landmark embedding '{name}': topology must be 'model' or 'full', got {topology!r}")
        if face_ids.numel() and (face_ids.min() < 0 or face_ids.max() >= self.num_faces):
            raise InputError(f"landmark embedding '{name}': face ids must be in [0, {self.num_faces}); got range "
                             f"[{int(face_ids.min())}, {int(face_ids.max())}]")
        if not torch.isfinite(bary).all():
            raise InputError(f"landmark embedding '{name}': bary has NaN/inf values")
        if num_points is None:
            num_points = LANDMARK_SETS.get(name, face_ids.shape[0] if indices is None else None)
        if indices is None and num_points != face_ids.shape[0]:
            raise InputError(f"landmark embedding '{name}': got {face_ids.shape[0]} points but the scheme has "
                             f"{num_points}; pass indices=(K,) for a partial embedding")
        if num_points is None:
            num_points = int(torch.as_tensor(indices).max()) + 1
        dev = self.device
        self.register_buffer(f"lmk_{name}_faces", face_ids.to(dev), persistent=False)
        self.register_buffer(f"lmk_{name}_bary", bary.to(device=dev, dtype=self._float_dtype()), persistent=False)
        if indices is not None:
            indices = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
            if indices.shape != face_ids.shape or indices.min() < 0 or indices.max() >= num_points:
                raise InputError(f"landmark embedding '{name}': indices must be ({face_ids.shape[0]},) in "
                                 f"[0, {num_points})")
            indices = indices.to(dev)
        self.register_buffer(f"lmk_{name}_index", indices, persistent=False)
        self._embeddings[name] = {"num_points": int(num_points)}

    def has_landmarks(self, name: str) -> bool:
        """Whether an embedding called ``name`` is registered."""
        return name in self._embeddings

    @property
    def landmark_names(self) -> list[str]:
        return list(self._embeddings)

    def landmark_embedding(self, name: str) -> tuple[Tensor, Tensor]:
        """The static (face_ids (K,), bary (K, 3)) of embedding ``name``."""
        if name not in self._embeddings:
            raise KeyError(f"{self.model_name}: no landmark embedding '{name}' (have {self.landmark_names})")
        return getattr(self, f"lmk_{name}_faces"), getattr(self, f"lmk_{name}_bary")

    def landmark_valid(self, name: str) -> Tensor:
        """(num_points,) bool: rows of the scheme that embedding ``name`` provides."""
        n = self._embeddings[name]["num_points"]
        idx = getattr(self, f"lmk_{name}_index")
        if idx is None:
            return torch.ones(n, dtype=torch.bool, device=self.device)
        m = torch.zeros(n, dtype=torch.bool, device=self.device)
        m[idx] = True
        return m

    def _embedding_for(self, name: str, B: int, ctx: dict) -> tuple[Tensor, Tensor]:
        """Hook: (face_ids, bary) used this forward pass (FLAME swaps in its dynamic contour)."""
        return self.landmark_embedding(name)

    def _landmarks(self, vertices: Tensor, ctx: dict) -> dict[str, Tensor]:
        B = vertices.shape[0]
        out = {}
        for name, info in self._embeddings.items():
            f, b = self._embedding_for(name, B, ctx)
            pts = landmarks_from_barycentric(vertices, self.faces, f, b.to(vertices.dtype))
            idx = getattr(self, f"lmk_{name}_index")
            if idx is not None:
                full = vertices.new_full((B, info["num_points"], 3), float("nan"))
                pts = full.index_copy(1, idx, pts)
            out[name] = pts
        return out

    # ------------------------------------------------------------------ input checks
    def _bad(self, msg: str) -> InputError:
        return InputError(f"{self.model_name} head model: {msg}")

    def _param(self, x, name: str, tail: tuple, B: int | None, max_last: int | None = None) -> Tensor | None:
        """Validate/convert one parameter to (B, *tail) in the model dtype/device (None passes through)."""
        if x is None:
            return None
        if not torch.is_tensor(x):
            try:
                x = torch.as_tensor(x, dtype=self.dtype, device=self.device)
            except Exception as e:
                raise self._bad(f"'{name}' must be a tensor of shape (B, {', '.join(map(str, tail))}); {e}")
        want = "(B, " + ", ".join("K" if (max_last and i == len(tail) - 1) else str(t)
                                   for i, t in enumerate(tail)) + ")"
        if max_last:
            want += f" with K <= {max_last}"
        if x.dim() == len(tail):
            x = x.unsqueeze(0)
        ok = x.dim() == len(tail) + 1
        if ok:
            for i, t in enumerate(tail):
                got = x.shape[1 + i]
                if max_last and i == len(tail) - 1:
                    ok &= got <= max_last
                else:
                    ok &= got == t
        if ok and B is not None and x.shape[0] not in (1, B):
            ok = False
            want += f" and B = {B} (or 1) like the other inputs"
        if not ok:
            raise self._bad(f"'{name}' must have shape {want}; got {tuple(x.shape)}")
        if not x.is_floating_point():
            x = x.to(self.dtype)
        if x.dtype != self.dtype or x.device != self.device:
            x = x.to(device=self.device, dtype=self.dtype)
        if B is not None and x.shape[0] != B:
            x = x.expand(B, *x.shape[1:])
        return x

    @staticmethod
    def _batch_of(**xs) -> int:
        """Batch size implied by the inputs (name -> (tensor, number of trailing dims))."""
        bs = {}
        for name, (x, ntail) in xs.items():
            if x is None:
                continue
            shp = tuple(x.shape) if hasattr(x, "shape") else tuple(torch.as_tensor(x).shape)
            if len(shp) == ntail + 1 and shp[0] != 1:
                bs[name] = shp[0]
        if len(set(bs.values())) > 1:
            raise InputError(f"head model: inputs disagree on the batch size B: {bs}")
        return next(iter(bs.values())) if bs else 1

    def _rotation(self, rotation, B: int) -> Tensor | None:
        if rotation is None:
            return None
        r = rotation if torch.is_tensor(rotation) else torch.as_tensor(rotation, dtype=self.dtype)
        if r.dim() == 3:
            return self._param(r, "rotation", (3, 3), B)
        r = self._param(r, "rotation", (3,), B)
        return axis_angle_to_matrix(r)

    # ------------------------------------------------------------------ forward
    def _deform(self, B: int, shape: Tensor | None, expression: Tensor | None, jaw: Tensor | None,
                neck: Tensor | None, eyes: Tensor | None, ctx: dict) -> tuple[Tensor, Tensor | None]:
        """Model-frame vertices as (B, 3, V) ("structure of arrays": x, y, z rows, metres; rigid transforms and
        skinning are much faster in this layout) and joints (B, J, 3) or None. ``ctx`` carries extras."""
        raise NotImplementedError

    def forward(self, shape=None, expression=None, rotation=None, translation=None, jaw=None, neck=None,
                eyes=None, batch_size: int | None = None) -> HeadOutput:
        """Pose the head.

        shape (B, S') with S' <= n_shape (first S' modes; None = mean shape); expression (B, E') with
        E' <= n_expression (None = neutral); rotation (B, 3) axis-angle or (B, 3, 3) matrix about the
        model origin (None = identity; a 2-D tensor is always read as (B, 3) axis-angles, matrices must be
        (B, 3, 3)); translation (B, 3) metres (None = 0); jaw (B, 3), neck (B, 3)
        axis-angle, eyes (B, 2, 3) axis-angle [left (+x), right] (None = rest). Any input with B = 1 (or
        no batch dim) broadcasts over the batch. Returns :class:`HeadOutput`.
        """
        rot_tail = 2 if (rotation is not None and len(getattr(rotation, "shape", ())) == 3) else 1
        B = batch_size or self._batch_of(shape=(shape, 1), expression=(expression, 1), rotation=(rotation, rot_tail),
                                         translation=(translation, 1), jaw=(jaw, 1), neck=(neck, 1), eyes=(eyes, 2))
        shape = self._param(shape, "shape", (self.n_shape,), B, max_last=self.n_shape)
        expression = self._param(expression, "expression", (self.n_expression,), B, max_last=self.n_expression)
        R = self._rotation(rotation, B)
        t = self._param(translation, "translation", (3,), B)
        jaw = self._param(jaw, "jaw", (3,), B)
        neck = self._param(neck, "neck", (3,), B)
        eyes = self._param(eyes, "eyes", (2, 3), B)
        ctx: dict = {"rotation": R}
        v_soa, joints = self._deform(B, shape, expression, jaw, neck, eyes, ctx)  # (B, 3, V)
        if R is not None and t is not None:
            out = torch.baddbmm(t[:, :, None], R, v_soa)
        elif R is not None:
            out = torch.bmm(R, v_soa)
        elif t is not None:
            out = v_soa + t[:, :, None]
        else:
            out = v_soa
        verts = out.transpose(1, 2).contiguous()
        if self.check_inputs and not bool(torch.isfinite(verts).all()):  # one sync; then find the culprit
            named = dict(shape=shape, expression=expression, rotation=R, translation=t, jaw=jaw, neck=neck, eyes=eyes)
            bad = [k for k, v in named.items() if v is not None and not bool(torch.isfinite(v).all())]
            raise self._bad(f"{', '.join(repr(k) for k in bad) or 'the inputs'} contain(s) NaN or inf values")
        if joints is not None:
            if R is not None:
                joints = torch.matmul(joints, R.transpose(1, 2))
            if t is not None:
                joints = joints + t[:, None]
        lm = self._landmarks(verts, ctx)
        eye = torch.eye(3, dtype=verts.dtype, device=verts.device).expand(B, 3, 3)
        return HeadOutput(vertices=verts, landmarks68=lm.get("ibug68"), landmarks468=lm.get("mediapipe"),
                          joints=joints, landmarks=lm, rotation=R if R is not None else eye,
                          translation=t if t is not None else verts.new_zeros(B, 3),
                          vertices_model=v_soa.transpose(1, 2))

    def neutral(self) -> HeadOutput:
        """The mean-shape, neutral-expression head at the origin (B = 1)."""
        return self.forward(batch_size=1)

    def extra_repr(self) -> str:
        return (f"{self.model_name}: V={self.num_vertices}, F={self.num_faces}, n_shape={self.n_shape}, "
                f"n_expression={self.n_expression}, landmarks={self.landmark_names}")
