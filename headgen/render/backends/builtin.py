"""The builtin rasteriser: C++/OpenMP on CPU, CUDA kernels on GPU (cuda_ext/*/raster_*)."""
from __future__ import annotations

import torch

from headgen.ext import load_extension

CPU_SOURCES = ("cpu/raster_cpu.cpp", "raster_bindings.cpp")
CUDA_SOURCES = ("cpu/raster_cpu.cpp", "cuda/raster_cuda.cu", "raster_bindings_cuda.cpp")
TILE_ROWS = 8


def extension(cuda: bool = False):
    """Build (once, cached) and return the rasteriser extension module. It shares torch's OpenMP
    runtime (same libgomp.so.1), so torch.set_num_threads / OMP_NUM_THREADS apply to it; on an
    oversubscribed machine start Python with OMP_WAIT_POLICY=passive (spinning threads stall)."""
    if cuda:
        return load_extension("headgen_raster_cuda", CUDA_SOURCES, cuda=True)
    return load_extension("headgen_raster_cpu", CPU_SOURCES)


def raster(verts_screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, znear: float):
    """Backend function (see headgen.render.backends)."""
    if verts_screen.is_cuda:
        tri_id, depth, bary = extension(True).raster_forward_cuda(verts_screen.float().contiguous(),
                                                                 faces.int().contiguous(), height, width, znear)
        return tri_id, depth, bary
    tri_id, depth, bary = extension(False).raster_forward(verts_screen.float().contiguous(),
                                                          faces.int().contiguous(), height, width, znear, TILE_ROWS)
    return tri_id, depth, bary
