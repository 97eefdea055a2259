"""Measured head attributes (headgen.models.attributes) on the ICT-FaceKit model."""
import numpy as np
import pytest
import torch

from headgen.models.attributes import (SHAPE_NAMES, LandmarkBasis, attribute_regions, expression_attributes,
                                       measure_expression, measure_shape)


@pytest.fixture(scope="module")
def ict():
    from headgen.models import load_head_model
    return load_head_model("ict", parts="face", mediapipe=True, dtype=torch.float64)


def test_mean_head_measurements_are_anatomical(ict):
    lb = LandmarkBasis(ict)
    a = dict(zip(SHAPE_NAMES, lb.measure(torch.zeros(1, ict.n_shape, dtype=torch.float64))[0].tolist()))
    # adult head proportions (mm): menton-crinion face ~ 160-200, bizygomatic ~ 120-150, nose width ~ 30-45 ...
    assert 140 < a["face length"] < 200 and 110 < a["face width"] < 160
    assert 25 < a["nose width"] < 50 and 35 < a["nose length"] < 65 and 40 < a["mouth width"] < 65
    assert 25 < a["eye spacing"] < 45 and a["jaw width"] < a["face width"]
    assert a["nose projection"] > 10 and a["brow height"] > 10 and a["forehead height"] > 10


def test_landmark_basis_matches_the_model(ict):
    lb = LandmarkBasis(ict)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, ict.n_shape, generator=g, dtype=torch.float64)
    e = torch.rand(3, ict.n_expression, generator=g, dtype=torch.float64) * 0.5
    ref = ict(shape=x, expression=e).landmarks468
    assert torch.allclose(lb(x, e), ref, atol=1e-9)


def test_measurements_scale_with_the_head():
    from headgen.models.embedding import load_canonical_mesh
    p = torch.as_tensor(load_canonical_mesh()[0] / 100.0)[None]     # canonical mesh, metres
    a, b = measure_shape(p)[0], measure_shape(1.1 * p)[0]
    mm = [i for i, n in enumerate(SHAPE_NAMES) if n != "roundness"]
    assert torch.allclose(b[mm], 1.1 * a[mm], rtol=1e-6)
    assert torch.isclose(b[SHAPE_NAMES.index("roundness")], a[SHAPE_NAMES.index("roundness")], atol=1e-9)
    with pytest.raises(Exception):
        measure_shape(p[:, :100])


def test_every_arkit_shape_of_ict_is_an_attribute(ict):
    from headgen.models.arkit import ARKIT_NAMES
    attrs = expression_attributes(ict.expression_names)
    names = {a.name for a in attrs}
    assert {f"arkit:{n}" for n in ARKIT_NAMES if n != "tongueOut"} <= names
    assert {"smiling", "frowning", "mouth open", "raised eyebrows"} <= names
    e = torch.zeros(1, ict.n_expression, dtype=torch.float64)
    e[0, ict.expression_names.index("mouthSmile_L")] = 0.4
    e[0, ict.expression_names.index("mouthSmile_R")] = 0.8
    m = dict(zip([a.name for a in attrs], measure_expression(e, attrs)[0].tolist()))
    assert m["smiling"] == pytest.approx(0.6) and m["arkit:mouthSmileRight"] == pytest.approx(0.8)
    assert m["frowning"] == 0.0


def test_regions_are_local_for_local_attributes(ict):
    r = attribute_regions(ict)
    V = ict.num_vertices
    assert r["face length"].all() and r["head size"].all()
    for n in ("nose width", "eye size", "mouth width", "chin projection"):
        assert 0.01 * V < r[n].sum() < 0.4 * V, n
    assert not (r["nose width"] & r["chin projection"]).any()
