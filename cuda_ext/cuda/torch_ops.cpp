// The CUDA backend's torch ops (ops.h, namespace hg_cuda; built only with -DHG_WITH_CUDA, i.e. with a CUDA
// torch): device guard, current stream and output allocation around the plain-CUDA launchers of
// cuda/splat_cuda.cu and cuda/raster_cuda.cu. float32 only.
#include <torch/extension.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <vector>

#include "ops.h"
#include "raster_api.h"
#include "splat_cuda.h"
#include "splat_math.h"

namespace hg_cuda {

void check_cuda(const torch::Tensor &t, const char *name) {
    TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor");
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
    TORCH_CHECK(t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kInt32, name,
                " must be float32 (int32 for indices)");
}

void *stream() { return (void *)c10::cuda::getCurrentCUDAStream().stream(); }


std::vector<torch::Tensor> project_fwd(torch::Tensor means, torch::Tensor quats, torch::Tensor scales,
                                       torch::Tensor opacities, torch::Tensor viewmats, torch::Tensor Ks,
                                       int64_t width, int64_t height, double eps2d, double near_plane,
                                       double far_plane, double radius_clip, bool antialiased) {
    check_cuda(means, "means"); check_cuda(quats, "quats"); check_cuda(scales, "scales");
    check_cuda(viewmats, "viewmats"); check_cuda(Ks, "Ks");
    const bool has_op = opacities.numel() > 0;
    if (has_op) check_cuda(opacities, "opacities");
    const c10::cuda::CUDAGuard guard(means.device());
    const int64_t N = means.size(0), C = viewmats.size(0);
    auto opts = means.options();
    // every output element is written by the kernel (culled Gaussians get zeros)
    auto radii = torch::empty({C, N, 2}, opts.dtype(torch::kInt32));
    auto means2d = torch::empty({C, N, 2}, opts);
    auto depths = torch::empty({C, N}, opts);
    auto conics = torch::empty({C, N, 3}, opts);
    auto comps = torch::empty({C, N}, opts);
    hgsplat_cuda::project_fwd(means.data_ptr<float>(), quats.data_ptr<float>(), scales.data_ptr<float>(),
                              has_op ? opacities.data_ptr<float>() : nullptr, viewmats.data_ptr<float>(),
                              Ks.data_ptr<float>(), (int)C, (int)N,
                              hgsplat::make_proj_params(width, height, eps2d, near_plane, far_plane, radius_clip, antialiased),
                              radii.data_ptr<int32_t>(), means2d.data_ptr<float>(), depths.data_ptr<float>(),
                              conics.data_ptr<float>(), comps.data_ptr<float>(), stream());
    return {radii, means2d, depths, conics, comps};
}

std::vector<torch::Tensor> project_bwd(torch::Tensor means, torch::Tensor quats, torch::Tensor scales,
                                       torch::Tensor viewmats, torch::Tensor Ks, torch::Tensor radii,
                                       int64_t width, int64_t height, double eps2d, double near_plane,
                                       double far_plane, double radius_clip, bool antialiased,
                                       torch::Tensor v_means2d, torch::Tensor v_depths, torch::Tensor v_conics,
                                       torch::Tensor v_comps) {
    const c10::cuda::CUDAGuard guard(means.device());
    const int64_t N = means.size(0), C = viewmats.size(0);
    auto v_means = torch::zeros_like(means), v_quats = torch::zeros_like(quats), v_scales = torch::zeros_like(scales);
    v_means2d = v_means2d.contiguous(); v_depths = v_depths.contiguous();
    v_conics = v_conics.contiguous(); v_comps = v_comps.contiguous();
    hgsplat_cuda::project_bwd(means.data_ptr<float>(), quats.data_ptr<float>(), scales.data_ptr<float>(),
                              viewmats.data_ptr<float>(), Ks.data_ptr<float>(), radii.data_ptr<int32_t>(), (int)C,
                              (int)N, hgsplat::make_proj_params(width, height, eps2d, near_plane, far_plane, radius_clip, antialiased),
                              v_means2d.data_ptr<float>(), v_depths.data_ptr<float>(), v_conics.data_ptr<float>(),
                              v_comps.data_ptr<float>(), v_means.data_ptr<float>(), v_quats.data_ptr<float>(),
                              v_scales.data_ptr<float>(), stream());
    return {v_means, v_quats, v_scales};
}

torch::Tensor sh_fwd(int64_t degree, torch::Tensor dirs, torch::Tensor coeffs) {
    check_cuda(dirs, "dirs"); check_cuda(coeffs, "coeffs");
    TORCH_CHECK(degree >= 0 && degree <= 3 && (degree + 1) * (degree + 1) <= coeffs.size(1), "bad sh degree");
    const c10::cuda::CUDAGuard guard(dirs.device());
    const int64_t C = dirs.size(0), N = dirs.size(1), K = coeffs.size(1);
    auto colors = torch::zeros({C, N, 3}, dirs.options());
    hgsplat_cuda::sh_fwd((int)degree, dirs.data_ptr<float>(), coeffs.data_ptr<float>(), (int)C, (int)N, (int)K,
                         colors.data_ptr<float>(), stream());
    return colors;
}

std::vector<torch::Tensor> sh_bwd(int64_t degree, torch::Tensor dirs, torch::Tensor coeffs, torch::Tensor v_colors,
                                  bool need_dirs) {
    const c10::cuda::CUDAGuard guard(dirs.device());
    const int64_t C = dirs.size(0), N = dirs.size(1), K = coeffs.size(1);
    auto v_coeffs = torch::zeros_like(coeffs), v_dirs = torch::zeros_like(dirs);
    v_colors = v_colors.contiguous();
    hgsplat_cuda::sh_bwd((int)degree, dirs.data_ptr<float>(), coeffs.data_ptr<float>(), v_colors.data_ptr<float>(),
                         (int)C, (int)N, (int)K, v_coeffs.data_ptr<float>(),
                         need_dirs ? v_dirs.data_ptr<float>() : nullptr, stream());
    return {v_coeffs, v_dirs};
}

// means2d (C,N,2), radii (C,N,2) int32, depths (C,N) -> tile_offsets (C*T+1,) int32, flatten_ids (n_isects,)
// int32 (c*N + g), each tile's run ordered front to back: the same arrays as the CPU module's bin_tiles.
std::vector<torch::Tensor> bin_tiles(torch::Tensor means2d, torch::Tensor radii, torch::Tensor depths,
                                     int64_t tile_size, int64_t tiles_w, int64_t tiles_h) {
    means2d = means2d.contiguous(); radii = radii.contiguous(); depths = depths.contiguous();
    check_cuda(means2d, "means2d"); check_cuda(radii, "radii"); check_cuda(depths, "depths");
    const c10::cuda::CUDAGuard guard(means2d.device());
    const int64_t C = means2d.size(0), N = means2d.size(1), CN = C * N, n_tiles = C * tiles_w * tiles_h;
    auto i32 = means2d.options().dtype(torch::kInt32), i64 = means2d.options().dtype(torch::kInt64);
    auto offsets = torch::zeros({n_tiles + 1}, i32);
    if (CN == 0) return {offsets, torch::empty({0}, i32)};
    auto counts = torch::empty({CN}, i32);
    hgsplat_cuda::bin_count(means2d.data_ptr<float>(), radii.data_ptr<int32_t>(), CN, (int)tile_size, (int)tiles_w,
                            (int)tiles_h, counts.data_ptr<int32_t>(), stream());
    auto cum = torch::cumsum(counts, 0, torch::kInt64);
    const int64_t n = cum[CN - 1].item<int64_t>();  // the one host sync: sizes the intersection arrays
    TORCH_CHECK(n < (int64_t)2147483647, "too many Gaussian/tile intersections for int32 indices");
    if (n == 0) return {offsets, torch::empty({0}, i32)};
    auto keys = torch::empty({2, n}, i64);  // the two buffers of the radix sort
    torch::Tensor ids[2] = {torch::empty({n}, i32), torch::empty({n}, i32)};  // only the sorted ids outlive the call
    auto *k0 = reinterpret_cast<uint64_t *>(keys.data_ptr<int64_t>()), *k1 = k0 + n;
    hgsplat_cuda::bin_emit(means2d.data_ptr<float>(), radii.data_ptr<int32_t>(), depths.data_ptr<float>(),
                           cum.data_ptr<int64_t>(), CN, (int)N, (int)tile_size, (int)tiles_w, (int)tiles_h, k0,
                           ids[0].data_ptr<int32_t>(), stream());
    int tile_bits = 0;
    while ((int64_t{1} << tile_bits) < n_tiles) ++tile_bits;
    const int end_bit = 32 + tile_bits;
    const size_t temp_bytes = hgsplat_cuda::bin_sort_temp_bytes(n, end_bit);
    auto temp = torch::empty({(int64_t)temp_bytes}, means2d.options().dtype(torch::kUInt8));
    const int sel = hgsplat_cuda::bin_sort(temp.data_ptr(), temp_bytes, k0, k1, ids[0].data_ptr<int32_t>(),
                                           ids[1].data_ptr<int32_t>(), n, end_bit, stream());
    hgsplat_cuda::bin_offsets(sel ? k1 : k0, n, n_tiles, offsets.data_ptr<int32_t>(), stream());
    return {offsets, ids[sel]};
}

std::vector<torch::Tensor> raster_fwd(torch::Tensor means2d, torch::Tensor conics, torch::Tensor colors,
                                      torch::Tensor opacities, torch::Tensor backgrounds, int64_t width, int64_t height,
                                      int64_t tile_size, torch::Tensor tile_offsets, torch::Tensor flatten_ids) {
    check_cuda(means2d, "means2d"); check_cuda(conics, "conics"); check_cuda(colors, "colors");
    check_cuda(opacities, "opacities"); check_cuda(tile_offsets, "tile_offsets"); check_cuda(flatten_ids, "flatten_ids");
    TORCH_CHECK((tile_size * tile_size) % 32 == 0 && tile_size <= 32, "CUDA backend: tile_size must be 8, 16, 24 or 32");
    const bool has_bg = backgrounds.numel() > 0;
    if (has_bg) check_cuda(backgrounds, "backgrounds");
    const c10::cuda::CUDAGuard guard(means2d.device());
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    auto opts = means2d.options();
    // every pixel is written by the kernel; render accumulates in place only when D > 4
    auto render = D > 4 ? torch::zeros({C, height, width, D}, opts) : torch::empty({C, height, width, D}, opts);
    auto alpha = torch::empty({C, height, width, 1}, opts);
    auto last = torch::empty({C, height, width}, opts.dtype(torch::kInt32));
    hgsplat_cuda::raster_fwd(means2d.data_ptr<float>(), conics.data_ptr<float>(), colors.data_ptr<float>(),
                             opacities.data_ptr<float>(), has_bg ? backgrounds.data_ptr<float>() : nullptr, (int)C,
                             (int)N, (int)D, (int)width, (int)height, (int)tile_size, tile_offsets.data_ptr<int32_t>(),
                             flatten_ids.data_ptr<int32_t>(), render.data_ptr<float>(), alpha.data_ptr<float>(),
                             last.data_ptr<int32_t>(), stream());
    return {render, alpha, last};
}

std::vector<torch::Tensor> raster_bwd(torch::Tensor means2d, torch::Tensor conics, torch::Tensor colors,
                                      torch::Tensor opacities, int64_t width, int64_t height, int64_t tile_size,
                                      torch::Tensor tile_offsets, torch::Tensor flatten_ids, torch::Tensor render,
                                      torch::Tensor alpha, torch::Tensor last, torch::Tensor v_render,
                                      torch::Tensor v_alpha) {
    const c10::cuda::CUDAGuard guard(means2d.device());
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    auto opts = means2d.options();
    auto v_means2d = torch::zeros({C, N, 2}, opts), v_conics = torch::zeros({C, N, 3}, opts);
    auto v_colors = torch::zeros({C, N, D}, opts), v_opac = torch::zeros({C, N}, opts);
    v_render = v_render.contiguous();
    v_alpha = v_alpha.contiguous();
    hgsplat_cuda::raster_bwd(means2d.data_ptr<float>(), conics.data_ptr<float>(), colors.data_ptr<float>(),
                             opacities.data_ptr<float>(), (int)C, (int)N, (int)D, (int)width, (int)height,
                             (int)tile_size, tile_offsets.data_ptr<int32_t>(), flatten_ids.data_ptr<int32_t>(),
                             render.data_ptr<float>(), alpha.data_ptr<float>(), last.data_ptr<int32_t>(),
                             v_render.data_ptr<float>(), v_alpha.data_ptr<float>(), v_means2d.data_ptr<float>(),
                             v_conics.data_ptr<float>(), v_colors.data_ptr<float>(), v_opac.data_ptr<float>(), stream());
    return {v_means2d, v_conics, v_colors, v_opac};
}

std::vector<torch::Tensor> mesh_raster(torch::Tensor verts_screen, torch::Tensor faces, int64_t height,
                                       int64_t width, double znear, int64_t /*tile_rows*/) {
    TORCH_CHECK(verts_screen.is_cuda(), "verts_screen must be a CUDA tensor");
    const c10::cuda::OptionalCUDAGuard guard(verts_screen.device());
    return raster_forward_cuda_impl(verts_screen, faces, height, width, znear, stream());
}

}  // namespace hg_cuda
