"""Fixtures that tests and benchmarks share (not used by the library itself): synthetic Gaussian scenes
(``scenes``), random FLAME-format models (``flame``), the known-pose render harness of the pose stage
(``known_pose``), an avatar painted with known skin and hair colours (``avatars``)."""
