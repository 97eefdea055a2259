"""Parametric head models behind one interface (:class:`HeadModel`), plus the pure LBS functions.

>>> from headgen.models import load_head_model
>>> model = load_head_model("ict", parts="face")              # ICT-FaceKit (default, MIT, shipped asset)
>>> model = load_head_model("flame", path="FLAME2020/generic_model.pkl")   # user-supplied FLAME
>>> out = model(shape=beta, expression=psi, rotation=aa, translation=t)   # out.vertices (B, V, 3) metres
"""
from __future__ import annotations

import importlib

import torch

from headgen.errors import InputError
from headgen.models.base import LANDMARK_SETS, HeadModel, HeadOutput

__all__ = ["load_head_model", "HeadModel", "HeadOutput", "LANDMARK_SETS", "MODEL_NAMES"]

MODEL_NAMES = ("ict", "flame")


def load_head_model(name: str = "ict", *, path=None, parts: str | list | None = None, device="cpu",
                    dtype: torch.dtype = torch.float32, mediapipe: bool = False, **kwargs) -> HeadModel:
    """Load a head model as a torch module on ``device``.

    name: "ict" (ICT-FaceKit Light, default) or "flame". path: the model file (ICT: defaults to the
    shipped asset; FLAME: required, a FLAME 2020/2023 ``.pkl`` or the folder holding it). parts: "face",
    "head" or "full" (ICT also takes a list of component names; default "face" for ICT, "full" for FLAME).
    mediapipe: also register the 468-point MediaPipe embedding (``out.landmarks468``): for FLAME from
    ``mediapipe_landmark_embedding.npz`` beside the model; for ICT through
    ``headgen.models.embedding.load_or_compute_mediapipe_embedding(model)`` when that module exists.
    Other keyword arguments go to the model class (``ICTFaceKit`` / ``FLAME``).
    Raises InputError for an unknown name or a bad/missing file.
    """
    key = str(name).lower()
    if key == "ict":
        from headgen.models.ict import ICTFaceKit
        model = ICTFaceKit(parts=parts or "face", path=path, dtype=dtype, device=device, **kwargs)
    elif key == "flame":
        from headgen.models.flame import FLAME
        if path is None:
            raise InputError("the FLAME model is not shipped (license): pass path= to FLAME 2020/2023 "
                             "generic_model.pkl (or its folder) from https://flame.is.tue.mpg.de")
        model = FLAME(path, parts=parts or "full", dtype=dtype, device=device, **kwargs)
    else:
        raise InputError(f"unknown head model {name!r}; choose one of {MODEL_NAMES}")
    if mediapipe and not model.has_landmarks("mediapipe"):
        _attach_mediapipe(model)
    return model


def _attach_mediapipe(model: HeadModel) -> None:
    """Register the MediaPipe embedding through ``headgen.models.embedding`` when it is available."""
    try:
        emb = importlib.import_module("headgen.models.embedding")
    except ModuleNotFoundError as e:
        if e.name == "headgen.models.embedding":
            return
        raise
    fn = getattr(emb, "load_or_compute_mediapipe_embedding", None)
    if fn is None:
        return
    res = fn(model)
    if res is not None and not model.has_landmarks("mediapipe"):
        if isinstance(res, dict):
            model.set_landmark_embedding("mediapipe", res["face_ids"], res["bary"], indices=res.get("indices"))
        else:
            model.set_landmark_embedding("mediapipe", *res)
