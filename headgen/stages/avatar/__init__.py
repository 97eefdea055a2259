"""The avatar stage: train a rigged Gaussian head avatar from a video (or build one from a photo); see run.py."""
