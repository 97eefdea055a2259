"""The avatar folder: ``avatar.ply`` (standard 3D Gaussian splatting layout) + ``avatar_rig.npz`` (the rig).

``avatar.ply`` -- binary little-endian PLY, one ``vertex`` element per Gaussian with the float properties
``x y z nx ny nz f_dc_0..2 f_rest_0..44 opacity scale_0..2 rot_0..3`` (the Inria / gsplat files): positions in
metres in the head model's frame at the neutral pose (+x subject-left, +y up, +z out of the face), normals 0,
SH coefficients padded to degree 3 (``f_rest`` channel-major: 15 red, 15 green, 15 blue), logit opacities,
log standard deviations, rotation quaternions wxyz. Common splat viewers open it.

``avatar_rig.npz`` (numpy arrays, no pickles)::

    format_version      int ()           1
    model               str ()           head model: "ict" | "flame"
    model_parts         str (P,)         the model's part list (ICT component names; FLAME: "full")
    faces               int32 (F,3)      triangles of that mesh (vertex ids)
    neutral_vertices    float32 (V,3)    the fitted identity at neutral expression, model frame, metres
    shape               float32 (S,)     identity coefficients used for ``neutral_vertices``
    binding             int32 (N,)       triangle id of every Gaussian
    local_offsets       float32 (N,3)    mean in the triangle's frame, in units of the triangle size
    local_rotations     float32 (N,4)    rotation wxyz relative to the triangle's frame
    local_log_scales    float32 (N,3)    log std-devs in units of the triangle size
    sh                  float32 (N,K,3)  SH coefficients (K = (degree+1)^2; colour = SH + 0.5, as gsplat)
    opacity_logits      float32 (N,)     logit opacities
    training_params     str ()           JSON of how it was made (stage parameters, clip, seconds ...)
    written by the avatar stage, kept by the reader (``read_rig(path)["background"]`` ...):
    background          uint8 (H,W,3)    the static background the avatar was trained over (photo: inpainted)
    refined_expression  float32 (T,E)    per-frame refinements added to the fit's expression,
    refined_rotation    float32 (T,3)    axis-angle applied after the fit's rotation,
    refined_translation float32 (T,3)    added to the fit's translation (zeros in one-shot mode)

The triangle frame (``headgen.avatar.binding.triangle_frames``): origin at the centroid, x along edge
v0->v1, z the face normal, y = z x x; size = mean of |v1 - v0| and the triangle's height over that edge.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from headgen.artifacts import require_finite
from headgen.errors import InputError
from headgen.io.atomic import atomic_path, write_npz_atomic

PLY_NAME = "avatar.ply"
RIG_NAME = "avatar_rig.npz"
FORMAT_VERSION = 1
SH_C0 = 0.28209479177387814
#: float properties of one Gaussian in the standard 3DGS PLY, in file order.
PLY_FIELDS = (["x", "y", "z", "nx", "ny", "nz"] + [f"f_dc_{i}" for i in range(3)] + [f"f_rest_{i}" for i in range(45)]
              + ["opacity"] + [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)])
RIG_KEYS = {  # key -> trailing shape (None = any)
    "model": (), "model_parts": (None,), "faces": (None, 3), "neutral_vertices": (None, 3), "shape": (None,),
    "binding": (None,), "local_offsets": (None, 3), "local_rotations": (None, 4), "local_log_scales": (None, 3),
    "sh": (None, None, 3), "opacity_logits": (None,),
}


@dataclass
class AvatarFiles:
    """Contents of an avatar folder as numpy arrays: ``rig`` (every key of ``avatar_rig.npz``, strings as
    str, ``training_params`` parsed to a dict) and ``ply`` (``means`` (N,3), ``sh`` (N,16,3),
    ``opacity_logits`` (N,), ``log_scales`` (N,3), ``quats`` (N,4) from ``avatar.ply``; None if absent)."""
    rig: dict
    ply: dict | None = None
    extra: dict = field(default_factory=dict)


def write_ply(path: str | Path, means, sh, opacity_logits, log_scales, quats) -> Path:
    """Write Gaussians as a standard 3DGS PLY atomically -> path.

    means (N,3); sh (N,K,3) with K in {1,4,9,16} (padded with zeros to 16); opacity_logits (N,);
    log_scales (N,3) log std-devs; quats (N,4) wxyz (normalised here).
    """
    means = np.asarray(means, np.float32).reshape(-1, 3)
    N = means.shape[0]
    sh = np.asarray(sh, np.float32).reshape(N, -1, 3)
    if sh.shape[1] > 16:
        raise InputError(f"write_ply: at most 16 SH coefficients (degree 3), got {sh.shape[1]}")
    shp = np.zeros((N, 16, 3), np.float32)
    shp[:, : sh.shape[1]] = sh
    q = np.asarray(quats, np.float32).reshape(N, 4)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    rest = shp[:, 1:].transpose(0, 2, 1).reshape(N, 45)   # channel-major, as the Inria writer
    data = np.concatenate([means, np.zeros((N, 3), np.float32), shp[:, 0], rest,
                           np.asarray(opacity_logits, np.float32).reshape(N, 1),
                           np.asarray(log_scales, np.float32).reshape(N, 3), q], 1).astype("<f4")
    assert data.shape[1] == len(PLY_FIELDS)
    header = "ply\nformat binary_little_endian 1.0\n" f"element vertex {N}\n"
    header += "".join(f"property float {n}\n" for n in PLY_FIELDS) + "end_header\n"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header.encode("ascii"))
            f.write(np.ascontiguousarray(data).tobytes())
    return Path(path)


def read_ply(path: str | Path) -> dict:
    """Read a 3DGS PLY (binary little endian, float properties; any property order, missing f_rest = 0)
    -> dict(means (N,3), sh (N,16,3), opacity_logits (N,), log_scales (N,3), quats (N,4)) float32."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply") or end < 0:
        raise InputError(f"{path}: not a PLY file")
    lines = raw[:end].decode("ascii", "replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise InputError(f"{path}: only binary little-endian PLY is supported")
    n, props, in_vertex = None, [], False
    for ln in lines:
        p = ln.split()
        if p[:2] == ["element", "vertex"]:
            n, in_vertex = int(p[2]), True
        elif p and p[0] == "element":
            in_vertex = False
        elif in_vertex and p[:1] == ["property"]:
            if p[1] not in ("float", "float32"):
                raise InputError(f"{path}: property {p[-1]} is {p[1]}, expected float")
            props.append(p[-1])
    need = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3"]
    if n is None or any(k not in props for k in need):
        raise InputError(f"{path}: not a 3D Gaussian splatting PLY (needs {', '.join(need)})")
    body = raw[end + len(b"end_header\n"):]
    if len(body) < 4 * n * len(props):
        raise InputError(f"{path}: truncated ({len(body)} bytes for {n} Gaussians)")
    a = np.frombuffer(body, "<f4", count=n * len(props)).reshape(n, len(props))
    col = {k: a[:, i] for i, k in enumerate(props)}
    sh = np.zeros((n, 16, 3), np.float32)
    sh[:, 0] = np.stack([col[f"f_dc_{i}"] for i in range(3)], 1)
    for c in range(3):
        for j in range(15):
            k = f"f_rest_{c * 15 + j}"
            if k in col:
                sh[:, 1 + j, c] = col[k]
    g = lambda ks: np.stack([col[k] for k in ks], 1).astype(np.float32)
    return dict(means=g(["x", "y", "z"]), sh=sh, opacity_logits=col["opacity"].astype(np.float32).copy(),
                log_scales=g([f"scale_{i}" for i in range(3)]), quats=g([f"rot_{i}" for i in range(4)]))


def write_rig(path: str | Path, rig: dict) -> Path:
    """Write ``avatar_rig.npz`` atomically (keys in the module docstring; ``training_params`` may be a
    dict, stored as JSON) -> path. Raises InputError for a missing key or a wrong shape."""
    arrays = {}
    for k, tail in RIG_KEYS.items():
        if k not in rig:
            raise InputError(f"write_rig: missing {k!r}")
        v = np.asarray(rig[k])
        if v.ndim != len(tail) or any(t is not None and s != t for s, t in zip(v.shape, tail)):
            raise InputError(f"write_rig: {k} has shape {v.shape}, expected {tail}")
        arrays[k] = v
    arrays["model"] = np.array(str(rig["model"]))
    arrays["model_parts"] = np.array([str(p) for p in rig["model_parts"]])
    arrays["faces"] = arrays["faces"].astype(np.int32)
    arrays["binding"] = arrays["binding"].astype(np.int32)
    for k in ("neutral_vertices", "shape", "local_offsets", "local_rotations", "local_log_scales", "sh",
              "opacity_logits"):
        arrays[k] = arrays[k].astype(np.float32)
    tp = rig.get("training_params", {})
    arrays["training_params"] = np.array(tp if isinstance(tp, str) else json.dumps(tp, default=str))
    arrays["format_version"] = np.array(FORMAT_VERSION, np.int32)
    for k, v in rig.items():   # extra numeric arrays (e.g. refined per-frame parameters) are kept
        if k not in arrays and isinstance(v, np.ndarray) and v.dtype != object:
            arrays[k] = v
    _check_rig(arrays, str(path))
    return write_npz_atomic(path, arrays, compressed=True)


def _check_rig(r: dict, where: str) -> None:
    N = r["binding"].shape[0]
    for k in ("local_offsets", "local_rotations", "local_log_scales", "sh", "opacity_logits"):
        if r[k].shape[0] != N:
            raise InputError(f"{where}: {k} has {r[k].shape[0]} rows for {N} Gaussians")
    F = r["faces"].shape[0]
    if N and (int(r["binding"].min()) < 0 or int(r["binding"].max()) >= F):
        raise InputError(f"{where}: binding refers to triangles outside 0..{F - 1}")
    if F and int(np.asarray(r["faces"]).max()) >= r["neutral_vertices"].shape[0]:
        raise InputError(f"{where}: faces refer to vertices outside neutral_vertices")


def read_rig(path: str | Path) -> dict:
    """Read ``avatar_rig.npz`` -> dict of numpy arrays (``model`` str, ``model_parts`` list[str],
    ``training_params`` dict). Raises InputError naming the file for anything unreadable or malformed."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            r = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such avatar rig") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable avatar_rig.npz ({str(e).splitlines()[0] if str(e) else e})") from None
    missing = [k for k in RIG_KEYS if k not in r]
    if missing:
        raise InputError(f"{path}: not an avatar rig (missing {', '.join(missing)})")
    _check_rig(r, str(path))
    require_finite(r, ("neutral_vertices", "shape", "local_offsets", "local_rotations", "local_log_scales", "sh",
                       "opacity_logits"), str(path))
    r["model"] = str(r["model"])
    r["model_parts"] = [str(p) for p in r["model_parts"]]
    try:
        r["training_params"] = json.loads(str(r.get("training_params", "{}")))
    except json.JSONDecodeError:
        r["training_params"] = {}
    return r


def write_avatar(out_dir: str | Path, rig: dict, ply: dict) -> tuple[Path, Path]:
    """Write ``out_dir/avatar_rig.npz`` and ``out_dir/avatar.ply`` (each atomically) -> their paths.
    ``ply``: dict(means, sh, opacity_logits, log_scales, quats) as :func:`write_ply`."""
    out_dir = Path(out_dir)
    r = write_rig(out_dir / RIG_NAME, rig)
    p = write_ply(out_dir / PLY_NAME, ply["means"], ply["sh"], ply["opacity_logits"], ply["log_scales"], ply["quats"])
    return p, r


def read_avatar(path: str | Path, with_ply: bool = True) -> AvatarFiles:
    """Read an avatar folder (or the path of its ``avatar_rig.npz``) -> :class:`AvatarFiles`."""
    path = Path(path)
    d = path.parent if path.suffix == ".npz" else path
    if not d.is_dir():
        raise InputError(f"{d}: no such avatar folder")
    rig = read_rig(d / RIG_NAME)
    ply = read_ply(d / PLY_NAME) if with_ply and (d / PLY_NAME).exists() else None
    if ply is not None and ply["means"].shape[0] != rig["binding"].shape[0]:
        raise InputError(f"{d}: avatar.ply has {ply['means'].shape[0]} Gaussians, the rig {rig['binding'].shape[0]}")
    return AvatarFiles(rig=rig, ply=ply)
