// Host entry points of the triangle rasteriser (CPU: cpu/raster_cpu.cpp, CUDA: cuda/raster_cuda.cu).
#pragma once
#include <torch/extension.h>
#include <vector>

// verts_screen (B, V, 3) float32 (x_px, y_px, z), faces (F, 3) int32 ->
// {tri_id (B, H, W) int32 (-1 background), depth (B, H, W) float32 (0 background),
//  bary (B, H, W, 3) float32 perspective-correct (0 background)}.
std::vector<torch::Tensor> raster_forward_cpu(torch::Tensor verts_screen, torch::Tensor faces, int64_t height,
                                              int64_t width, double znear, int64_t tile_rows);
// CUDA: the caller sets the current device; `stream` is the cudaStream_t to launch on.
std::vector<torch::Tensor> raster_forward_cuda_impl(torch::Tensor verts_screen, torch::Tensor faces, int64_t height,
                                                    int64_t width, double znear, void* stream);
