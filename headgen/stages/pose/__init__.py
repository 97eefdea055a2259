"""The ``pose`` stage: head pose (yaw/pitch/roll, rotation, translation, landmarks) for images and videos.

Modules: ``solver`` (Procrustes + PnP + depth prior), ``smoothing`` (One-Euro per track),
``estimator`` (per-frame pipeline), ``estimate`` (inputs -> pose.json + viz; schema in
``headgen.artifacts.pose``), ``viz`` (drawing), ``params`` (PoseParams, the one declaration of the options),
``stage`` (PoseStage), ``cli`` (``headgen pose``).
The known-pose render harness of the accuracy test and bench is ``headgen.testing.known_pose``.
"""
