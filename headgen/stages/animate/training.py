"""Training pairs from fitted talking videos, for the audio model and for speaker style."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def training_pair(fit_path, media, log=lambda m: None):
    """fit.npz + its video -> (features (T,80) tensor, target (T,52) speech movement: fitted ARKit minus the
    resting mouth, clipped to [0,1]). The rest is the fitted expression in the quietest frames."""
    from headgen.artifacts.fit import read_fit
    from headgen.errors import InputError
    from headgen.io.audio import read_audio
    from headgen.stages.animate.audio_model import audio_features
    from headgen.stages.animate.prosody import speech_level
    from headgen.stages.animate.speech import frame_energy_db
    from headgen.stages.animate.style import fit_to_arkit, rest_expression

    fit = read_fit(fit_path)
    if not fit.fps > 0:
        raise InputError(f"{fit_path}: needs a fitted video (fps > 0)")
    x, sr = read_audio(media, 16000)
    T = fit.n_frames
    feats = audio_features(x, sr, fit.fps, T)
    arkit = fit_to_arkit(fit)
    lvl = speech_level(frame_energy_db(x, sr, fit.fps, T))
    target = np.clip(arkit - rest_expression(arkit, lvl), 0, 1)
    return feats, target


def train_from_fits(fits, media, out, steps: int = 400, width: int = 64, seed: int = 0, log=print):
    """Train ``AudioToArkit`` on fit.npz/video pairs and save it to ``out`` -> the model."""
    from headgen.stages.animate.audio_model import save_audio_model, train_audio_model

    pairs = [training_pair(f, m) for f, m in zip(fits, media)]
    model = train_audio_model(pairs, steps=steps, width=width, seed=seed, log=log)
    save_audio_model(out, model, meta={"fits": [str(Path(f)) for f in fits], "steps": steps, "seed": seed})
    return model
