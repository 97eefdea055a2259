"""Streaming video reading and writing through imageio-ffmpeg's bundled ffmpeg.

Reading: any file ffmpeg decodes (mp4/h264, mpg/MPEG-1, mkv, webm, avi...). ``VideoReader``
iterates decoded RGB frames from an ffmpeg pipe, so a long video never sits in memory whole.
Frames come at the stream's nominal constant rate (ffmpeg duplicates/drops frames of variable
frame-rate input to that rate); frame ``i`` is shown at ``timestamps_for(i) = i / fps`` seconds.

Writing: ``VideoWriter`` pipes frames to ffmpeg's stdin (H.264, yuv420p, CRF quality) into
``<out>.tmp.v.mp4``; on close it muxes the audio (a media file's first audio track or a numpy
array, AAC) trimmed or padded with silence to exactly the video duration (n_frames / fps), writes
``<out stem>.tmp.mp4`` and renames it over the final name. Nothing is left under the final name if
anything fails (temporary files are removed on error).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from headgen.errors import HeadgenError, InputError
from headgen.io._ffmpeg import MediaInfo, ffmpeg_exe, probe, run_ffmpeg

__all__ = ["MediaInfo", "probe_video", "VideoReader", "read_video", "VideoWriter", "write_video",
           "to_uint8_rgb"]


def probe_video(path: str | Path) -> MediaInfo:
    """Probe ``path`` -> MediaInfo (fps, size (w, h), duration s, n_frames estimate, has_audio...).

    Raises InputError naming the file if it is missing, unreadable or has no video stream.
    """
    info = probe(path)
    if not info.has_video:
        raise InputError(f"{path}: no video stream (ffmpeg found "
                         f"{'only audio' if info.has_audio else 'no streams: empty or zero-length file'})")
    if info.width <= 0 or info.height <= 0:
        raise InputError(f"{path}: cannot determine the video frame size (codec {info.video_codec!r})")
    return info


class VideoReader:
    """Iterate the frames of a video without loading it whole.

    ``with VideoReader(path) as r: for frame in r: ...`` -> frame (H, W, 3) uint8 RGB.
    Attributes: fps (float), size (w, h), width, height, duration (s), n_frames (estimate from
    probing; exact once an iteration has finished), has_audio, info (MediaInfo).
    max_frames: stop after this many frames. Iterating again restarts from the first frame.
    Raises InputError naming the file when it is unreadable or decodes to zero frames.
    """

    def __init__(self, path: str | Path, max_frames: int | None = None):
        self.path = Path(path)
        self.info = probe_video(self.path)
        self.fps = float(self.info.fps) if self.info.fps > 0 else 25.0
        self.width, self.height = self.info.width, self.info.height
        self.duration = self.info.duration
        self.n_frames = self.info.n_frames
        self.has_audio = self.info.has_audio
        self.max_frames = max_frames
        self._gen = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.width, self.height)

    def timestamps_for(self, i):
        """Presentation time in seconds (from the first frame) of frame index ``i`` (int or array)."""
        if np.isscalar(i):
            return float(i) / self.fps
        return np.asarray(i, dtype=np.float64) / self.fps

    def timestamps(self, n: int | None = None) -> np.ndarray:
        """Times (n,) float64 seconds of the first ``n`` frames (default: n_frames)."""
        return np.arange(self.n_frames if n is None else n, dtype=np.float64) / self.fps

    def __iter__(self):
        import imageio_ffmpeg

        self.close()
        try:
            gen = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24",
                                             input_params=["-nostdin"], output_params=["-an"])
            meta = next(gen)
        except (OSError, RuntimeError, StopIteration) as e:
            raise InputError(f"{self.path}: ffmpeg cannot decode this video ({e})") from e
        self._gen = gen
        w, h = meta.get("size") or self.size
        if self.info.rotation in (90, 270):  # ffmpeg autorotates; imageio reports the coded size
            w, h = self.info.width, self.info.height
        self.width, self.height = int(w), int(h)
        nbytes = self.width * self.height * 3
        count = 0
        try:
            for buf in gen:
                if len(buf) != nbytes:
                    break
                yield np.frombuffer(buf, dtype=np.uint8).reshape(self.height, self.width, 3).copy()
                count += 1
                if self.max_frames is not None and count >= self.max_frames:
                    break
            else:
                self.n_frames = count
        except (OSError, RuntimeError) as e:
            if count == 0:
                raise InputError(f"{self.path}: ffmpeg cannot decode this video ({e})") from e
        finally:
            self.close()
        if count == 0 and self.max_frames != 0:
            raise InputError(f"{self.path}: the video has zero decodable frames")

    def read(self) -> np.ndarray:
        """All (remaining up to max_frames) frames as (T, H, W, 3) uint8. Loads them in memory."""
        frames = list(self)
        return np.stack(frames) if frames else np.zeros((0, self.height, self.width, 3), np.uint8)

    def close(self) -> None:
        """Stop the ffmpeg subprocess of an unfinished iteration."""
        if self._gen is not None:
            try:
                self._gen.close()
            except Exception:
                pass
            self._gen = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n_frames if self.max_frames is None else min(self.n_frames, self.max_frames)


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video whole -> (frames (T, H, W, 3) uint8 RGB, fps). For long videos iterate a
    ``VideoReader`` instead. InputError naming the file on unreadable/empty input."""
    with VideoReader(path, max_frames=max_frames) as r:
        return r.read(), r.fps


