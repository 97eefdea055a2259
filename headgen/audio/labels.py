"""Readers for the reference speech alignments in the shared assets, and GRID transcripts.

- GRID ``.align`` files: ``start end word`` per line, times in GRID units of 1/25000 s (1000 units =
  one 25 fps video frame). Checked on ``swwp2s.align``: its last segment ends at 74500 = 2.98 s, the
  length of the clip's audio track (2.978 s); 1/10000 s would give 7.45 s.
- CMU ARCTIC / HTS ``.lab`` files: ``start end label`` with times in 100 ns units (1e7 = 1 s); the label
  is either a plain phone or an HTS full-context label whose centre phone sits between ``-`` and ``+``.
- ``*_phones.tsv``: ``start_s end_s phone`` with a header line (seconds).

Words are returned lower case, phones in ARPAbet (``headgen.audio.phones``), silences as ``SIL``.
"""
from __future__ import annotations

import re
from pathlib import Path

from headgen.audio.phones import SIL, Segment, normalize_phone
from headgen.errors import InputError

GRID_UNITS_PER_SECOND = 25000.0
HTK_UNITS_PER_SECOND = 1e7

GRID_COMMANDS = {"b": "bin", "l": "lay", "p": "place", "s": "set"}
GRID_COLOURS = {"b": "blue", "g": "green", "r": "red", "w": "white"}
GRID_PREPOSITIONS = {"a": "at", "b": "by", "i": "in", "w": "with"}
GRID_DIGITS = {"z": "zero", "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
               "6": "six", "7": "seven", "8": "eight", "9": "nine"}
GRID_ADVERBS = {"a": "again", "n": "now", "p": "please", "s": "soon"}
_GRID_SILENCE = {"sil", "sp", "<sil>"}


def _lines(path: str | Path) -> list[list[str]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read label file ({e})") from None
    rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        raise InputError(f"{path}: label file is empty")
    return rows


def _segments(path, rows, scale: float, label_fn) -> list[Segment]:
    out = []
    for i, r in enumerate(rows):
        if len(r) < 3:
            raise InputError(f"{path}: line {i + 1}: expected 'start end label', got {' '.join(r)!r}")
        try:
            start, end = float(r[0]) / scale, float(r[1]) / scale
        except ValueError:
            raise InputError(f"{path}: line {i + 1}: times are not numbers: {' '.join(r)!r}") from None
        if end < start:
            raise InputError(f"{path}: line {i + 1}: end {r[1]} before start {r[0]}")
        try:
            label = label_fn(r[2])
        except ValueError as e:
            raise InputError(f"{path}: line {i + 1}: {e}") from None
        out.append(Segment(start, end, label))
    return out


def read_grid_align(path: str | Path) -> list[Segment]:
    """GRID word alignment (``.align``) -> word Segments in seconds (1/25000 s units converted);
    words lower case, ``sil``/``sp`` -> ``SIL``. InputError naming the file when it is missing/malformed."""
    def word(w: str) -> str:
        w = w.lower()
        return SIL if w in _GRID_SILENCE else w
    return _segments(path, _lines(path), GRID_UNITS_PER_SECOND, word)


def _centre_phone(label: str) -> str:
    m = re.search(r"-([^+]+)\+", label)
    return normalize_phone(m.group(1) if m else label)


def read_arctic_lab(path: str | Path) -> list[Segment]:
    """CMU ARCTIC / HTS phone label file (``.lab``, 100 ns units, plain or full-context labels) ->
    phone Segments in seconds, ARPAbet labels (``sil``/``pau`` -> ``SIL``)."""
    return _segments(path, _lines(path), HTK_UNITS_PER_SECOND, _centre_phone)


def read_phone_tsv(path: str | Path) -> list[Segment]:
    """``start_s end_s phone`` table (tab/space separated, optional header) -> phone Segments (ARPAbet)."""
    rows = _lines(path)
    if rows and not re.match(r"^-?[0-9.]+$", rows[0][0]):
        rows = rows[1:]
    return _segments(path, rows, 1.0, normalize_phone)


def grid_transcript(name_or_path: str | Path) -> str:
    """GRID sentence from its file name: the last 6 characters of the stem (after any ``id2_vcd_``
    style prefix) are command, colour, preposition, letter, digit, adverb letters.

    "bbaf2n" -> "bin blue at f two now"; "id2_vcd_swwp2s.mpg" -> "set white with p two soon".
    Raises InputError when the name does not follow the GRID grammar.
    """
    stem = Path(str(name_or_path)).stem.split("_")[-1].lower()
    code = stem[-6:]
    try:
        if len(code) != 6 or not code[3].isalpha():
            raise KeyError(code)
        return " ".join([GRID_COMMANDS[code[0]], GRID_COLOURS[code[1]], GRID_PREPOSITIONS[code[2]], code[3],
                         GRID_DIGITS[code[4]], GRID_ADVERBS[code[5]]])
    except KeyError:
        raise InputError(f"{name_or_path}: not a GRID file name (6 letters: command colour preposition "
                         f"letter digit adverb, e.g. bbaf2n)") from None
