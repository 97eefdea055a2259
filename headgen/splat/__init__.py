"""3D Gaussian splatting rasteriser: ``rasterize()`` (gsplat-style) with backends "cuda", "cpu" (ours,
shared HG_HD math in cuda_ext/include/splat_math.h), "gsplat" and "torch" (readable reference)."""
from headgen.splat.rasterize import RASTERIZE_MODES, RENDER_MODES, rasterize

__all__ = ["rasterize", "RENDER_MODES", "RASTERIZE_MODES"]
