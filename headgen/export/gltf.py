"""glTF 2.0 binary (.glb) of a morph-target head with an animation, through ``pygltflib``.

Layout written by :func:`write_morph_glb` (what Blender's, three.js's and Unity's glTF importers read):

* one mesh, one triangle primitive: ``POSITION`` (float32, metres), ``TEXCOORD_0`` (glTF's top-left UV
  origin, i.e. v flipped) when the rig has UVs (vertices are split along UV seams, see
  :func:`headgen.models.export.split_uv_seams`), uint32 ``indices``, one ``POSITION`` morph target per rig
  target; ``mesh.weights`` all 0 and ``mesh.extras.targetNames`` the target names (the convention those
  importers use to name shape keys / morph targets);
* node 0 "head" holds the mesh; with an animation it gets channels ``weights`` (K values per key),
  ``rotation`` (unit quaternions xyzw, sign-continuous) and optionally ``translation``, all LINEAR, one
  shared time input (seconds);
* optional node "camera" with a perspective camera (for a fit: the video camera at the origin, glTF's
  camera looks down -z with +y up, which is the display frame of :mod:`headgen.export.sources`).

:func:`read_morph_glb` loads such a file back (for tests and the viewer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.io.atomic import atomic_path

__all__ = ["write_morph_glb", "read_morph_glb", "matrix_to_quat_xyzw"]


def matrix_to_quat_xyzw(R) -> np.ndarray:
    """Rotation matrices (T, 3, 3) -> unit quaternions (T, 4) xyzw (glTF order), sign-continuous over T."""
    import torch
    from headgen.geometry.rotations import matrix_to_quaternion
    q = matrix_to_quaternion(torch.as_tensor(np.asarray(R, np.float64))).numpy()   # wxyz, w >= 0
    q = q[:, [1, 2, 3, 0]]
    for t in range(1, len(q)):       # shortest path between keys for slerp
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return q.astype(np.float32)


class _Blob:
    """Accumulates the binary buffer, its buffer views and accessors."""

    def __init__(self, gltf):
        self.gltf = gltf
        self.data = bytearray()

    def add(self, array: np.ndarray, component: int, kind: str, target: int | None = None,
            minmax: bool = False) -> int:
        import pygltflib as g
        array = np.ascontiguousarray(array)
        while len(self.data) % 4:
            self.data.append(0)
        offset = len(self.data)
        self.data.extend(array.tobytes())
        self.gltf.bufferViews.append(g.BufferView(buffer=0, byteOffset=offset, byteLength=array.nbytes,
                                                  target=target))
        count = array.shape[0]
        acc = g.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=component, count=int(count),
                         type=kind)
        if minmax:
            flat = array.reshape(count, -1)
            acc.min = [float(x) for x in flat.min(0)]
            acc.max = [float(x) for x in flat.max(0)]
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def write_morph_glb(path, rig, weights=None, times=None, rotation=None, translation=None,
                    camera: dict | None = None, name: str = "head") -> Path:
    """Write ``rig`` (:class:`headgen.export.morph.MorphRig`) as a .glb, atomically -> path.

    weights (T, K) morph weights per frame (None: no animation); times (T,) seconds (increasing);
    rotation (T, 3, 3) head node rotation (model frame -> display frame, +y up); translation (T, 3) metres
    or None; camera: {"yfov": rad, "aspect": w/h, "znear": m} adds a camera node at the origin.
    Raises InputError on inconsistent shapes.
    """
    import pygltflib as g
    from headgen.models.export import split_uv_seams

    path = Path(path)
    K = rig.n_targets
    base, targets, faces = rig.base, rig.targets, rig.faces
    uv = None
    if rig.uvs is not None and rig.faces_uv is not None:
        base, faces, uv, src = split_uv_seams(rig.base, rig.faces, rig.uvs, rig.faces_uv)
        targets = rig.targets[:, src]
    gltf = g.GLTF2(asset=g.Asset(generator="headgen", version="2.0"))
    blob = _Blob(gltf)
    attrs = g.Attributes(POSITION=blob.add(base.astype(np.float32), g.FLOAT, g.VEC3, g.ARRAY_BUFFER, True))
    if uv is not None:
        uvf = uv.astype(np.float32).copy()
        uvf[:, 1] = 1.0 - uvf[:, 1]
        attrs.TEXCOORD_0 = blob.add(uvf, g.FLOAT, g.VEC2, g.ARRAY_BUFFER)
    idx = blob.add(faces.astype(np.uint32).reshape(-1), g.UNSIGNED_INT, g.SCALAR, g.ELEMENT_ARRAY_BUFFER)
    morphs = [g.Attributes(POSITION=blob.add(t.astype(np.float32), g.FLOAT, g.VEC3, g.ARRAY_BUFFER, True))
              for t in targets]
    gltf.materials.append(g.Material(name="skin", doubleSided=False, pbrMetallicRoughness=g.PbrMetallicRoughness(
        baseColorFactor=[0.8, 0.62, 0.52, 1.0], metallicFactor=0.0, roughnessFactor=0.7)))
    prim = g.Primitive(attributes=attrs, indices=idx, material=0, mode=g.TRIANGLES, targets=morphs)
    gltf.meshes.append(g.Mesh(name=name, primitives=[prim], weights=[0.0] * K,
                              extras={"targetNames": list(rig.names)}))
    gltf.nodes.append(g.Node(name=name, mesh=0))
    scene_nodes = [0]
    if camera is not None:
        gltf.cameras.append(g.Camera(type="perspective", perspective=g.Perspective(
            yfov=float(camera["yfov"]), aspectRatio=float(camera["aspect"]), znear=float(camera.get("znear", 0.01)))))
        gltf.nodes.append(g.Node(name="camera", camera=0))
        scene_nodes.append(1)
    gltf.scenes.append(g.Scene(nodes=scene_nodes))
    gltf.scene = 0

    if weights is not None:
        w = np.asarray(weights, np.float32)
        T = w.shape[0]
        t = np.asarray(times if times is not None else np.arange(T) / 30.0, np.float32)
        if w.shape != (T, K) or t.shape != (T,) or (T > 1 and not (np.diff(t) > 0).all()):
            raise InputError(f"{path}: animation needs weights (T, {K}) and increasing times (T,); got "
                             f"{w.shape}, {t.shape}")
        t_acc = blob.add(t, g.FLOAT, g.SCALAR, minmax=True)
        samplers, channels = [], []

        def channel(out_acc: int, prop: str) -> None:
            samplers.append(g.AnimationSampler(input=t_acc, output=out_acc, interpolation="LINEAR"))
            channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(
                node=0, path=prop)))

        channel(blob.add(w.reshape(-1), g.FLOAT, g.SCALAR), "weights")
        if rotation is not None:
            R = np.asarray(rotation)
            if R.shape != (T, 3, 3):
                raise InputError(f"{path}: rotation must be ({T}, 3, 3), got {R.shape}")
            channel(blob.add(matrix_to_quat_xyzw(R), g.FLOAT, g.VEC4), "rotation")
        if translation is not None:
            tr = np.asarray(translation, np.float32)
            if tr.shape != (T, 3):
                raise InputError(f"{path}: translation must be ({T}, 3), got {tr.shape}")
            channel(blob.add(tr, g.FLOAT, g.VEC3), "translation")
        gltf.animations.append(g.Animation(name="animation", samplers=samplers, channels=channels))

    gltf.buffers.append(g.Buffer(byteLength=len(blob.data)))
    gltf.set_binary_blob(bytes(blob.data))
    with atomic_path(path) as tmp:
        gltf.save_binary(str(tmp))
    return path


def _accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    import pygltflib as g
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {g.FLOAT: np.float32, g.UNSIGNED_INT: np.uint32, g.UNSIGNED_SHORT: np.uint16,
             g.UNSIGNED_BYTE: np.uint8}[acc.componentType]
    n = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    a = np.frombuffer(blob, dtype=dtype, count=acc.count * n, offset=start)
    return a.reshape(acc.count, n) if n > 1 else a


def read_morph_glb(path) -> dict:
    """Load a .glb written by :func:`write_morph_glb` -> dict: base (V, 3), targets (K, V, 3), names (K,),
    faces (F, 3), uvs (V, 2) or None, and when animated times (T,), weights (T, K), rotation (T, 4) xyzw,
    translation (T, 3) or None; camera dict or None. Raises InputError when the file is not such a glb."""
    import pygltflib as g
    path = Path(path)
    try:
        gltf = g.GLTF2().load_binary(str(path))
        blob = gltf.binary_blob()
        prim = gltf.meshes[0].primitives[0]
    except Exception as e:  # noqa: BLE001 - pygltflib raises assorted errors on bad files
        raise InputError(f"{path}: not a readable glTF binary ({type(e).__name__}: {e})") from None
    out = {"base": _accessor(gltf, blob, prim.attributes.POSITION),
           "faces": _accessor(gltf, blob, prim.indices).reshape(-1, 3),
           "uvs": None if prim.attributes.TEXCOORD_0 is None else _accessor(gltf, blob, prim.attributes.TEXCOORD_0),
           "targets": np.stack([_accessor(gltf, blob, t["POSITION"] if isinstance(t, dict) else t.POSITION)
                                for t in prim.targets]) if prim.targets else
           np.zeros((0,) + (_accessor(gltf, blob, prim.attributes.POSITION).shape)),
           "names": list((gltf.meshes[0].extras or {}).get("targetNames", [])),
           "camera": None, "times": None, "weights": None, "rotation": None, "translation": None}
    if gltf.cameras:
        p = gltf.cameras[0].perspective
        out["camera"] = {"yfov": p.yfov, "aspect": p.aspectRatio, "znear": p.znear}
    if gltf.animations:
        anim = gltf.animations[0]
        for ch in anim.channels:
            s = anim.samplers[ch.sampler]
            out["times"] = _accessor(gltf, blob, s.input)
            vals = _accessor(gltf, blob, s.output)
            if ch.target.path == "weights":
                vals = vals.reshape(len(out["times"]), -1)
            out[ch.target.path] = vals
    return out
