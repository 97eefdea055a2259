"""Low-level access to imageio-ffmpeg's bundled ffmpeg: the executable, stream probing by
parsing ``ffmpeg -i`` output, and running a command with its errors turned into InputError."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from headgen.errors import InputError


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (or $IMAGEIO_FFMPEG_EXE)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaInfo:
    """What ``ffmpeg -i`` says about a media file.

    fps: video frame rate (0 when there is no video stream); width/height: pixels of the decoded
    frames (after the container's rotation is NOT applied: ffmpeg autorotates when decoding, so
    width/height are swapped here for 90/270 degree rotations); duration: seconds (0 if unknown);
    n_frames: best estimate round(duration * fps) (exact only after decoding, see
    ``VideoReader``); has_video/has_audio; codec names; audio_sample_rate/audio_channels (0 if none).
    """
    path: Path
    has_video: bool
    has_audio: bool
    fps: float
    width: int
    height: int
    duration: float
    n_frames: int
    video_codec: str
    audio_codec: str
    audio_sample_rate: int
    audio_channels: int
    rotation: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.width, self.height)


_DUR_RE = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO_RE = re.compile(r"Stream #\d+:\d+.*?: Video: ([^\s,]+)(.*)")
_AUDIO_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: ([^\s,]+)(.*)")
_SIZE_RE = re.compile(r",\s*(\d{2,5})x(\d{2,5})[\s,]")
_FPS_RE = re.compile(r"([\d.]+)(k?) fps")
_TBR_RE = re.compile(r"([\d.]+)(k?) tbr")
_SR_RE = re.compile(r"(\d+) Hz")
_ROT_RE = re.compile(r"(?:rotate\s*:\s*|rotation of )(-?[\d.]+)")


def _num(m: re.Match | None) -> float:
    if m is None:
        return 0.0
    v = float(m.group(1))
    return v * 1000.0 if m.group(2) == "k" else v


def probe(path: str | Path) -> MediaInfo:
    """Probe a media file with ``ffmpeg -i`` (no decoding) -> MediaInfo.

    Raises InputError naming the file if it does not exist or ffmpeg cannot open it.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a media file")
    r = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                       capture_output=True, text=True, errors="replace")
    text = r.stderr
    if "Input #0" not in text:
        last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
        raise InputError(f"{path}: ffmpeg cannot read this file ({last})")
    dur_m = _DUR_RE.search(text)
    duration = (int(dur_m.group(1)) * 3600 + int(dur_m.group(2)) * 60 + float(dur_m.group(3))) if dur_m else 0.0
    has_video = has_audio = False
    fps = 0.0
    width = height = 0
    vcodec = acodec = ""
    sr = ch = 0
    for line in text.splitlines():
        vm = _VIDEO_RE.search(line)
        if vm and not has_video and "attached pic" not in line:
            has_video = True
            vcodec = vm.group(1)
            rest = vm.group(2) + " "
            sm = _SIZE_RE.search(rest)
            if sm:
                width, height = int(sm.group(1)), int(sm.group(2))
            fps = _num(_FPS_RE.search(rest)) or _num(_TBR_RE.search(rest))
            continue
        am = _AUDIO_RE.search(line)
        if am and not has_audio:
            has_audio = True
            acodec = am.group(1)
            rest = am.group(2)
            srm = _SR_RE.search(rest)
            sr = int(srm.group(1)) if srm else 0
            if "mono" in rest:
                ch = 1
            elif "stereo" in rest:
                ch = 2
            else:
                cm = re.search(r"(\d+) channels", rest)
                ch = int(cm.group(1)) if cm else 0
    rot = 0
    rm = _ROT_RE.search(text)
    if rm:
        rot = int(round(float(rm.group(1)))) % 360
        if rot in (90, 270):
            width, height = height, width
    n_frames = int(duration * fps + 0.5) if (has_video and fps > 0) else 0
    return MediaInfo(path=path, has_video=has_video, has_audio=has_audio, fps=fps, width=width,
                     height=height, duration=duration, n_frames=n_frames, video_codec=vcodec,
                     audio_codec=acodec, audio_sample_rate=sr, audio_channels=ch, rotation=rot)


def run_ffmpeg(args: list[str], what: str, stdin: bytes | None = None) -> bytes:
    """Run ffmpeg with ``args`` (no leading exe) and return stdout bytes; on failure raise
    InputError('<what>: ffmpeg failed: <last stderr lines>')."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    r = subprocess.run(cmd, input=stdin, capture_output=True)
    if r.returncode != 0:
        tail = " | ".join(r.stderr.decode(errors="replace").strip().splitlines()[-4:])
        raise InputError(f"{what}: ffmpeg failed ({tail or 'exit code %d' % r.returncode})")
    return r.stdout
