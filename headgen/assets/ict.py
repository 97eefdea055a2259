"""Convert ICT-FaceKit's OBJ folder (the "ICT Face Model Light") into headgen's single npz.

Input is the upstream repository layout (github.com/ICT-VGL/ICT-FaceKit @ da5f95a)::

    FaceXModel/generic_neutral_mesh.obj          neutral mesh: v (cm), vt, usemtl groups, quad/tri polygons
    FaceXModel/identity000.obj .. identity099.obj 100 PCA identity morph targets (same topology)
    FaceXModel/<expression>.obj                   53 ARKit-style expression targets, names and order from
                                                  vertex_indices.json["expressions"]
    FaceXModel/PupilDilate_L.obj, PupilDilate_R.obj
    FaceXModel/vertex_indices.json                keys: expressions, idx_to_fitting_verts, idx_to_rigid_verts,
                                                  idx_to_lap_rigid_verts, idx_to_landmark_verts,
                                                  idx_to_rigid_landmark_idx
    sample_data/sample_identity_coeffs.json       keys: identity_coefficients, expression_coefficients

Output: the npz layout documented in ``../shared/assets/ict_facekit/SOURCE.md`` (same keys, dtypes, shapes and
key order); the tables that only exist in the kit's README.md (component / region / teeth vertex ranges, jawline
lists) are the constants below. With the full upstream data the result is checked array by array against
:data:`EXPECTED_DIGESTS` (sha256 of each array of the reference npz), an end-to-end check of download + conversion.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from headgen.errors import HeadgenError, InputError
from headgen.io import atomic
from headgen.io.mesh import fan_triangulate, read_obj_mesh, read_obj_positions  # noqa: F401  (public here too)

SOURCE = ("github.com/ICT-VGL/ICT-FaceKit@da5f95a (MIT, (c) 2020 USC ICT); units: cm; "
          "+Y up, +Z toward viewer")
FORMAT_VERSION = 1
NUM_VERTICES = 26719
NUM_POLYGONS = 26384
NUM_IDENTITIES = 100
EXTRA_SHAPE_NAMES = ("PupilDilate_L", "PupilDilate_R")
NEUTRAL_OBJ = "generic_neutral_mesh.obj"
VERTEX_INDICES_JSON = "vertex_indices.json"

# OBJ usemtl names, in the order the kit's generic_neutral_mesh.obj first uses them (= face_material_id).
MATERIAL_NAMES = (
    "M_Face", "M_BackHead", "M_GumsTongue", "M_Teeth", "M_ScleraLeft", "M_IrisLeft", "M_ScleraRight",
    "M_IrisRight", "M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion", "M_EyeLashes",
)

# ---- Tables from ICT-FaceKit README.md ("Face Model Topology", "Face Area Details", "Eyeball Details",
# ---- "Teeth Details", "Facial Landmarks"). README gives inclusive [first:last]; stored here as [start, stop).
COMPONENT_NAMES = (
    "face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right", "gums_and_tongue", "teeth",
    "eyeball_left", "eyeball_right", "lacrimal_fluid_left", "lacrimal_fluid_right", "eye_blend_left",
    "eye_blend_right", "eye_occlusion_left", "eye_occlusion_right", "eyelashes_left", "eyelashes_right",
)
COMPONENT_VERTEX_RANGES = (
    (0, 9409), (9409, 11248), (11248, 13294), (13294, 13678), (13678, 14062), (14062, 17039), (17039, 21451),
    (21451, 23021), (23021, 24591), (24591, 24795), (24795, 24999), (24999, 25023), (25023, 25047),
    (25047, 25199), (25199, 25351), (25351, 26035), (26035, 26719),
)
COMPONENT_POLYGON_RANGES = (
    (0, 9230), (9230, 11144), (11144, 13226), (13226, 13630), (13630, 14034), (14034, 17006), (17006, 21496),
    (21496, 23094), (23094, 24692), (24692, 24855), (24855, 25018), (25018, 25033), (25033, 25048),
    (25048, 25176), (25176, 25304), (25304, 25844), (25844, 26384),
)
REGION_NAMES = ("full_face_area", "narrow_face_area", "sclera_left", "iris_left", "sclera_right", "iris_right")
REGION_VERTEX_RANGES = ((0, 9409), (0, 6706), (21451, 22221), (22221, 23021), (23021, 23791), (23791, 24591))
TEETH_NAMES = (
    "3rd_molar_upper_left", "2nd_molar_upper_left", "1st_molar_upper_left", "2nd_bicuspid_upper_left",
    "1st_bicuspid_upper_left", "canine_upper_left", "lateral_incisor_upper_left", "central_incisor_upper_left",
    "central_incisor_upper_right", "lateral_incisor_upper_right", "canine_upper_right",
    "1st_bicuspid_upper_right", "2nd_bicuspid_upper_right", "1st_molar_upper_right", "2nd_molar_upper_right",
    "3rd_molar_upper_right", "3rd_molar_lower_left", "2nd_molar_lower_left", "1st_molar_lower_left",
    "2nd_bicuspid_lower_left", "1st_bicuspid_lower_left", "canine_lower_left", "lateral_incisor_lower_left",
    "central_incisor_lower_left", "central_incisor_lower_right", "lateral_incisor_lower_right",
    "canine_lower_right", "1st_bicuspid_lower_right", "2nd_bicuspid_lower_right", "1st_molar_lower_right",
    "2nd_molar_lower_right", "3rd_molar_lower_right",
)
TEETH_VERTEX_RANGES = (
    (17039, 17230), (17230, 17416), (17416, 17607), (17607, 17730), (17730, 17895), (17895, 17991),
    (17991, 18067), (18067, 18143), (18143, 18219), (18219, 18295), (18295, 18391), (18391, 18556),
    (18556, 18679), (18679, 18870), (18870, 19056), (19056, 19247), (19247, 19426), (19426, 19602),
    (19602, 19814), (19814, 19952), (19952, 20079), (20079, 20169), (20169, 20263), (20263, 20349),
    (20349, 20435), (20435, 20529), (20529, 20619), (20619, 20746), (20746, 20884), (20884, 21096),
    (21096, 21272), (21272, 21451),
)
# Multi-PIE 68 landmarks (README; identical to vertex_indices.json "idx_to_landmark_verts", used when absent).
LANDMARKS_MULTIPIE68 = (
    1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088, 3443, 268, 493,
    1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140, 2075, 1147, 4269, 3360, 1507,
    1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732, 5708, 5695, 2081, 0, 4275, 6200, 6213,
    6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216, 6207, 6470, 5517, 5966,
)
RIGID_LANDMARK_IDS = (0, 36, 39, 42, 45, 16, 28, 31, 35)
JAWLINE_RIGHT = (1278, 1272, 12, 1834, 243, 781, 2199, 1447)            # substitutes landmarks 0-7
JAWLINE_LEFT = (3661, 4390, 3022, 2484, 4036, 2253, 3490, 3496)          # substitutes landmarks 9-16
JAWLINE_RIGHT_EXTENDED = (1280, 1278, 1275, 1272, 1248, 12, 820, 1834, 1902, 243, 844, 781, 1673, 2199, 801,
                          1447, 800)
JAWLINE_LEFT_EXTENDED = (3041, 3661, 3042, 4390, 3880, 3022, 3085, 2484, 4102, 4036, 3061, 2253, 3466, 3490,
                         3493, 3496, 3498)

# npz keys in the reference order.
KEYS = (
    "format_version", "source", "neutral_vertices", "faces", "face_to_polygon", "face_component_id",
    "face_material_id", "material_names", "uvs", "faces_uv", "identity_names", "identity_deltas",
    "expression_names", "expression_deltas", "extra_shape_names", "extra_shape_deltas", "landmarks_multipie68",
    "rigid_landmark_ids", "jawline_right", "jawline_left", "jawline_right_extended", "jawline_left_extended",
    "fitting_vertex_ids", "rigid_vertex_ids", "lap_rigid_vertex_ids", "vertex_component_id", "component_names",
    "component_vertex_ranges", "component_polygon_ranges", "region_names", "region_vertex_ranges", "teeth_names",
    "teeth_vertex_ranges", "sample_identity_coefficients", "sample_expression_coefficients",
)

# sha256 of each array of the reference ict_facekit.npz (see array_digest), computed from
# ../shared/assets/ict_facekit/ict_facekit.npz (itself converted from ICT-FaceKit @ da5f95a).
EXPECTED_DIGESTS = {
    "format_version": "fd051447276a3046948c9259b84789c7648b72a60baadae3cb505709291b45f1",
    "source": "b0dc8248e85c2b643ee08b3bccba446c23dec8ac65fca2371324bdca47a5fcdd",
    "neutral_vertices": "97fa630b15c30418e21bcbbf7b807a5a61dcacac1de927e5e324e17439f86745",
    "faces": "ca6f4bb98bafeed70e152c2063bcfdc32295e15a439f37fe461fa5bab9a356f1",
    "face_to_polygon": "b7acc9512dd62d7430b48b40780f119c8204ff5689c2d88cb1c7c81eb9b1eb4c",
    "face_component_id": "d270eea921790e7706b1e2a6fe78614a93585e6ccf33024e408237204f732f14",
    "face_material_id": "7fbfd97f7c2710f487470f743d2bebb11fa5c40259e921c8ade124a4ba6e7593",
    "material_names": "1a3e0d3f6ae5acd690f274b6e81b5ff9a4ab033b5393b41bf7980ce5c659a0d0",
    "uvs": "49db5af3ca2d3dd3ad0e004554f449c1272f0c102fdaf9dbcc654d2d9d80f602",
    "faces_uv": "3b557f4c28611ec45ad974dc71daca4f23fff9fae2c36488bd948cfb759deab0",
    "identity_names": "b85360e538674150f7b97761506eedad5996839f7ea263a24754b6a73b457ee0",
    "identity_deltas": "083c486c0c15f2e8d59a7eaedceb4b736565176a431f0eb567be58287d8fc126",
    "expression_names": "1082b5addf248719ff4d2a8bd847362d87c0ebfa409c4c3057b9d59eff423817",
    "expression_deltas": "00d4a47a7e400af8602e3c650be5dc71b1a1e92678574ae36410ccb6e39d0916",
    "extra_shape_names": "2bb7389f000c60c988a2c57855d763ca35bf8e9039e340775dc64c049e9143dc",
    "extra_shape_deltas": "4856b856dc5807cf6e8ca6847af63f52805b2b38b5df3c92391e29d57c15ddf1",
    "landmarks_multipie68": "85fc68c4c8a2a33128b4cbe909a79a47054b19e52c59d62e9bfbcb56891917fd",
    "rigid_landmark_ids": "3e2a79da47bd26627512edd1dfb24bf9ab314a3d957c199b64104ab2a8bbfa5f",
    "jawline_right": "231bded10eb0fc71581ec5155d65b7500117209cf4aedbe9ad044f7c20030029",
    "jawline_left": "a6b1ebf8fa1ed726f232994f96ff0e1674e28ee0c651f948c185e2dc96a37b31",
    "jawline_right_extended": "4cb77830c51d27edbc1b4c98ad32d069347b857214057e6ff381f308a8ae14dd",
    "jawline_left_extended": "8c8921a01270937f59a035364e3f1e993c301c4567473e18a2b209838f634a39",
    "fitting_vertex_ids": "954a29e27bd41d51b71136492fdfbf4b2171abe4a18eab2ec2d18645cd233793",
    "rigid_vertex_ids": "e625b18ce1bd877e722965320a10e833e7f50cd91e06ae1ec5ee8be3ce1c9cb8",
    "lap_rigid_vertex_ids": "3301b1f7bb7eb1cf3ad9ed64dcf82eb1596eae5158b95c01e8ffcfa5adbc1245",
    "vertex_component_id": "33b2364050aa2b236f9a54bd4a50622bde9896bec5d13b6328768e6b289169dc",
    "component_names": "23bfbac988a7ac102af475bdede60c507a5c29460b248e1c3b56898127fc1e85",
    "component_vertex_ranges": "837fcaaa73be4f43f764ac212001fbee1f4a441d4b24cbd5be9c2f4f6616948c",
    "component_polygon_ranges": "28249be951cf2786b91ed6da852de49db6b5ea46879695e1939c02a23722b7ac",
    "region_names": "f62ac8e2a883b22710363595af60685609b17631603a0b071f1818eaf17c16a0",
    "region_vertex_ranges": "4bdd708f51160e4c419a95ab423d72445160321cf108c929e21253ed97ed6603",
    "teeth_names": "f37b8635360bcaf6aaec7e72f5a54f67b59e84e026f04e7e340bb73add2967ea",
    "teeth_vertex_ranges": "cac8de308a11e09dbf93956599455f8944b96ed65f25b94cd2c65542e4d48e67",
    "sample_identity_coefficients": "57f3e63870dce6665865b7c1c1a0419eb67b7abde582d41724ed21773e417b84",
    "sample_expression_coefficients": "e7d5935f3682467e0662b1ffe7d7f143543691ca0bb52abcc3f5b060218606a8",
}


def array_digest(a: np.ndarray) -> str:
    """sha256 hex of an array's dtype string, shape and C-order bytes (what :data:`EXPECTED_DIGESTS` holds)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def verify_ict_arrays(arrays, where: str = "ict_facekit.npz") -> None:
    """Check every array of ``arrays`` (mapping key -> array, e.g. an ``np.load`` result) against
    :data:`EXPECTED_DIGESTS`; raises HeadgenError naming the missing or differing keys."""
    missing = [k for k in EXPECTED_DIGESTS if k not in arrays]
    bad = [k for k in EXPECTED_DIGESTS if k in arrays and array_digest(arrays[k]) != EXPECTED_DIGESTS[k]]
    if missing or bad:
        raise HeadgenError(
            f"{where} does not match the reference ICT-FaceKit conversion (missing: {missing or 'none'}; "
            f"differing: {bad or 'none'}); the upstream files differ from commit da5f95a or were corrupted")


