"""Artifact formats: one module per file format that stages exchange (``pose.json``, ``fit.npz``, ...).

Each module holds the schema documentation, one writer and one complete reader returning a typed
object. Stages meet only through these: no stage parses another stage's file by hand.
"""
