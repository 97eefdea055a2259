// Host launcher of the CUDA triangle rasteriser (cuda/raster_cuda.cu), wrapped for torch by
// hg_cuda::mesh_raster (cuda/torch_ops.cpp); the CPU rasteriser is hg_cpu::mesh_raster (ops.h).
#pragma once
#include <torch/extension.h>
#include <vector>

// The caller sets the current device; `stream` is the cudaStream_t to launch on. Same outputs as mesh_raster.
std::vector<torch::Tensor> raster_forward_cuda_impl(torch::Tensor verts_screen, torch::Tensor faces, int64_t height,
                                                    int64_t width, double znear, void* stream);
