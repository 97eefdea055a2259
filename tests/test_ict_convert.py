"""ICT-FaceKit OBJ folder -> npz converter: round trip through OBJs written (to tmp_path) from the reference npz."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from headgen import assets
from headgen.assets import ict as ic
from headgen.errors import HeadgenError, InputError


@pytest.fixture(scope="module")
def ref():
    """The reference npz (through the resolver); skipped where the asset is not available."""
    try:
        path = assets.ict_facekit_npz()
    except assets.AssetMissingError as e:
        pytest.skip(str(e))
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


_TOPOLOGY_CACHE: dict[int, str] = {}


def _topology_text(ref) -> str:
    """vt lines + usemtl/f lines reproducing the kit's polygons from the triangulated reference (cached)."""
    key = id(ref["faces"])
    if key not in _TOPOLOGY_CACHE:
        _TOPOLOGY_CACHE.clear()
        _TOPOLOGY_CACHE[key] = _make_topology_text(ref)
    return _TOPOLOGY_CACHE[key]


def _make_topology_text(ref) -> str:
    uv = ref["uvs"].astype(np.float64)
    vt = ("vt %.17g %.17g\n" * len(uv)) % tuple(uv.ravel())
    f2p, faces, fuv, mat = ref["face_to_polygon"], ref["faces"] + 1, ref["faces_uv"] + 1, ref["face_material_id"]
    names = ref["material_names"]
    starts = np.searchsorted(f2p, np.arange(f2p.max() + 1))
    counts = np.diff(np.append(starts, len(f2p)))
    lines, current = [], None
    for s, c in zip(starts.tolist(), counts.tolist()):
        if mat[s] != current:
            current = mat[s]
            lines.append(f"usemtl {names[current]}")
        v = faces[s].tolist() + ([faces[s + 1, 2]] if c == 2 else [])
        t = fuv[s].tolist() + ([fuv[s + 1, 2]] if c == 2 else [])
        assert c in (1, 2)
        lines.append("f " + " ".join(f"{a}/{b}" for a, b in zip(v, t)))
    return vt + "\n".join(lines) + "\n"


def _write_obj(path: Path, verts64: np.ndarray, topology: str) -> None:
    # %.17g round-trips float64 exactly, so parsing gives back exactly these values.
    head = "# written by headgen tests from the reference npz (ICT-FaceKit, MIT)\nmtllib ICTFaceModelMaterial.mtl\n"
    path.write_text(head + ("v %.17g %.17g %.17g\n" * len(verts64)) % tuple(verts64.ravel()) + topology)


