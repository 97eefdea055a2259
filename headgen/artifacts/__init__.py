"""Artifact formats: one module per file format that stages exchange (``pose.json``, ``fit.npz``, ...).

Each module holds the schema documentation, one writer and one complete reader returning a typed
object. Stages meet only through these: no stage parses another stage's file by hand.
"""


def require_finite(arrays: dict, keys, where: str, per_frame=()) -> None:
    """InputError ``'<where>: non-finite values (NaN/inf) in <key>'`` for the first of ``keys`` whose array in
    ``arrays`` (name -> array-like) holds a NaN or inf; for the keys in ``per_frame`` (axis 0 = frames) the message
    adds the first such frame."""
    import numpy as np

    from headgen.errors import InputError

    for k in keys:
        bad = ~np.isfinite(np.asarray(arrays[k], np.float64))
        if bad.any():
            at = f" (frame {int(np.argwhere(bad)[0][0])})" if k in per_frame else ""
            raise InputError(f"{where}: non-finite values (NaN/inf) in {k}{at}")
