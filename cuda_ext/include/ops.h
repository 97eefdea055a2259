// The torch-level ops of the headgen extension, declared once for both backends: hg_cpu:: (cpu/*.cpp,
// every build) and hg_cuda:: (cuda/torch_ops.cpp, CUDA builds only). bindings.cpp registers each name
// once and sends a call to the backend of its first tensor argument's device.
#pragma once
#include <torch/extension.h>

#include <vector>

#define HG_DECLARE_OPS                                                                                        \
    /* Gaussian splatting (shapes in splat_cuda.h; the CPU backend also takes float64) */                    \
    std::vector<torch::Tensor> project_fwd(torch::Tensor means, torch::Tensor quats, torch::Tensor scales,   \
                                           torch::Tensor opacities, torch::Tensor viewmats, torch::Tensor Ks, \
                                           int64_t width, int64_t height, double eps2d, double near_plane,    \
                                           double far_plane, double radius_clip, bool antialiased);           \
    std::vector<torch::Tensor> project_bwd(torch::Tensor means, torch::Tensor quats, torch::Tensor scales,   \
                                           torch::Tensor viewmats, torch::Tensor Ks, torch::Tensor radii,     \
                                           int64_t width, int64_t height, double eps2d, double near_plane,    \
                                           double far_plane, double radius_clip, bool antialiased,            \
                                           torch::Tensor v_means2d, torch::Tensor v_depths,                   \
                                           torch::Tensor v_conics, torch::Tensor v_comps);                    \
    torch::Tensor sh_fwd(int64_t degree, torch::Tensor dirs, torch::Tensor coeffs);                           \
    std::vector<torch::Tensor> sh_bwd(int64_t degree, torch::Tensor dirs, torch::Tensor coeffs,              \
                                      torch::Tensor v_colors, bool need_dirs);                                \
    std::vector<torch::Tensor> bin_tiles(torch::Tensor means2d, torch::Tensor radii, torch::Tensor depths,   \
                                         int64_t tile_size, int64_t tiles_w, int64_t tiles_h);                \
    std::vector<torch::Tensor> raster_fwd(torch::Tensor means2d, torch::Tensor conics, torch::Tensor colors, \
                                          torch::Tensor opacities, torch::Tensor backgrounds, int64_t width,  \
                                          int64_t height, int64_t tile_size, torch::Tensor tile_offsets,      \
                                          torch::Tensor flatten_ids);                                         \
    std::vector<torch::Tensor> raster_bwd(torch::Tensor means2d, torch::Tensor conics, torch::Tensor colors, \
                                          torch::Tensor opacities, int64_t width, int64_t height,             \
                                          int64_t tile_size, torch::Tensor tile_offsets,                      \
                                          torch::Tensor flatten_ids, torch::Tensor render,                    \
                                          torch::Tensor alpha, torch::Tensor last, torch::Tensor v_render,    \
                                          torch::Tensor v_alpha);                                             \
    /* triangle rasteriser: verts_screen (B, V, 3) float32 (x_px, y_px, z), faces (F, 3) int32 ->          \
       {tri_id (B, H, W) int32 (-1 background), depth (B, H, W), bary (B, H, W, 3)}; tile_rows: CPU band  \
       height (ignored on CUDA) */                                                                            \
    std::vector<torch::Tensor> mesh_raster(torch::Tensor verts_screen, torch::Tensor faces, int64_t height,   \
                                           int64_t width, double znear, int64_t tile_rows);

namespace hg_cpu {
HG_DECLARE_OPS
}  // namespace hg_cpu

#ifdef HG_WITH_CUDA
namespace hg_cuda {
HG_DECLARE_OPS
}  // namespace hg_cuda
#endif
