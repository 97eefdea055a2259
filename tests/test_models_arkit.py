"""ARKit name table, ARKit -> ICT mapping, blendshape transfer solver, ARKit curves -> target coefficients."""
import numpy as np
import pytest
import torch

from headgen.errors import InputError
from headgen.geometry.rotations import axis_angle_to_matrix
from headgen.models import load_head_model
from headgen.models.arkit import (ARKIT_NAMES, ArkitTransfer, arkit_curves_to_array, arkit_to_ict_matrix,
                                  normalize_arkit_name, solve_blendshape_transfer, transfer_arkit,
                                  transfer_arkit_from_ict)
from headgen.models.embedding import load_or_compute_mediapipe_embedding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _jaw_deform(v, jaw, pivot, weights):
    """Skin (B,V,3) vertices with a jaw rotation (B,3) about ``pivot`` with per-vertex weights (V,)."""
    R = axis_angle_to_matrix(jaw)                                           # B,3,3
    rot = torch.einsum("bij,bvj->bvi", R, v - pivot) + pivot
    return weights[None, :, None] * rot + (1 - weights[None, :, None]) * v


def write_mixed_flame(folder, src, mix, s, R, t):
    """A FLAME-format model (pickle + MediaPipe embedding) built from the ICT source: its mesh under the
    similarity (s, R, t), an expression basis that is a random linear mixing ``mix`` (E, E_src) of the
    source's blendshapes, one (zero) shape mode, and a jaw joint skinning the lower face."""
    import pickle
    folder.mkdir(parents=True, exist_ok=True)
    E_src = src.n_expression
    sR = (s * R).numpy()
    tmpl = src.template.double().numpy() @ sR.T + t
    ex = src.basis[src.n_shape:].double().view(E_src, -1, 3).numpy() @ sR.T            # E_src,V,3
    mixed = np.einsum("es,svd->vde", mix.numpy(), ex)                                   # V,3,E
    V = tmpl.shape[0]
    shapedirs = np.concatenate([np.zeros((V, 3, 1)), mixed], 2)
    y = tmpl[:, 1]
    y_mouth = float(y.mean())
    w_jaw = 1 / (1 + np.exp(-(y_mouth - y) / 0.01))
    weights = np.zeros((V, 5))
    weights[:, 0], weights[:, 2] = 1 - w_jaw, w_jaw
    Jr = np.zeros((5, V))
    Jr[:, int(np.argmin(np.abs(y - y_mouth) + np.abs(tmpl[:, 0])))] = 1.0
    d = {"v_template": tmpl, "shapedirs": shapedirs, "posedirs": np.zeros((V, 3, 36)), "J_regressor": Jr,
         "weights": weights, "kintree_table": np.array([[2 ** 32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
         "f": src.faces.numpy()}
    with open(folder / "FLAME_NEUTRAL.pkl", "wb") as fh:
        pickle.dump(d, fh, protocol=2)
    f, b = src.landmark_embedding("mediapipe")             # same topology -> same embedding
    np.savez(folder / "mediapipe_landmark_embedding.npz", lmk_face_idx=f.numpy(), lmk_b_coords=b.numpy(),
             landmark_indices=np.arange(468))
    return folder / "FLAME_NEUTRAL.pkl"


@pytest.fixture(scope="module")
def ict():
    m = load_head_model("ict", parts="face", dtype=torch.float64)
    load_or_compute_mediapipe_embedding(m, cache=False)
    return m


def test_name_table_and_ict_matrix(ict):
    assert len(ARKIT_NAMES) == 52 and "tongueOut" in ARKIT_NAMES
    assert normalize_arkit_name("eyeBlink_L") == "eyeBlinkLeft"
    assert normalize_arkit_name("EyeBlinkRight") == "eyeBlinkRight"
    assert normalize_arkit_name("mouthSmile_R") == "mouthSmileRight"
    assert normalize_arkit_name("jawOpen") == "jawOpen" and normalize_arkit_name("_neutral") is None
    W = arkit_to_ict_matrix(ict.expression_names)
    assert W.shape == (52, 53)
    assert (W.sum(0) == 1).all()                         # every ICT shape used exactly once
    rows = W.sum(1)
    assert rows[ARKIT_NAMES.index("tongueOut")] == 0
    assert rows[ARKIT_NAMES.index("browInnerUp")] == 2 and rows[ARKIT_NAMES.index("cheekPuff")] == 2
    assert (np.delete(rows, [ARKIT_NAMES.index(n) for n in ("tongueOut", "browInnerUp", "cheekPuff")]) == 1).all()
    names = ict.expression_names
    assert W[ARKIT_NAMES.index("eyeBlinkLeft"), names.index("eyeBlink_L")] == 1


def test_solver_recovers_expression_and_jaw():
    g = torch.Generator().manual_seed(0)
    P, E, K = 300, 12, 6
    pts = torch.randn(P, 3, generator=g, dtype=torch.float64) * 0.05
    basis = torch.randn(E, P, 3, generator=g, dtype=torch.float64) * 2e-3
    weights = torch.sigmoid(-pts[:, 1] / 0.01)
    pivot = torch.tensor([0.0, 0.0, -0.05], dtype=torch.float64)

    def target(e, j):
        v = pts + torch.einsum("ne,epd->npd", e, basis)
        return v if j is None else _jaw_deform(v, j, pivot, weights)

    e_true = torch.randn(K, E, generator=g, dtype=torch.float64)
    j_true = torch.randn(K, 3, generator=g, dtype=torch.float64) * torch.tensor([0.15, 0.05, 0.05])
    j_true = j_true.double()
    disp = target(e_true, j_true) - pts
    sol = solve_blendshape_transfer(disp, target, E, use_jaw=True, reg_expression=1e-10, reg_jaw=1e-10,
                                    n_iter=30)
    assert (sol.jaw - j_true).abs().max() < 1e-4
    assert (sol.expression - e_true).abs().max() < 1e-3
    assert sol.rel.max() < 1e-4
    # the linear stage alone (no L-BFGS) is only first-order in the jaw: worse fit
    lin = solve_blendshape_transfer(disp, target, E, use_jaw=True, reg_expression=1e-10, reg_jaw=1e-10, n_iter=0)
    assert lin.rel.max() > 10 * sol.rel.max()


def test_transfer_recovers_random_mixing(ict, tmp_path):
    g = torch.Generator().manual_seed(1)
    E = ict.n_expression
    mix = torch.eye(E, dtype=torch.float64) + 0.3 * torch.randn(E, E, generator=g, dtype=torch.float64) / E ** 0.5
    aa = torch.tensor([[0.1, -0.2, 0.05]], dtype=torch.float64)
    R = axis_angle_to_matrix(aa)[0]
    path = write_mixed_flame(tmp_path / "mixed", ict, mix, 1.25, R, np.array([0.01, -0.02, 0.3]))
    target = load_head_model("flame", path=path, dtype=torch.float64, shape_space_dim=1)
    assert target.n_expression == E and target.landmark_valid("mediapipe").all()
    tr = transfer_arkit(ict, target, use_jaw=False, reg_expression=1e-9)
    assert tr.expression.shape == (52, E) and tr.jaw.shape == (52, 3)
    M = torch.as_tensor(arkit_to_ict_matrix(ict.expression_names))
    moving = M.abs().sum(1) > 0
    # every ARKit shape is reproduced on the 468 points, and the source weights are recovered through the mixing
    assert tr.rel[moving].max() < 1e-5, tr.rel
    assert tr.expression[~moving].abs().max() < 1e-9             # tongueOut: nothing to transfer
    recovered = tr.expression @ mix                                # (52, 53) in ICT weights
    err = (recovered - M).abs().max(1).values
    assert err[moving].max() < 1e-4, err        # measured: 2e-6
    # with the jaw enabled the solution stays exact (the jaw is not needed)
    trj = transfer_arkit(ict, target, use_jaw=True, reg_expression=1e-9, reg_jaw=1e-6, n_iter=10)
    assert trj.rel[moving].max() < 1e-5 and trj.jaw.abs().max() < 1e-4
    assert ((trj.expression @ mix - M).abs().max(1).values[moving]).max() < 1e-4


def test_transfer_onto_flame_format_model(tmp_path, monkeypatch):
    from headgen.testing.flame import write_random_flame_folder
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path / "cache"))
    path = write_random_flame_folder(tmp_path / "flame", seed=0, n_shape=20, n_expression=30, subdivisions=2)
    flame = load_head_model("flame", path=path)
    assert flame.has_landmarks("mediapipe") and int(flame.landmark_valid("mediapipe").sum()) == 105
    tr = transfer_arkit_from_ict(flame, n_iter=5)     # partial (105-point) embedding on the target side
    E = flame.n_expression
    assert tr.expression.shape == (52, E) and tr.jaw.shape == (52, 3)
    assert torch.isfinite(tr.expression).all() and torch.isfinite(tr.jaw).all()
    assert (tr.rel <= 1.0 + 1e-6).all()          # never worse than doing nothing (regularised LS)
    ex, jaw = tr.apply({"jawOpen": [0.0, 0.5, 1.0]})
    assert ex.shape == (3, E) and jaw.shape == (3, 3)
    k = ARKIT_NAMES.index("jawOpen")
    assert torch.allclose(ex[2], tr.expression[k]) and torch.allclose(jaw[1], 0.5 * tr.jaw[k])
    out = flame(expression=ex.float(), jaw=jaw.float())
    assert torch.isfinite(out.vertices).all()


def test_curves_conversion_and_errors(tmp_path):
    a = arkit_curves_to_array({"eyeBlink_L": [0, 1], "JawOpen": np.array([0.2, 0.4]),
                               "mouthSmileRight": torch.tensor([1.0, 0.0])})
    assert a.shape == (2, 52)
    assert a[1, ARKIT_NAMES.index("eyeBlinkLeft")] == 1 and a[0, ARKIT_NAMES.index("jawOpen")] == 0.2
    assert a[0, ARKIT_NAMES.index("mouthSmileRight")] == 1 and a.sum() == pytest.approx(2.6)
    assert arkit_curves_to_array(np.ones(52)).shape == (1, 52)
    with pytest.raises(InputError, match="not an ARKit"):
        arkit_curves_to_array({"smile": [1.0]})
    with pytest.raises(InputError, match="different lengths"):
        arkit_curves_to_array({"jawOpen": [1.0, 2.0], "eyeBlinkLeft": [1.0]})
    with pytest.raises(InputError, match="NaN"):
        arkit_curves_to_array({"jawOpen": [np.nan]})
    with pytest.raises(InputError, match=r"\(T, 52\)"):
        arkit_curves_to_array(np.zeros((3, 51)))
    with pytest.raises(InputError, match="twice"):
        arkit_curves_to_array({"jawOpen": [1.0], "JawOpen": [1.0]})
    tr = ArkitTransfer(torch.randn(52, 7, dtype=torch.float64), torch.randn(52, 3, dtype=torch.float64),
                       torch.zeros(52), torch.zeros(52))
    tr.save(tmp_path / "t.npz")
    tr2 = ArkitTransfer.load(tmp_path / "t.npz")
    W = np.random.default_rng(0).random((4, 52))
    e1, j1 = tr.apply(W)
    e2, j2 = tr2.apply(W)
    assert torch.allclose(e1, e2) and torch.allclose(j1, j2)
    assert torch.allclose(e1, torch.as_tensor(W) @ tr.expression)
    with pytest.raises(InputError, match="source_disp"):
        solve_blendshape_transfer(torch.full((2, 4, 3), np.nan), lambda e, j: torch.zeros(e.shape[0], 4, 3), 3)
