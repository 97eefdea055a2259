"""Our rasteriser: the ``mesh_raster`` op of the headgen extension (``headgen.ext``), C++/OpenMP on CPU
(cuda_ext/cpu/raster_cpu.cpp), CUDA kernels on GPU (cuda_ext/cuda/raster_cuda.cu)."""
from __future__ import annotations

import torch

from headgen.ext import ops

TILE_ROWS = 8


def raster(verts_screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, znear: float):
    """Backend function (see headgen.render.backends), on the device of ``verts_screen``. The extension
    shares torch's OpenMP runtime (same libgomp.so.1), so torch.set_num_threads / OMP_NUM_THREADS apply
    to it; on an oversubscribed machine start Python with OMP_WAIT_POLICY=passive (spinning threads stall)."""
    module = ops(cuda=verts_screen.is_cuda)
    return module.mesh_raster(verts_screen.float().contiguous(), faces.int().contiguous(), height, width, znear,
                              TILE_ROWS)