def _target(n64: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Target positions whose parsed difference to the neutral is exactly ``delta``, signed zeros included
    (upstream writes '-0.000...' for some midline coordinates, giving -0.0 deltas in the reference)."""
    t = n64 + delta.astype(np.float64)
    return np.where((delta == 0) & np.signbit(delta) & (n64 == 0), -0.0, t)


def write_kit(ref, root: Path, identities: list[int], expressions: list[int], extras=(0, 1)) -> Path:
    """Write an ICT-FaceKit-like tree (FaceXModel/ + sample_data/) for the chosen shapes; returns FaceXModel."""
    obj_dir = root / "FaceXModel"
    obj_dir.mkdir(parents=True)
    (root / "sample_data").mkdir()
    topo = _topology_text(ref)
    n64 = ref["neutral_vertices"].astype(np.float64)
    _write_obj(obj_dir / "generic_neutral_mesh.obj", n64, topo)
    for i in identities:
        _write_obj(obj_dir / f"{ref['identity_names'][i]}.obj", _target(n64, ref["identity_deltas"][i]), topo)
    for i in expressions:
        _write_obj(obj_dir / f"{ref['expression_names'][i]}.obj", _target(n64, ref["expression_deltas"][i]), topo)
    for i in extras:
        _write_obj(obj_dir / f"{ref['extra_shape_names'][i]}.obj", _target(n64, ref["extra_shape_deltas"][i]), topo)
    cfg = {
        "expressions": ref["expression_names"].tolist(),
        "fitting_expressions": ref["expression_names"].tolist(),
        "incompatibilities": [],
        "idx_to_fitting_verts": ref["fitting_vertex_ids"].tolist(),
        "idx_to_rigid_verts": ref["rigid_vertex_ids"].tolist(),
        "idx_to_lap_rigid_verts": ref["lap_rigid_vertex_ids"].tolist(),
        "idx_to_landmark_verts": ref["landmarks_multipie68"].tolist(),
        "idx_to_rigid_landmark_idx": ref["rigid_landmark_ids"].tolist(),
    }
    (obj_dir / "vertex_indices.json").write_text(json.dumps(cfg, indent=4))
    coeffs = {"expression_coefficients": ref["sample_expression_coefficients"].astype(float).tolist(),
              "identity_coefficients": ref["sample_identity_coefficients"].astype(float).tolist()}
    (root / "sample_data" / "sample_identity_coeffs.json").write_text(json.dumps(coeffs, indent=4))
    return obj_dir


ID_SEL = [0, 7, 99]
EX_SEL = [0, 26, 52]     # browDown_L, jawOpen, noseSneer_R


def test_round_trip_subset_matches_reference(ref, tmp_path):
    obj_dir = write_kit(ref, tmp_path / "kit", ID_SEL, EX_SEL)
    ex_names = [str(ref["expression_names"][i]) for i in EX_SEL]
    id_names = [str(ref["identity_names"][i]) for i in ID_SEL]
    out_npz = tmp_path / "out" / "ict_facekit.npz"
    t0 = time.perf_counter()
    got = ic.convert_ict_facekit(obj_dir, out_npz, identities=id_names, expressions=ex_names)
    assert time.perf_counter() - t0 < 30
    with np.load(out_npz, allow_pickle=False) as z:
        assert list(z.files) == list(ic.KEYS) == list(ref)
        written = {k: z[k] for k in z.files}
    sliced = {"identity_names": ID_SEL, "identity_deltas": ID_SEL,
              "expression_names": EX_SEL, "expression_deltas": EX_SEL}
    for k in ic.KEYS:
        want = ref[k][sliced[k]] if k in sliced else ref[k]
        for arr in (got[k], written[k]):
            assert arr.dtype.kind == want.dtype.kind and arr.shape == want.shape, k
            if arr.dtype.kind == "U":
                assert arr.tolist() == want.tolist(), k
            else:
                assert arr.dtype == want.dtype, k
                # bit-exact, signed zeros included
                assert arr.tobytes() == np.ascontiguousarray(want).tobytes(), k
        if k not in sliced:   # arrays independent of the subset also match the reference digests
            assert ic.array_digest(got[k]) == ic.EXPECTED_DIGESTS[k], k


def test_topology_tables_consistent_with_reference(ref):
    # README constants in the converter == reference arrays (component of every face/vertex follows the ranges).
    assert np.array_equal(np.array(ic.COMPONENT_VERTEX_RANGES), ref["component_vertex_ranges"])
    assert np.array_equal(np.array(ic.TEETH_VERTEX_RANGES), ref["teeth_vertex_ranges"])
    assert tuple(ref["material_names"]) == ic.MATERIAL_NAMES
    assert ref["faces"].shape == (52220, 3) and ref["face_to_polygon"].max() + 1 == ic.NUM_POLYGONS


def test_verify_reference_digests_and_detects_change(ref):
    ic.verify_ict_arrays(ref)            # the constants describe the reference exactly
    bad = dict(ref)
    bad["faces"] = ref["faces"].copy()
    bad["faces"][0, 0] += 1
    del bad["uvs"]
    with pytest.raises(HeadgenError, match=r"missing: \['uvs'\].*differing: \['faces'\]"):
        ic.verify_ict_arrays(bad)


def test_verify_on_subset_raises(ref, tmp_path):
    obj_dir = write_kit(ref, tmp_path / "kit", [0], [], extras=())
    with pytest.raises(HeadgenError, match="identity_deltas"):
        ic.convert_ict_facekit(obj_dir, None, identities=1, expressions=[], extra_shapes=(), verify=True)


def test_missing_and_bad_files_name_the_file(ref, tmp_path):
    obj_dir = write_kit(ref, tmp_path / "kit", [0], [], extras=())
    with pytest.raises(InputError, match="identity001.obj"):
        ic.convert_ict_facekit(obj_dir, None, identities=2, expressions=[], extra_shapes=())
    with pytest.raises(InputError, match="browDown_L.obj: file not found"):
        ic.convert_ict_facekit(obj_dir, None, identities=1, expressions=["browDown_L"], extra_shapes=())
    (obj_dir / "identity000.obj").write_text("v 0 0 0\n")
    with pytest.raises(InputError, match="identity000.obj: 1 vertices"):
        ic.convert_ict_facekit(obj_dir, None, identities=1, expressions=[], extra_shapes=())


def test_obj_parsing_small(tmp_path):
    p = tmp_path / "quad.obj"
    p.write_text("mtllib x.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
                 "usemtl A\nf 1/1 2/2 3/3 4/4\nusemtl B\nf -4/-4 -2/-2 -1/-1\n")
    v, vt, polys, puvs, mats = ic.read_obj_mesh(p)
    assert v.shape == (4, 3) and vt.shape == (4, 2)
    assert polys == [[0, 1, 2, 3], [0, 2, 3]] and puvs == polys and mats == ["A", "B"]
    tris, owner = ic.fan_triangulate(polys)
    assert tris.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3]] and owner.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(ic.read_obj_positions(p), v)
