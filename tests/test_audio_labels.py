"""Phone set, reference label readers and GRID transcripts (real asset files)."""
import pytest

from headgen.audio.labels import grid_transcript, read_arctic_lab, read_grid_align, read_phone_tsv
from headgen.audio.phones import SIL, Segment, boundaries, normalize_phone
from headgen.errors import InputError


def _asset(rel):
    from headgen.assets import AssetMissingError, resolve
    try:
        return resolve(rel)
    except AssetMissingError:  # pragma: no cover
        pytest.skip(f"{rel} missing")


def test_normalize_phone():
    assert normalize_phone("aa1") == "AA"
    assert normalize_phone("sil") == SIL and normalize_phone("+NSN+") == SIL and normalize_phone("pau") == SIL
    assert normalize_phone("ax") == "AH"
    with pytest.raises(ValueError):
        normalize_phone("QQ")


def test_grid_align_units_match_clip_audio():
    from headgen.io.audio import read_audio
    words = read_grid_align(_asset("video/swwp2s.align"))
    assert [w.label for w in words] == [SIL, "set", "white", "with", "p", "two", "soon", SIL]
    assert words[1].start == pytest.approx(12250 / 25000)
    x, sr = read_audio(_asset("video/id2_vcd_swwp2s.mpg"), 16000)
    assert abs(words[-1].end - x.size / sr) < 0.04  # 1/25000 s units: ends with the audio


def test_arctic_lab_matches_tsv():
    lab = read_arctic_lab(_asset("audio/cmu_arctic_slt_a0009_phone.lab"))
    tsv = read_phone_tsv(_asset("audio/cmu_arctic_slt_a0009_phones.tsv"))
    assert len(lab) == len(tsv) == 40
    assert [s.label for s in lab] == [s.label for s in tsv]
    assert lab[1] == Segment(0.13, 0.205, "HH")
    assert max(abs(a.start - b.start) for a, b in zip(lab, tsv)) < 1e-6
    assert len(boundaries(lab)) == 39


def test_grid_transcript():
    assert grid_transcript("bbaf2n") == "bin blue at f two now"
    assert grid_transcript("/x/id2_vcd_swwp2s.mpg") == "set white with p two soon"
    assert grid_transcript("lwbsza.mpg") == "lay white by s zero again"
    with pytest.raises(InputError, match="xyz"):
        grid_transcript("xyz.mpg")


def test_bad_label_file(tmp_path):
    p = tmp_path / "bad.align"
    p.write_text("0 abc sil\n")
    with pytest.raises(InputError, match="bad.align"):
        read_grid_align(p)
    with pytest.raises(InputError, match="missing.lab"):
        read_arctic_lab(tmp_path / "missing.lab")
