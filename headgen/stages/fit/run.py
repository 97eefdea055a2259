"""Old import path of the fit stage's core, kept for code written before the issue-12 refactor (to be
removed): use ``headgen.stages.fit.fitting.fit_media``, ``headgen.stages.fit.tracks`` (Track,
detect_track) and ``headgen.stages.fit.stage.FitParams``."""
from __future__ import annotations

from typing import Optional

from headgen.stages.fit.fitting import FitRunResult, load_model  # noqa: F401
from headgen.stages.fit.fitting import fit_media as _fit_media
from headgen.stages.fit.params import FitParams
from headgen.stages.fit.tracks import Track, detect_track, track_from_pose  # noqa: F401


class FitOptions(FitParams):
    """The old options object: FitParams plus ``overlay`` and ``threads`` (call arguments of fit_media)."""
    overlay: bool = True
    threads: Optional[int] = None


def fit_media(media, out_dir, opts: FitParams | None = None, **kw) -> FitRunResult:
    """``headgen.stages.fit.fitting.fit_media`` accepting the old FitOptions."""
    if isinstance(opts, FitOptions):
        kw.setdefault("overlay", opts.overlay)
        kw.setdefault("threads", opts.threads)
        opts = FitParams(**opts.model_dump(exclude={"overlay", "threads"}))
    return _fit_media(media, out_dir, opts, **kw)
