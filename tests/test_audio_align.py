"""Speech timing on real labelled speech: forced alignment, transcription, text-free decoding, long audio.

Targets (issue 14): median phone-boundary error <= 20 ms and >= 90 % of p/b/m closures within 40 ms on
the ARCTIC slt_a0009 phone labels and GRID swwp2s.align (word labels: word boundaries). See
bench/audio_align.py for all methods and timings.
"""
import numpy as np
import pytest

from headgen.audio import align as A
from headgen.audio.evaluate import closure_hits, phone_boundary_errors
from headgen.audio.labels import grid_transcript, read_arctic_lab, read_grid_align
from headgen.audio.phones import SIL, Segment
from headgen.errors import InputError

ARCTIC_TEXT = "He turned sharply, and faced Gregson across the table."
GRID_PRONS = {"p": ["P", "IY"], "bin": ["B"], "blue": ["B"], "by": ["B"], "place": ["P"], "please": ["P"]}


def _asset(rel):
    from headgen.assets import AssetMissingError, resolve
    try:
        return resolve(rel)
    except AssetMissingError:  # pragma: no cover
        pytest.skip(f"{rel} missing")


@pytest.fixture(scope="module")
def arctic():
    from headgen.io.audio import read_audio
    x, sr = read_audio(_asset("audio/cmu_arctic_slt_a0009.wav"), 16000)
    return x, sr, read_arctic_lab(_asset("audio/cmu_arctic_slt_a0009_phone.lab"))


@pytest.fixture(scope="module")
def grid():
    from headgen.io.audio import read_audio
    x, sr = read_audio(_asset("video/id2_vcd_swwp2s.mpg"), 16000)
    return x, sr, read_grid_align(_asset("video/swwp2s.align"))


def _word_tiling(words, dur):
    return A._tile(words, dur)


def test_text_normalisation_and_g2p():
    assert A.normalize_text("Set white with P2 soon.") == "set white with p two soon".split()
    assert A.normalize_text("It's 42!") == ["it's", "forty", "two"]
    assert A.ipa_to_arpabet("gɹɛgsən") == ["G", "R", "EH", "G", "S", "AH", "N"]
    assert A.g2p("gregsonn")[:3] == ["G", "R", "EH"]


def test_forced_alignment_arctic_phones(arctic):
    x, sr, ref = arctic
    al = A.phone_timings(x, sr, ARCTIC_TEXT)
    assert al.method == "align" and [w.label for w in al.words][:3] == ["he", "turned", "sharply"]
    err = phone_boundary_errors(al.phones, ref)
    assert len(err) == len(ref) - 1
    assert np.median(err) <= 0.020 + 1e-6, np.median(err)
    hits = closure_hits(al.phones, ref)
    assert len(hits) == 2 and np.mean(hits) >= 0.9
    # phones tile the audio
    assert al.phones[0].start == 0 and abs(al.phones[-1].end - x.size / sr) < 1e-6
    assert all(abs(a.end - b.start) < 1e-9 for a, b in zip(al.phones, al.phones[1:]))


def test_forced_alignment_grid_words(grid):
    x, sr, ref = grid
    al = A.align(x, sr, grid_transcript("swwp2s"))
    assert [w.label for w in al.words] == ["set", "white", "with", "p", "two", "soon"]
    err = phone_boundary_errors(_word_tiling(al.words, x.size / sr), ref)
    # 7 word boundaries (10 ms quantised on both sides); 30 ms without ALIGN_OFFSET_S (calibrated on
    # ARCTIC, held out here), see bench/results/audio_align_cpu.md
    assert len(err) == 7 and np.median(err) <= 0.020 + 1e-6, err
    assert closure_hits(al.phones, ref, word_prons=GRID_PRONS) == [True]


def test_decoder_reuse_is_stable(arctic, grid):
    """pocketsphinx 5.1 fails on an alignment shorter than the previous one; the retry must make the
    result independent of call order."""
    a1 = A.align(grid[0], grid[1], grid_transcript("swwp2s"))
    A.align(arctic[0], arctic[1], ARCTIC_TEXT)
    a2 = A.align(grid[0], grid[1], grid_transcript("swwp2s"))
    assert a1.words and a1.words == a2.words and a1.phones == a2.phones


def test_oov_word_gets_g2p_pronunciation(arctic):
    x, sr, ref = arctic
    al = A.align(x, sr, "he turned sharply and faced greggsonn across the table")
    assert "greggsonn" in [w.label for w in al.words]
    assert np.median(phone_boundary_errors(al.phones, ref)) <= 0.025


