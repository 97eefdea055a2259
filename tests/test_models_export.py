"""Export posed heads to OBJ / PLY / GLB and read them back with trimesh."""
import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.models.export import export_head, export_mesh, split_uv_seams

trimesh = pytest.importorskip("trimesh")


def _cube():
    """A small UV-mapped mesh with seams (per-corner uv ids differ from vertex ids)."""
    m = trimesh.creation.box(extents=(0.1, 0.2, 0.15))
    v, f = np.asarray(m.vertices), np.asarray(m.faces)
    rng = np.random.default_rng(0)
    uvs = rng.random((f.size, 2))
    faces_uv = np.arange(f.size).reshape(-1, 3)
    return v, f, uvs, faces_uv


def _load(path):
    mesh = trimesh.load(path, process=False, force="mesh")
    return mesh


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_round_trip_positions_and_uvs(tmp_path, suffix):
    v, f, uvs, fuv = _cube()
    p = export_mesh(tmp_path / f"head{suffix}", torch.as_tensor(v), torch.as_tensor(f), uvs, fuv)
    mesh = _load(p)
    assert len(mesh.faces) == len(f)
    # corner positions and corner uvs survive in face order
    assert np.allclose(np.asarray(mesh.vertices)[mesh.faces], v[f], atol=1e-6)
    uv_back = np.asarray(mesh.visual.uv)[mesh.faces]
    assert np.allclose(uv_back, uvs[fuv], atol=1e-6)


def test_seam_split():
    v, f, uvs, fuv = _cube()
    v2, f2, uv2, src = split_uv_seams(v, f, uvs, fuv)
    assert np.allclose(v2[f2], v[f]) and np.allclose(uv2[f2], uvs[fuv]) and np.array_equal(v[src], v2)


def test_export_ict_head_with_texture(tmp_path):
    from headgen.models import load_head_model
    try:
        model = load_head_model("ict", parts="face")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"ICT asset unavailable: {e}")
    out = model(expression=torch.zeros(2, 53), translation=torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]))
    tex = np.full((8, 8, 3), 200, np.uint8)
    p = export_head(tmp_path / "ict.obj", model, out, frame=1, texture=tex)
    assert (tmp_path / "ict.mtl").exists() and (tmp_path / "ict.png").exists()
    mesh = _load(p)
    assert np.allclose(np.asarray(mesh.vertices)[mesh.faces], out.vertices[1].numpy()[model.faces.numpy()], atol=1e-6)
    g = export_head(tmp_path / "ict.glb", model, out, frame=0, texture=tex)
    mg = _load(g)
    assert np.allclose(np.asarray(mg.vertices)[mg.faces], out.vertices[0].numpy()[model.faces.numpy()], atol=1e-6)
    with pytest.raises(InputError, match="frame 5"):
        export_head(tmp_path / "x.obj", model, out, frame=5)


def test_bad_export_inputs(tmp_path):
    v, f, uvs, fuv = _cube()
    with pytest.raises(InputError, match="unsupported format"):
        export_mesh(tmp_path / "a.stl", v, f)
    with pytest.raises(InputError, match="faces must be"):
        export_mesh(tmp_path / "a.obj", v, f + 100)
    with pytest.raises(InputError, match="NaN"):
        export_mesh(tmp_path / "a.ply", np.full_like(v, np.nan), f)
    with pytest.raises(InputError, match="both uvs"):
        export_mesh(tmp_path / "a.glb", v, f, uvs=uvs)
    assert not list(tmp_path.iterdir())  # nothing half-written
