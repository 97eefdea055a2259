"""Appearance attributes of Gaussian avatars (headgen.avatar.appearance): colour space, regions, measurements
on avatars of known colours, colour edits that keep the rig."""
import numpy as np
import pytest
import torch

from headgen.avatar.appearance import (APPEARANCE_NAMES, HAIR_COLOURS, appearance_regions, edit_appearance,
                                       lab_to_rgb, measure_appearance, rgb_to_lab)


def test_lab_reference_values_and_round_trip():
    lab = rgb_to_lab(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 0.0, 0.0]],
                                  dtype=torch.float64))
    assert lab[0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    assert lab[1].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=0.01)
    assert lab[2, 0] == pytest.approx(53.39, abs=0.02) and abs(lab[2, 1]) < 0.01
    assert lab[3].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.05)      # sRGB red (standard value)
    x = torch.rand(100, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-6)


@pytest.fixture(scope="module")
def painted():
    """An ICT avatar with known colours: skin (0.85, 0.65, 0.55), hair dark brown (0.2, 0.13, 0.08), the rest
    (eyes, mouth) blue."""
    from headgen.testing.avatars import painted_avatar
    return painted_avatar(rest_rgb=(0.1, 0.2, 0.9))


def test_regions_are_plausible(painted):
    m, av, reg = painted
    hair, skin, sample = reg["hair"], reg["skin"], reg["skin_sample"]
    assert not (hair & skin).any() and bool((sample <= skin).all())
    assert 0.02 * av.n < hair.sum() < skin.sum() and sample.sum() > 200
    with torch.no_grad():
        means = av.neutral_vertices[av.faces[av.binding]].mean(1)
    # hair is on top / at the back of the head; the skin sample is on the front of the face
    assert float(means[hair, 1].mean()) > float(means[skin, 1].mean()) + 0.03
    assert float(means[sample, 2].mean()) > float(means[hair, 2].mean()) + 0.05


def test_measurements_of_known_colours(painted):
    m, av, reg = painted
    a = measure_appearance(av, reg)
    skin = rgb_to_lab(torch.tensor([0.85, 0.65, 0.55], dtype=torch.float64))
    hair = rgb_to_lab(torch.tensor([0.2, 0.13, 0.08], dtype=torch.float64))
    assert a["skin lightness"] == pytest.approx(float(skin[0]), abs=0.05)
    assert a["hair lightness"] == pytest.approx(float(hair[0]), abs=0.05)
    ita = np.degrees(np.arctan2(float(skin[0]) - 50, float(skin[2])))
    assert a["skin tone"] == pytest.approx(ita, abs=0.05) and 41 < a["skin tone"] < 55     # "light" on the ITA scale
    assert a["hair colour"] == "dark brown"
    assert float(skin[0]) > a["lightness"] > float(hair[0])
    # measured on the avatar as saved (round trip through the rig)
    from headgen.avatar import load_avatar, save_avatar
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        save_avatar(d, av)
        b = measure_appearance(load_avatar(d), model=m)
    assert b["skin lightness"] == pytest.approx(a["skin lightness"], abs=0.05)


def test_edits_move_the_asked_attribute_only(painted):
    m, av, reg = painted
    a0 = measure_appearance(av, reg)
    dark = edit_appearance(av, {"skin lightness": -1.0}, reg)
    a1 = measure_appearance(dark, reg)
    assert a1["skin lightness"] - a0["skin lightness"] == pytest.approx(-10.0, abs=0.1)
    assert a1["hair lightness"] == pytest.approx(a0["hair lightness"], abs=1e-3)
    other = ~(reg["skin"] | reg["hair"])
    assert torch.equal(dark.sh[other], av.sh[other])                 # eyes / mouth untouched
    for k in ("binding", "offsets", "rotations", "log_scales", "opacity_logits"):
        assert torch.equal(getattr(dark, k), getattr(av, k)), k      # still rigged the same way
    for name, colour in (("blond hair", "blond"), ("red hair", "red"), ("grey hair", "grey"),
                         ("black hair", "black")):
        e = measure_appearance(edit_appearance(av, {name: 1.0}, reg), reg)
        assert e["hair colour"] == colour and e["hair colour distance"] < 1.0, name
        assert e["skin lightness"] == pytest.approx(a0["skin lightness"], abs=1e-3)
    half = measure_appearance(edit_appearance(av, {"blond hair": 0.5}, reg), reg)
    full_l, l0 = HAIR_COLOURS["blond"][0], a0["hair lightness"]
    assert half["hair lightness"] == pytest.approx(l0 + 0.5 * (full_l - l0), abs=0.5)
    lighter = measure_appearance(edit_appearance(av, {"lightness": 0.5}, reg), reg)
    assert lighter["skin lightness"] - a0["skin lightness"] == pytest.approx(5.0, abs=0.1)
    assert lighter["hair lightness"] - a0["hair lightness"] == pytest.approx(5.0, abs=0.1)


def test_unknown_attribute_and_non_ict_avatar_are_one_line_errors(painted):
    from dataclasses import replace

    from headgen.errors import InputError
    m, av, reg = painted
    with pytest.raises(InputError, match="unknown appearance"):
        edit_appearance(av, {"purple skin": 1.0}, reg)
    with pytest.raises(InputError, match="ICT"):
        appearance_regions(replace(av, model="flame"))
    assert len(APPEARANCE_NAMES) == 9
