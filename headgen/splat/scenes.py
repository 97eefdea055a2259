"""Old path of ``headgen.testing.scenes`` (kept for this session's parallel work; to be removed)."""
from headgen.testing.scenes import random_scene  # noqa: F401