def to_uint8_rgb(frame) -> np.ndarray:
    """A frame (H, W, 3|4) or (H, W), uint8 or float in [0, 1], numpy or torch -> (H, W, 3) uint8."""
    if hasattr(frame, "detach"):
        frame = frame.detach().cpu().numpy()
    f = np.asarray(frame)
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a (H, W, 3) image, got shape {f.shape}")
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    f = f[:, :, :3]
    if f.dtype != np.uint8:
        f = (np.clip(f.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(f)


def _tmp_name(path: Path, tag: str) -> Path:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.{tag}{path.suffix or '.mp4'}")


class VideoWriter:
    """Write an H.264 (yuv420p) mp4, streaming frames to ffmpeg, with optional AAC audio in sync.

    path: final file (written atomically: ``<stem>.tmp.mp4`` then ``os.replace``).
    fps: frame rate. crf/preset: x264 quality/speed.
    audio: None, a media file path (its first audio track, e.g. the source video's), or a numpy
      array (N,) / (N, C) of float samples in [-1, 1] (then ``sample_rate`` is required).
    audio_offset: seconds skipped at the start of the audio source.
    audio_policy: "fit" (default) trims or pads the audio with silence to the video duration
      n_frames / fps; "strict" raises InputError naming the audio source when its length
      differs from the video's by more than ``audio_tolerance`` seconds (default: one frame).
    ``w.write(frame)``: (H, W, 3) uint8 RGB or float in [0, 1] (numpy or torch); all frames the
    same size (odd sizes are padded to even for yuv420p). ``w.write_batch(frames)`` for (T, H, W, 3).
    """

    def __init__(self, path: str | Path, fps: float, audio=None, sample_rate: int | None = None,
                 audio_offset: float = 0.0, crf: int = 18, preset: str = "veryfast",
                 audio_policy: str = "fit", audio_tolerance: float | None = None):
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if audio_policy not in ("fit", "strict"):
            raise ValueError(f"audio_policy must be 'fit' or 'strict', got {audio_policy!r}")
        self.path = Path(path)
        self.fps = float(fps)
        self.audio = audio
        self.sample_rate = sample_rate
        self.audio_offset = float(audio_offset)
        self.crf, self.preset = int(crf), preset
        self.audio_policy = audio_policy
        self.audio_tolerance = audio_tolerance
        if audio is not None and not isinstance(audio, (str, os.PathLike)):
            if sample_rate is None:
                raise ValueError("VideoWriter: audio given as an array needs sample_rate")
            a = np.asarray(audio)
            if a.ndim not in (1, 2) or a.shape[0] == 0:
                raise InputError(f"audio array: expected (N,) or (N, C) samples with N > 0, got {a.shape}")
        elif audio is not None:
            from headgen.io.audio import probe_audio

            probe_audio(audio)  # fail early: missing file / no audio track
        self.n_frames = 0
        self.size: tuple[int, int] | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._tmp_video = _tmp_name(self.path, "tmp.v")
        self._tmp_audio = self.path.with_name(self.path.name + ".tmp.a.wav")
        self._tmp_final = _tmp_name(self.path, "tmp")
        self._closed = False

    # -- frames ------------------------------------------------------------------------------
    def _start(self, w: int, h: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (w, h)
        rate = Fraction(self.fps).limit_denominator(1001)
        self._stderr = tempfile.TemporaryFile()
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(rate),
               "-i", "pipe:0", "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
               "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
               "-pix_fmt", "yuv420p", "-r", str(rate), "-movflags", "+faststart", str(self._tmp_video)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._stderr)

    def _ffmpeg_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return " | ".join(self._stderr.read().decode(errors="replace").strip().splitlines()[-4:])

    def write(self, frame) -> None:
        """Append one frame (H, W, 3) uint8 RGB or float [0, 1] (numpy or torch)."""
        if self._closed:
            raise RuntimeError(f"VideoWriter({self.path}) is closed")
        f = to_uint8_rgb(frame)
        h, w = f.shape[:2]
        if self._proc is None:
            self._start(w, h)
        elif (w, h) != self.size:
            raise ValueError(f"{self.path}: frame {self.n_frames} is {w}x{h}, earlier frames {self.size[0]}x{self.size[1]}")
        try:
            self._proc.stdin.write(f.tobytes())
        except (BrokenPipeError, OSError) as e:
            raise HeadgenError(f"{self.path}: ffmpeg stopped while writing ({self._ffmpeg_stderr() or e})") from e
        self.n_frames += 1

    def write_batch(self, frames) -> None:
        """Append frames (T, H, W, 3)."""
        for f in frames:
            self.write(f)

    # -- finish ------------------------------------------------------------------------------
    def _cleanup(self) -> None:
        for p in (self._tmp_video, self._tmp_audio, self._tmp_final):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def abort(self) -> None:
        """Stop ffmpeg and delete temporary files; nothing is written under the final name."""
        self._closed = True
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except Exception:
                pass
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._cleanup()

    def close(self) -> Path:
        """Finish encoding, mux the audio and rename to the final path. Returns the path."""
        if self._closed:
            return self.path
        try:
            if self._proc is None or self.n_frames == 0:
                raise HeadgenError(f"{self.path}: no frames were written")
            self._proc.stdin.close()
            rc = self._proc.wait()
            if rc != 0:
                raise HeadgenError(f"{self.path}: ffmpeg failed encoding ({self._ffmpeg_stderr()})")
            self._proc = None
            if self.audio is None:
                os.replace(self._tmp_video, self._tmp_final)
            else:
                self._mux_audio()
            os.replace(self._tmp_final, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._cleanup()
        return self.path

    def _mux_audio(self) -> None:
        dur = self.n_frames / self.fps
        if isinstance(self.audio, (str, os.PathLike)):
            from headgen.io.audio import probe_audio

            src, name = str(self.audio), str(self.audio)
            adur = max(0.0, probe_audio(src).duration - self.audio_offset)
        else:
            from headgen.io.audio import write_audio

            a = np.asarray(self.audio)
            a = a[int(round(self.audio_offset * self.sample_rate)):]
            adur = a.shape[0] / float(self.sample_rate)
            write_audio(self._tmp_audio, a, int(self.sample_rate))
            src, name = str(self._tmp_audio), "audio array"
        tol = self.audio_tolerance if self.audio_tolerance is not None else 1.0 / self.fps
        if self.audio_policy == "strict" and abs(adur - dur) > tol:
            raise InputError(f"{name if name != 'audio array' else 'audio array'}: audio lasts {adur:.3f} s "
                             f"but the video {dur:.3f} s ({self.n_frames} frames at {self.fps:g} fps); "
                             f"use audio_policy='fit' to trim/pad")
        args = ["-y", "-i", str(self._tmp_video)]
        if self.audio_offset and isinstance(self.audio, (str, os.PathLike)):
            args += ["-ss", f"{self.audio_offset:.6f}"]
        args += ["-i", src, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                 "-af", f"apad=whole_dur={dur:.6f},atrim=end={dur:.6f}", "-c:a", "aac", "-b:a", "160k",
                 "-t", f"{dur:.6f}", "-movflags", "+faststart", str(self._tmp_final)]
        run_ffmpeg(args, what=f"{self.path} (muxing audio from {name})")

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self):  # an unclosed writer must not leave temporary files behind
        if not getattr(self, "_closed", True) and getattr(self, "_proc", None) is not None:
            try:
                self.abort()
            except Exception:
                pass


def write_video(path: str | Path, frames, fps: float, audio=None, sample_rate: int | None = None,
                **kwargs) -> Path:
    """Write frames (T, H, W, 3) (uint8 or float [0, 1]) or an iterable of frames to an mp4 with
    optional audio (see VideoWriter). Returns the path."""
    with VideoWriter(path, fps, audio=audio, sample_rate=sample_rate, **kwargs) as w:
        for f in frames:
            w.write(f)
    return Path(path)
