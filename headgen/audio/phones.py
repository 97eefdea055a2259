"""ARPAbet phone set and the time segment type shared by the speech-timing code.

Phones are the 39 CMU/ARPAbet phonemes, upper case with lexical stress stripped ("AA", "P", ...),
plus ``SIL`` for silence/pauses. Every aligner, label reader and decoder in ``headgen.audio``
returns phones through :func:`normalize_phone`, so downstream code (visemes) sees one alphabet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

SIL = "SIL"

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
              "T", "TH", "V", "W", "Y", "Z", "ZH")
#: The 39 ARPAbet phonemes (CMUdict set, no stress) plus SIL.
PHONES = VOWELS + CONSONANTS + (SIL,)
PHONE_SET = frozenset(PHONES)
#: Lip closures (bilabial stops and nasal): the mouth must close on these.
BILABIALS = frozenset({"P", "B", "M"})

# Silence/pause/noise spellings used by pocketsphinx (SIL, +NSN+, +SPN+ ...), HTS/ARCTIC (sil, pau),
# GRID (sil, sp), TIMIT (h#, pau, epi) and CTC decoders (<blank>, <wb>).
_SILENCES = {"SIL", "SILENCE", "SP", "PAU", "H#", "EPI", "<SIL>", "<S>", "</S>", "<BLANK>", "<WB>", "NSN",
             "SPN", "NOISE", "X", ""}
# Spellings outside the 39-phone set that map onto it (TIMIT/Buckeye reductions, old ARPAbet).
_ALIASES = {"AX": "AH", "AXR": "ER", "IX": "IH", "UX": "UW", "EL": "L", "EM": "M", "EN": "N", "ENG": "NG",
            "NX": "N", "DX": "T", "Q": "T", "HV": "HH", "WH": "W", "AXH": "AH",
            "BCL": SIL, "DCL": SIL, "GCL": SIL, "KCL": SIL, "PCL": SIL, "TCL": SIL}


@dataclass
class Segment:
    """A labelled time span: ``start``/``end`` in seconds from the start of the audio, ``label`` a phone
    (ARPAbet, see :data:`PHONES`) or a word (lower case)."""

    start: float
    end: float
    label: str

    @property
    def duration(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start

    @property
    def mid(self) -> float:
        """Centre time in seconds."""
        return 0.5 * (self.start + self.end)


def normalize_phone(label: str) -> str:
    """One phone spelling -> the ARPAbet set: upper case, stress digits stripped ("aa1" -> "AA"),
    silences/pauses/noise markers ("sil", "pau", "+NSN+", "<blank>") -> ``SIL``, TIMIT-style extras
    mapped ("ax" -> "AH", "dx" -> "T"). Raises ValueError for anything else."""
    p = re.sub(r"[0-2]$", "", str(label).strip().upper())
    p = p.strip("+")
    if p in _SILENCES:
        return SIL
    p = _ALIASES.get(p, p)
    if p not in PHONE_SET:
        raise ValueError(f"not an ARPAbet phone: {label!r}")
    return p


def merge_silences(segments: list[Segment]) -> list[Segment]:
    """Join consecutive ``SIL`` segments (and same-label neighbours that touch) into one; returns a new list."""
    out: list[Segment] = []
    for s in segments:
        if out and s.label == SIL and out[-1].label == SIL and abs(out[-1].end - s.start) < 1e-6:
            out[-1] = Segment(out[-1].start, s.end, SIL)
        else:
            out.append(Segment(float(s.start), float(s.end), s.label))
    return out


def speech_only(segments: list[Segment]) -> list[Segment]:
    """The non-silence segments of ``segments`` (phones or words)."""
    return [s for s in segments if s.label not in (SIL, "sil", "sp", "<sil>")]


def boundaries(segments: list[Segment]) -> list[float]:
    """Sorted interior boundary times (seconds) between consecutive segments: each segment's start
    except the first, plus the end of a segment followed by a gap."""
    segs = sorted(segments, key=lambda s: s.start)
    out: list[float] = []
    for i, s in enumerate(segs):
        if i > 0:
            out.append(float(s.start))
            if segs[i - 1].end < s.start - 1e-6:
                out.append(float(segs[i - 1].end))
    return sorted(out)
