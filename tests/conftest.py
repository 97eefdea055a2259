"""Shared test fixtures."""
import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Many tiny ops: one intra-op thread is much faster than two on a loaded CI machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def grid_clip():
    """The first real GRID talking-face clip of the shared assets (skips when they are missing)."""
    from headgen.assets import AssetMissingError, sample_videos

    try:
        return sample_videos()[0]
    except (AssetMissingError, IndexError):  # pragma: no cover
        pytest.skip("GRID sample clips missing")