# ------------------------------------------------------------------------------------------------ conversion
def _names_array(names: Iterable[str]) -> np.ndarray:
    return np.array(list(names), dtype=str)


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (ICT-FaceKit folder incomplete)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read JSON ({e})") from None


def _index_list(cfg: dict, key: str, path: Path) -> np.ndarray:
    if key not in cfg:
        raise InputError(f"{path}: key '{key}' missing")
    a = np.asarray(cfg[key], dtype=np.int64)
    if a.ndim != 1 or (a.size and (a.min() < 0 or a.max() >= NUM_VERTICES)):
        raise InputError(f"{path}: '{key}' is not a list of vertex ids in [0, {NUM_VERTICES})")
    return a.astype(np.int32)


def _identity_names(obj_dir: Path, identities) -> list[str]:
    if identities is None or isinstance(identities, int):
        limit = NUM_IDENTITIES if identities is None else identities
        names = []
        while len(names) < limit and (obj_dir / f"identity{len(names):03d}.obj").exists():
            names.append(f"identity{len(names):03d}")
        if isinstance(identities, int) and len(names) < identities:
            raise InputError(f"{obj_dir / f'identity{len(names):03d}.obj'}: file not found "
                             f"({identities} identities requested)")
        if not names:
            raise InputError(f"{obj_dir / 'identity000.obj'}: file not found (no identity OBJs)")
        return names
    return [str(n) for n in identities]