def test_resampled_input(arctic):
    from scipy.signal import resample_poly
    x, sr, ref = arctic
    y = resample_poly(x, 441, 160).astype(np.float32)  # 44.1 kHz
    al = A.align(np.stack([y, y], 1), 44100, ARCTIC_TEXT)  # stereo, other rate
    assert np.median(phone_boundary_errors(al.phones, ref)) <= 0.020


@pytest.mark.parametrize("method", ["allphone", "hama+align"])
def test_text_free_decoders_on_arctic(arctic, method):
    x, sr, ref = arctic
    al = A.phone_timings(x, sr, method=method)
    assert len(al.speech_phones()) > 25
    assert np.median(phone_boundary_errors(al.phones, ref)) <= 0.025


def test_transcribe_grid(grid):
    x, sr, ref = grid
    text, words = A.transcribe(x, sr)
    assert [w.label for w in words] == grid_transcript("swwp2s").split()
    al = A.phone_timings(x, sr)  # no text: the measured default
    assert al.method == A.AUTO_METHOD and len(al.speech_phones()) >= 10


@pytest.mark.parametrize("method", ["auto", "allphone", "hama", "hama+align"])
def test_silence_and_noise_give_no_phones(method):
    rng = np.random.default_rng(0)
    for x in (np.zeros(3 * 16000, np.float32), (0.05 * rng.standard_normal(3 * 16000)).astype(np.float32),
              np.full(2 * 16000, 1e-4, np.float32)):
        al = A.phone_timings(x, 16000, method=method)
        assert al.speech_phones() == [] and al.words == []
        assert al.phones == [Segment(0.0, x.size / 16000, SIL)]


def test_empty_and_bad_samples():
    al = A.phone_timings(np.zeros(0, np.float32), 16000, "hello")
    assert al.words == [] and al.phones == []
    with pytest.raises(InputError):
        A.align(np.array([np.nan, 0.0], np.float32), 16000, "hi")
    with pytest.raises(InputError):
        A.phone_timings(np.zeros(16000, np.float32), 16000, method="align")


def test_corrupt_and_empty_files(tmp_path):
    from headgen.io.audio import read_audio
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    for p in (bad, empty):
        with pytest.raises(InputError, match=p.name):
            read_audio(p, 16000)


def test_long_audio_is_chunked(arctic, grid):
    """~20 s of speech cut into <= 7 s chunks: every utterance's words keep their single-shot timing."""
    xa, sr, _ = arctic
    xg = grid[0]
    gap = np.zeros(int(0.6 * sr), np.float32)
    pieces, texts, offsets, t = [], [], [], 0.0
    for k in range(3):
        for x, text in ((xa, ARCTIC_TEXT), (xg, grid_transcript("swwp2s"))):
            pieces += [x, gap]
            texts.append(text)
            offsets.append(t)
            t += (x.size + gap.size) / sr
    long_x = np.concatenate(pieces)
    chunks = A.split_at_silences(long_x, sr, 7.0)
    assert len(chunks) >= 3 and all(b - a <= 7 * sr for a, b in chunks)
    assert chunks[0][0] == 0 and chunks[-1][1] == long_x.size
    al = A.align(long_x, sr, " ".join(texts), max_chunk_s=7.0)
    single = {0: A.align(xa, sr, ARCTIC_TEXT).words, 1: A.align(xg, sr, grid_transcript("swwp2s")).words}
    expect = [Segment(w.start + off, w.end + off, w.label) for i, off in enumerate(offsets) for w in single[i % 2]]
    assert [w.label for w in al.words] == [w.label for w in expect]
    starts = np.abs(np.array([w.start for w in al.words]) - np.array([w.start for w in expect]))
    assert np.median(starts) <= 0.011 and starts.max() <= 0.05


def test_piecewise_alignment_of_a_long_chunk(arctic, grid):
    """A 13 s chunk (one search would span it) is aligned in pieces cut at its pauses: the words land
    where aligning each utterance alone puts them."""
    xa, sr, _ = arctic
    xg = grid[0]
    gap = np.zeros(int(0.5 * sr), np.float32)
    x = np.concatenate([xa, gap, xg, gap, xa, gap, xg])
    text = " ".join([ARCTIC_TEXT, grid_transcript("swwp2s")] * 2)
    al = A.align(x, sr, text)
    alone = [A.align(xa, sr, ARCTIC_TEXT).words, A.align(xg, sr, grid_transcript("swwp2s")).words]
    offs = np.cumsum([0, xa.size + gap.size, xg.size + gap.size, xa.size + gap.size]) / sr
    expect = [w.start + off for k, off in enumerate(offs) for w in alone[k % 2]]
    assert len(al.words) == len(expect)
    assert np.max(np.abs(np.array([w.start for w in al.words]) - expect)) <= 0.03
