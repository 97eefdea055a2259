"""Sculpt intensity words (issue 15): "slightly" writes a small change and "much / very" a large one - the
written change lies in the band of the training bin of the asked level, also where a limit (locality, clamp)
caps the large one; degree words of the training captions name the level; side readings of the other kind
are not applied; the edit projection keeps the other attributes after a large global change. No trained
model needed (the sculpt space of the ICT model, fabricated samples)."""
import numpy as np
import pytest
import torch

from headgen.models.attributes import SHAPE_NAMES


@pytest.fixture(scope="module")
def space():
    from headgen.stages.sculpt.core import load_model_for_sculpt
    from headgen.stages.sculpt.space import SculptSpace
    return SculptSpace(load_model_for_sculpt())


def test_intensity_bands_follow_the_training_bins():
    from headgen.stages.sculpt.captions import EXPR_BINS, SHAPE_BINS
    from headgen.stages.sculpt.core import intensity_band, into_band
    for lo, hi, target, _ in SHAPE_BINS:                      # a level's reader target -> exactly its bin
        assert intensity_band(target) == pytest.approx((lo, hi))
    for lo, hi, _ in EXPR_BINS:
        assert intensity_band((lo + hi) / 2, expression=True) == pytest.approx((lo, hi))
    # the bands rise with the intensity, and "slightly" lies wholly below "much"
    v = np.linspace(0.25, 2.0, 30)
    b = np.array([intensity_band(x) for x in v])
    assert np.all(np.diff(b, axis=0) >= -1e-12)
    assert intensity_band(0.5)[1] <= intensity_band(1.5)[0]
    # samples map into the band, monotonically and distinctly (seeds keep different heads)
    s = np.linspace(-3, 3, 13)
    m = np.array([into_band(x, 0.7, 1.4) for x in s])
    assert np.all((m >= 0.7) & (m <= 1.4)) and np.all(np.diff(m) > 0)
    assert into_band(2.5, 0.7, 1.4) < into_band(0.2, 2.1, 3.0)   # an overshooting "slightly" < any "much"


def test_degree_words_name_the_level():
    from headgen.stages.sculpt.core import degree_level
    assert degree_level("a slightly longer face") == 0
    assert degree_level("a much longer face") == 2 and degree_level("a very wide nose") == 2
    assert degree_level("a far wider nose") == 2
    assert degree_level("a long face") is None
    assert degree_level("eyes far apart") is None               # "far" describes, it does not grade here
    assert degree_level("a little mouth") is None               # an adjective before the part noun
    assert degree_level("very mouth open", "expression") == 2 and degree_level("broadly smiling", "expression") == 2
    assert degree_level("slightly smiling", "expression") == 0
    assert degree_level("not very smiling", "expression") is None


def test_cross_kind_side_reading_is_not_applied():
    from headgen.stages.sculpt.core import confidence_weights
    names = list(SHAPE_NAMES) + ["smiling", "wide eyes"]
    K = len(SHAPE_NAMES)
    # "very wide-set eyes": eye spacing +1.26 and a side reading of the expression "wide eyes" +0.36
    w = confidence_weights({"eye spacing": 1.26, "wide eyes": 0.36}, K, names)
    assert w["eye spacing"] == 1.0 and w["wide eyes"] == 0.0
    w = confidence_weights({"eye spacing": 1.2, "smiling": 0.75}, K, names)   # both asked: both applied
    assert w["smiling"] == 1.0
    w = confidence_weights({"smiling": 0.64, "wide eyes": 0.20}, K, names)     # same kind: ramped as before
    assert 0.0 < w["wide eyes"] < 0.5


def test_compress_to_attainable_is_monotone():
    from headgen.stages.sculpt.space import compress_to_attainable
    assert compress_to_attainable(1.0, 5.0) == 1.0               # no limit in the range: unchanged
    assert compress_to_attainable(0.5, 1.2) == 0.5               # below half the attainable change: unchanged
    assert compress_to_attainable(3.0, 1.2) == pytest.approx(1.2)
    t = np.linspace(0, 3, 31)
    g = np.array([compress_to_attainable(x, 1.2) for x in t])
    assert np.all(np.diff(g) > 0) and g.max() <= 1.2 + 1e-12


def test_locality_limit_keeps_much_above_slightly(space):
    # cheekbone width leaks ~0.9 mm outside its region per std: 1 std and 2.5 std both exceed a 0.5 mm limit
    sp = space
    k = SHAPE_NAMES.index("cheekbone width")
    active = torch.zeros(sp.K, dtype=torch.bool)
    active[k] = True
    region = sp.region_mask(["cheekbone width"])
    x0 = torch.zeros(sp.S, dtype=torch.float64)
    got = []
    for t in (1.0, 2.5):
        delta = torch.zeros(sp.K, dtype=torch.float64)
        delta[k] = t
        x, info = sp.edit_identity(x0, delta, active, region, max_outside_mm=0.5)
        assert info["outside_rms_mm"] <= 0.5 * 1.001
        got.append(float(sp.zmeasure(x)[k] - sp.zmeasure(x0)[k]))
    assert got[0] > 0.1 and got[1] > got[0] + 0.1, got


def test_large_global_edit_keeps_the_other_attributes(space):
    from headgen.stages.sculpt.space import KEEP_TOL
    sp = space
    k = SHAPE_NAMES.index("head size")
    active = torch.zeros(sp.K, dtype=torch.bool)
    active[k] = True
    delta = torch.zeros(sp.K, dtype=torch.float64)
    delta[k] = -2.95
    x0 = torch.zeros(sp.S, dtype=torch.float64)
    x, _ = sp.edit_identity(x0, delta, active, None)
    ch = (sp.zmeasure(x) - sp.zmeasure(x0)).numpy()
    assert ch[k] == pytest.approx(-2.95, abs=0.1)
    assert np.abs(np.delete(ch, k)).max() < KEEP_TOL + 0.02    # lip fullness moved 0.37 std with 4 steps only


def test_appearance_clause_names_no_shape_level():
    # "much lighter colouring" reads lightness +2.4 and head size -0.29: "much" belongs to the colouring
    from headgen.stages.sculpt.core import Sculptor
    sc = Sculptor.__new__(Sculptor)
    from headgen.models.attributes import SHAPE_NAMES as names
    sc.names = list(names) + ["smiling", "lightness"]
    sc.n_geom = len(names) + 1
    sc._app_kind = {"lightness": "signed"}

    class _S:
        K = len(names)
    sc.space = _S()
    r = np.zeros((1, len(sc.names)))
    r[0, names.index("head size")], r[0, -1] = -0.29, 2.4
    assert sc.degree_levels(["much lighter colouring"], r) == {}
    r[0, -1] = 0.0
    assert sc.degree_levels(["a much smaller head"], r) == {"head size": 2}