def _deltas(obj_dir: Path, names: Sequence[str], neutral: np.ndarray, progress, what: str) -> np.ndarray:
    out = np.empty((len(names),) + neutral.shape, dtype=np.float32)
    for i, name in enumerate(names):
        path = obj_dir / f"{name}.obj"
        target = read_obj_positions(path)
        if target.shape != neutral.shape:
            raise InputError(f"{path}: {target.shape[0]} vertices, expected {neutral.shape[0]} "
                             f"(same topology as {NEUTRAL_OBJ})")
        out[i] = (target - neutral).astype(np.float32)   # difference in float64, stored float32
        if progress is not None:
            progress(f"{what} {i + 1}/{len(names)}")
    return out


def convert_ict_facekit(obj_dir: str | Path, out_npz: str | Path | None = None, *,
                        sample_coeffs_json: str | Path | None = None,
                        identities: int | Sequence[str] | None = None,
                        expressions: Sequence[str] | None = None,
                        extra_shapes: Sequence[str] = EXTRA_SHAPE_NAMES,
                        verify: bool | None = None,
                        progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Convert the ICT-FaceKit ``FaceXModel`` folder into the headgen npz layout.

    Args:
        obj_dir: the kit's ``FaceXModel`` folder (generic_neutral_mesh.obj, target OBJs, vertex_indices.json).
        out_npz: where to write the npz (written atomically: temp file + rename); None = don't write.
        sample_coeffs_json: sample_identity_coeffs.json (default ``obj_dir/../sample_data/...``).
        identities: None = all identityNNN.obj (up to 100, as the kit's loader: consecutive from 000);
            an int n = the first n; or a list of names.
        expressions: names of the expression OBJs (default: vertex_indices.json "expressions", all 53).
        extra_shapes: the non-expression shapes (default PupilDilate_L/R).
        verify: True = check every array against :data:`EXPECTED_DIGESTS` (raises HeadgenError on a difference);
            None = do so only when the full model (100 identities, 53 expressions, 2 extras) was converted.
        progress: optional callback receiving short status strings.

    Returns: dict key -> array (keys in :data:`KEYS` order); positions/deltas in cm (float32),
    ids int32, per-face component/material int8.
    """
    obj_dir = Path(obj_dir)
    neutral_path = obj_dir / NEUTRAL_OBJ
    cfg_path = obj_dir / VERTEX_INDICES_JSON
    cfg = _load_json(cfg_path)
    coeff_path = Path(sample_coeffs_json) if sample_coeffs_json else (
        obj_dir.parent / "sample_data" / "sample_identity_coeffs.json")
    coeffs = _load_json(coeff_path)

    id_names = _identity_names(obj_dir, identities)
    if expressions is None:
        ex_names = [str(n) for n in cfg.get("expressions", [])]
        if not ex_names:
            raise InputError(f"{cfg_path}: key 'expressions' missing or empty")
    else:
        ex_names = [str(n) for n in expressions]
    extra_names = [str(n) for n in extra_shapes]
    needed = [neutral_path] + [obj_dir / f"{n}.obj" for n in id_names + ex_names + extra_names]
    absent = [p for p in needed if not p.is_file()]
    if absent:     # fail before the (long) conversion, naming what is missing
        more = f" and {len(absent) - 1} more OBJ file(s)" if len(absent) > 1 else ""
        raise InputError(f"{absent[0]}: file not found{more} (ICT-FaceKit OBJ folder incomplete)")

    v, vt, polys, puvs, pmat = read_obj_mesh(neutral_path)
    if v.shape[0] != NUM_VERTICES or len(polys) != NUM_POLYGONS:
        raise InputError(f"{neutral_path}: {v.shape[0]} vertices / {len(polys)} polygons, expected "
                         f"{NUM_VERTICES} / {NUM_POLYGONS} (ICT Face Model Light topology)")
    if progress is not None:
        progress(f"read {NEUTRAL_OBJ}")
    faces, face_to_polygon = fan_triangulate(polys)
    faces_uv, _ = fan_triangulate(puvs)
    mat_ids = {name: i for i, name in enumerate(MATERIAL_NAMES)}
    unknown = sorted({m for m in pmat if m not in mat_ids}, key=str)
    if unknown:
        raise InputError(f"{neutral_path}: unexpected usemtl material(s) {unknown} (expected {list(MATERIAL_NAMES)})")
    poly_material = np.array([mat_ids[m] for m in pmat], dtype=np.int8)
    poly_component = np.searchsorted(np.array(COMPONENT_POLYGON_RANGES)[:, 1], np.arange(len(polys)), side="right")
    vertex_component = np.searchsorted(np.array(COMPONENT_VERTEX_RANGES)[:, 1], np.arange(NUM_VERTICES),
                                       side="right")

    id_deltas = _deltas(obj_dir, id_names, v, progress, "identity")
    ex_deltas = _deltas(obj_dir, ex_names, v, progress, "expression")
    extra_deltas = _deltas(obj_dir, extra_names, v, progress, "extra shape")

    if "idx_to_landmark_verts" in cfg:
        landmarks = _index_list(cfg, "idx_to_landmark_verts", cfg_path)
    else:
        landmarks = np.array(LANDMARKS_MULTIPIE68, dtype=np.int32)
    rigid_lm = np.asarray(cfg.get("idx_to_rigid_landmark_idx", RIGID_LANDMARK_IDS), dtype=np.int32)
    try:
        id_coeffs = np.asarray(coeffs["identity_coefficients"], dtype=np.float32)
        ex_coeffs = np.asarray(coeffs["expression_coefficients"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{coeff_path}: expected 'identity_coefficients' and 'expression_coefficients' lists "
                         f"({e})") from None

    i32 = np.int32
    out = {
        "format_version": np.array(FORMAT_VERSION, dtype=i32),
        "source": np.array(SOURCE),
        "neutral_vertices": v.astype(np.float32),
        "faces": faces.astype(i32),
        "face_to_polygon": face_to_polygon.astype(i32),
        "face_component_id": poly_component[face_to_polygon].astype(np.int8),
        "face_material_id": poly_material[face_to_polygon],
        "material_names": _names_array(MATERIAL_NAMES),
        "uvs": vt.astype(np.float32),
        "faces_uv": faces_uv.astype(i32),
        "identity_names": _names_array(id_names),
        "identity_deltas": id_deltas,
        "expression_names": _names_array(ex_names),
        "expression_deltas": ex_deltas,
        "extra_shape_names": _names_array(extra_names),
        "extra_shape_deltas": extra_deltas,
        "landmarks_multipie68": landmarks,
        "rigid_landmark_ids": rigid_lm,
        "jawline_right": np.array(JAWLINE_RIGHT, dtype=i32),
        "jawline_left": np.array(JAWLINE_LEFT, dtype=i32),
        "jawline_right_extended": np.array(JAWLINE_RIGHT_EXTENDED, dtype=i32),
        "jawline_left_extended": np.array(JAWLINE_LEFT_EXTENDED, dtype=i32),
        "fitting_vertex_ids": _index_list(cfg, "idx_to_fitting_verts", cfg_path),
        "rigid_vertex_ids": _index_list(cfg, "idx_to_rigid_verts", cfg_path),
        "lap_rigid_vertex_ids": _index_list(cfg, "idx_to_lap_rigid_verts", cfg_path),
        "vertex_component_id": vertex_component.astype(np.int8),
        "component_names": _names_array(COMPONENT_NAMES),
        "component_vertex_ranges": np.array(COMPONENT_VERTEX_RANGES, dtype=i32),
        "component_polygon_ranges": np.array(COMPONENT_POLYGON_RANGES, dtype=i32),
        "region_names": _names_array(REGION_NAMES),
        "region_vertex_ranges": np.array(REGION_VERTEX_RANGES, dtype=i32),
        "teeth_names": _names_array(TEETH_NAMES),
        "teeth_vertex_ranges": np.array(TEETH_VERTEX_RANGES, dtype=i32),
        "sample_identity_coefficients": id_coeffs,
        "sample_expression_coefficients": ex_coeffs,
    }
    assert tuple(out) == KEYS
    full = (len(id_names) == NUM_IDENTITIES and len(ex_names) == 53 and tuple(extra_names) == EXTRA_SHAPE_NAMES)
    if verify or (verify is None and full):
        verify_ict_arrays(out, where=f"conversion of {obj_dir}")
    if out_npz is not None:
        write_npz_atomic(out_npz, out)
    return out


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """np.savez_compressed to a temp file beside ``path``, then rename over it. Returns ``path``."""
    return atomic.write_npz_atomic(path, arrays, compressed=True)
