// CPU (OpenMP) backend of the headgen 3D Gaussian splatting rasteriser.
//
// The per-Gaussian / per-pixel math is shared with the CUDA backend (include/splat_math.h). This file
// holds the loops: projection (parallel over Gaussians), SH colours, tile binning + per-tile depth sort,
// compositing forward (parallel over tiles) and backward (parallel over tiles, gradients written per
// intersection and reduced in intersection order: deterministic, independent of the thread count).
// Float32 and float64 are both supported (float64 for finite-difference checks).
#include <torch/extension.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops.h"
#include "splat_math.h"

using namespace hgsplat;

namespace hg_cpu {

// float32 / float64 dispatch without a macro (OpenMP pragmas cannot live inside macro arguments)
template <typename F> void dispatch_float(at::ScalarType t, F f) {
    if (t == at::kDouble) f(double(0));
    else if (t == at::kFloat) f(float(0));
    else TORCH_CHECK(false, "splat CPU backend: float32 or float64 tensors expected");
}

void check_cpu(const torch::Tensor &t, const char *name) {
    TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}


// ------------------------------------------------------------------ projection
std::vector<torch::Tensor> project_fwd(torch::Tensor means, torch::Tensor quats, torch::Tensor scales,
                                       torch::Tensor opacities, torch::Tensor viewmats, torch::Tensor Ks,
                                       int64_t width, int64_t height, double eps2d, double near_plane,
                                       double far_plane, double radius_clip, bool antialiased) {
    check_cpu(means, "means"); check_cpu(quats, "quats"); check_cpu(scales, "scales");
    check_cpu(viewmats, "viewmats"); check_cpu(Ks, "Ks");
    const int64_t N = means.size(0), C = viewmats.size(0);
    const bool has_op = opacities.numel() > 0;
    if (has_op) check_cpu(opacities, "opacities");
    auto opts = means.options();
    auto radii = torch::zeros({C, N, 2}, opts.dtype(torch::kInt32));
    auto means2d = torch::zeros({C, N, 2}, opts);
    auto depths = torch::zeros({C, N}, opts);
    auto conics = torch::zeros({C, N, 3}, opts);
    auto comps = torch::zeros({C, N}, opts);
    const ProjParams p = hgsplat::make_proj_params(width, height, eps2d, near_plane, far_plane, radius_clip, antialiased);
    dispatch_float(means.scalar_type(), [&](auto tag_) {
        using scalar_t = decltype(tag_);
        const scalar_t *m = means.data_ptr<scalar_t>(), *q = quats.data_ptr<scalar_t>(), *s = scales.data_ptr<scalar_t>();
        const scalar_t *op = has_op ? opacities.data_ptr<scalar_t>() : nullptr;
        const scalar_t *vm = viewmats.data_ptr<scalar_t>(), *K = Ks.data_ptr<scalar_t>();
        int32_t *r = radii.data_ptr<int32_t>();
        scalar_t *m2 = means2d.data_ptr<scalar_t>(), *d = depths.data_ptr<scalar_t>(), *co = conics.data_ptr<scalar_t>(),
                 *cp = comps.data_ptr<scalar_t>();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < C * N; ++i) {
            const int64_t c = i / N, g = i % N;
            ProjOut<scalar_t> o;
            project_gaussian<scalar_t>(m + g * 3, q + g * 4, s + g * 3, op ? op + g : nullptr, vm + c * 16, K + c * 9, p, o);
            r[i * 2] = o.radius[0]; r[i * 2 + 1] = o.radius[1];
            m2[i * 2] = o.mean2d[0]; m2[i * 2 + 1] = o.mean2d[1];
            d[i] = o.depth;
            co[i * 3] = o.conic[0]; co[i * 3 + 1] = o.conic[1]; co[i * 3 + 2] = o.conic[2];
            cp[i] = o.comp;
        }
    });
    return {radii, means2d, depths, conics, comps};
}

std::vector<torch::Tensor> project_bwd(torch::Tensor means, torch::Tensor quats, torch::Tensor scales,
                                       torch::Tensor viewmats, torch::Tensor Ks, torch::Tensor radii,
                                       int64_t width, int64_t height, double eps2d, double near_plane,
                                       double far_plane, double radius_clip, bool antialiased,
                                       torch::Tensor v_means2d, torch::Tensor v_depths, torch::Tensor v_conics,
                                       torch::Tensor v_comps) {
    const int64_t N = means.size(0), C = viewmats.size(0);
    auto v_means = torch::zeros_like(means), v_quats = torch::zeros_like(quats), v_scales = torch::zeros_like(scales);
    const ProjParams p = hgsplat::make_proj_params(width, height, eps2d, near_plane, far_plane, radius_clip, antialiased);
    dispatch_float(means.scalar_type(), [&](auto tag_) {
        using scalar_t = decltype(tag_);
        const scalar_t *m = means.data_ptr<scalar_t>(), *q = quats.data_ptr<scalar_t>(), *s = scales.data_ptr<scalar_t>();
        const scalar_t *vm = viewmats.data_ptr<scalar_t>(), *K = Ks.data_ptr<scalar_t>();
        const int32_t *r = radii.data_ptr<int32_t>();
        const scalar_t *gm2 = v_means2d.data_ptr<scalar_t>(), *gd = v_depths.data_ptr<scalar_t>(),
                       *gco = v_conics.data_ptr<scalar_t>(), *gcp = v_comps.data_ptr<scalar_t>();
        scalar_t *om = v_means.data_ptr<scalar_t>(), *oq = v_quats.data_ptr<scalar_t>(), *os = v_scales.data_ptr<scalar_t>();
#pragma omp parallel for schedule(static)
        for (int64_t g = 0; g < N; ++g) {
            for (int64_t c = 0; c < C; ++c) {  // sum over cameras in a fixed order: deterministic
                const int64_t i = c * N + g;
                if (r[i * 2] <= 0 && r[i * 2 + 1] <= 0) continue;
                project_gaussian_vjp<scalar_t>(m + g * 3, q + g * 4, s + g * 3, vm + c * 16, K + c * 9, p, gm2 + i * 2,
                                               gd[i], gco + i * 3, gcp[i], om + g * 3, oq + g * 4, os + g * 3);
            }
        }
    });
    return {v_means, v_quats, v_scales};
}

// ------------------------------------------------------------------ spherical harmonics
// dirs (C,N,3), coeffs (N,K,3) -> colors (C,N,3) (raw SH sum: no +0.5, no clamp).
torch::Tensor sh_fwd(int64_t degree, torch::Tensor dirs, torch::Tensor coeffs) {
    check_cpu(dirs, "dirs"); check_cpu(coeffs, "coeffs");
    const int64_t C = dirs.size(0), N = dirs.size(1), K = coeffs.size(1);
    TORCH_CHECK((degree + 1) * (degree + 1) <= K && degree <= 3, "sh degree too large for the coefficients");
    auto colors = torch::zeros({C, N, 3}, dirs.options());
    dispatch_float(dirs.scalar_type(), [&](auto tag_) {
        using scalar_t = decltype(tag_);
        const scalar_t *d = dirs.data_ptr<scalar_t>(), *co = coeffs.data_ptr<scalar_t>();
        scalar_t *out = colors.data_ptr<scalar_t>();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < C * N; ++i) sh_eval<scalar_t>((int)degree, d + i * 3, co + (i % N) * K * 3, out + i * 3);
    });
    return colors;
}

std::vector<torch::Tensor> sh_bwd(int64_t degree, torch::Tensor dirs, torch::Tensor coeffs, torch::Tensor v_colors,
                                  bool need_dirs) {
    const int64_t C = dirs.size(0), N = dirs.size(1), K = coeffs.size(1);
    auto v_coeffs = torch::zeros_like(coeffs);
    auto v_dirs = torch::zeros_like(dirs);
    dispatch_float(dirs.scalar_type(), [&](auto tag_) {
        using scalar_t = decltype(tag_);
        const scalar_t *d = dirs.data_ptr<scalar_t>(), *co = coeffs.data_ptr<scalar_t>(), *vc = v_colors.data_ptr<scalar_t>();
        scalar_t *ovc = v_coeffs.data_ptr<scalar_t>(), *ovd = v_dirs.data_ptr<scalar_t>();
#pragma omp parallel for schedule(static)
        for (int64_t g = 0; g < N; ++g)
            for (int64_t c = 0; c < C; ++c) {
                const int64_t i = c * N + g;
                sh_eval_vjp<scalar_t>((int)degree, d + i * 3, co + g * K * 3, vc + i * 3, ovc + g * K * 3,
                                      need_dirs ? ovd + i * 3 : nullptr);
            }
    });
    return {v_coeffs, v_dirs};
}

// ------------------------------------------------------------------ tile binning
// means2d (C,N,2), radii (C,N,2) int32, depths (C,N) -> tile_offsets (C*TH*TW + 1) int32 (start of each
// tile's run in flatten_ids, last = n_isects), flatten_ids (n_isects) int32 = c*N + g, front-to-back per tile.
std::vector<torch::Tensor> bin_tiles(torch::Tensor means2d, torch::Tensor radii, torch::Tensor depths, int64_t tile_size,
                                     int64_t tiles_w, int64_t tiles_h) {
    check_cpu(means2d, "means2d"); check_cpu(radii, "radii"); check_cpu(depths, "depths");
    const int64_t C = means2d.size(0), N = means2d.size(1), T = tiles_w * tiles_h;
    std::vector<int32_t> rects((size_t)(C * N * 4));
    const int32_t *r = radii.data_ptr<int32_t>();
    auto float_means = means2d.to(torch::kFloat32).contiguous();
    const float *m2 = float_means.data_ptr<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < C * N; ++i) {
        int32_t *rc = rects.data() + i * 4;
        if (r[i * 2] <= 0 || r[i * 2 + 1] <= 0) { rc[0] = rc[1] = rc[2] = rc[3] = 0; continue; }
        tile_rect(m2[i * 2], m2[i * 2 + 1], r[i * 2], r[i * 2 + 1], (int)tile_size, (int)tiles_w, (int)tiles_h, rc, rc + 2);
    }
    auto offsets = torch::zeros({C * T + 1}, torch::dtype(torch::kInt32));
    int32_t *off = offsets.data_ptr<int32_t>();
    std::vector<int64_t> counts((size_t)(C * T + 1), 0);
    for (int64_t i = 0; i < C * N; ++i) {
        const int32_t *rc = rects.data() + i * 4;
        const int64_t c = i / N;
        for (int y = rc[1]; y < rc[3]; ++y)
            for (int x = rc[0]; x < rc[2]; ++x) counts[c * T + y * tiles_w + x]++;
    }
    int64_t total = 0;
    for (int64_t t = 0; t < C * T; ++t) { off[t] = (int32_t)total; total += counts[t]; }
    off[C * T] = (int32_t)total;
    TORCH_CHECK(total < (int64_t)2147483647, "too many Gaussian/tile intersections for int32 indices");
    auto ids = torch::empty({total}, torch::dtype(torch::kInt32));
    int32_t *fid = ids.data_ptr<int32_t>();
    std::vector<int64_t> cursor(counts.size());
    for (int64_t t = 0; t < C * T; ++t) cursor[t] = off[t];
    for (int64_t i = 0; i < C * N; ++i) {  // gaussian order inside each tile before the sort: stable tie-break
        const int32_t *rc = rects.data() + i * 4;
        const int64_t c = i / N;
        for (int y = rc[1]; y < rc[3]; ++y)
            for (int x = rc[0]; x < rc[2]; ++x) fid[cursor[c * T + y * tiles_w + x]++] = (int32_t)i;
    }
    // per-tile sort by (float32 depth bits, flat index) packed into one 64-bit key: depths are > near > 0,
    // so the IEEE bits order like the values (gsplat does the same); keys are unique -> deterministic.
    auto depths_f = depths.to(torch::kFloat32).contiguous();
    const float *df = depths_f.data_ptr<float>();
#pragma omp parallel
    {
        std::vector<uint64_t> keys;
#pragma omp for schedule(dynamic, 4)
        for (int64_t t = 0; t < C * T; ++t) {
            int32_t *b = fid + off[t];
            const int64_t n = off[t + 1] - off[t];
            keys.resize(n);
            for (int64_t k = 0; k < n; ++k) {
                uint32_t bits;
                std::memcpy(&bits, df + b[k], 4);
                keys[k] = ((uint64_t)bits << 32) | (uint32_t)b[k];
            }
            std::sort(keys.begin(), keys.end());
            for (int64_t k = 0; k < n; ++k) b[k] = (int32_t)(keys[k] & 0xffffffffu);
        }
    }
    return {offsets, ids};
}

// ------------------------------------------------------------------ compositing
// Gaussians of one tile, gathered contiguously, with a conservative pixel box per Gaussian: outside the
// box sigma > smax, i.e. alpha < 1/255 for sure (the exact per-pixel test of splat_math.h still decides).
// Loops are Gaussian-major inside a tile (per-pixel state arrays), which visits only the pixels in each
// Gaussian's box; the per-pixel order of operations is the same as a pixel-major loop.
template <typename scalar_t> struct TileCache {
    std::vector<scalar_t> xy, conic, opac, smax;
    std::vector<int32_t> gid, box;  // box: i0, i1, j0, j1 (inclusive pixel indices, clipped to the tile)
    void load(const int32_t *ids, int64_t n, const scalar_t *means2d, const scalar_t *conics, const scalar_t *opacities,
              int64_t ti0, int64_t ti1, int64_t tj0, int64_t tj1) {
        xy.resize(n * 2); conic.resize(n * 3); opac.resize(n); smax.resize(n); gid.resize(n); box.resize(n * 4);
        for (int64_t k = 0; k < n; ++k) {
            const int32_t g = ids[k];
            gid[k] = g;
            const scalar_t mx = means2d[g * 2], my = means2d[g * 2 + 1];
            const scalar_t ca = conics[g * 3], cb = conics[g * 3 + 1], cc = conics[g * 3 + 2];
            xy[k * 2] = mx; xy[k * 2 + 1] = my;
            conic[k * 3] = ca; conic[k * 3 + 1] = cb; conic[k * 3 + 2] = cc;
            const scalar_t o = opacities[g];
            opac[k] = o;
            smax[k] = o > scalar_t(HGS_ALPHA_THRESHOLD) ? hs_log(o / scalar_t(HGS_ALPHA_THRESHOLD)) + scalar_t(1e-3)
                                                        : scalar_t(-1);
            int32_t *bx = box.data() + k * 4;
            const scalar_t det = ca * cc - cb * cb;
            if (!(smax[k] > 0)) {  // can never reach 1/255: empty box
                bx[0] = 1; bx[1] = 0; bx[2] = 1; bx[3] = 0;
                continue;
            }
            if (!(det > 0) || !hs_finite(det)) {  // not positive definite: whole tile, exact tests decide
                bx[0] = (int32_t)ti0; bx[1] = (int32_t)ti1; bx[2] = (int32_t)tj0; bx[3] = (int32_t)tj1;
                continue;
            }
            // sigma <= smax  =>  |dx| <= sqrt(2 smax cov_xx), cov = inverse(conic); +1 px safety margin
            const scalar_t ex = hs_sqrt(scalar_t(2) * smax[k] * cc / det), ey = hs_sqrt(scalar_t(2) * smax[k] * ca / det);
            const scalar_t fj0 = hs_floor(mx - ex - scalar_t(0.5)) - 1, fj1 = hs_ceil(mx + ex - scalar_t(0.5)) + 1;
            const scalar_t fi0 = hs_floor(my - ey - scalar_t(0.5)) - 1, fi1 = hs_ceil(my + ey - scalar_t(0.5)) + 1;
            bx[0] = (int32_t)hs_max(scalar_t(ti0), hs_min(scalar_t(ti1) + 1, fi0));
            bx[1] = (int32_t)hs_min(scalar_t(ti1), hs_max(scalar_t(ti0) - 1, fi1));
            bx[2] = (int32_t)hs_max(scalar_t(tj0), hs_min(scalar_t(tj1) + 1, fj0));
            bx[3] = (int32_t)hs_min(scalar_t(tj1), hs_max(scalar_t(tj0) - 1, fj1));
        }
    }
    inline bool quick_reject(int64_t k, scalar_t px, scalar_t py) const {
        const scalar_t dx = xy[k * 2] - px, dy = xy[k * 2 + 1] - py;
        const scalar_t sigma = scalar_t(0.5) * (conic[k * 3] * dx * dx + conic[k * 3 + 2] * dy * dy) + conic[k * 3 + 1] * dx * dy;
        return sigma > smax[k] || sigma < scalar_t(0);
    }
};

std::vector<torch::Tensor> raster_fwd(torch::Tensor means2d, torch::Tensor conics, torch::Tensor colors,
                                      torch::Tensor opacities, torch::Tensor backgrounds, int64_t width, int64_t height,
                                      int64_t tile_size, torch::Tensor tile_offsets, torch::Tensor flatten_ids) {
    check_cpu(means2d, "means2d"); check_cpu(conics, "conics"); check_cpu(colors, "colors");
    check_cpu(opacities, "opacities"); check_cpu(tile_offsets, "tile_offsets"); check_cpu(flatten_ids, "flatten_ids");
    const int64_t C = means2d.size(0), D = colors.size(2);
    const int64_t tw = (width + tile_size - 1) / tile_size, th = (height + tile_size - 1) / tile_size;
    const bool has_bg = backgrounds.numel() > 0;
    if (has_bg) check_cpu(backgrounds, "backgrounds");
    auto opts = means2d.options();
    auto render = torch::empty({C, height, width, D}, opts);
    auto alpha = torch::empty({C, height, width, 1}, opts);
    auto last = torch::empty({C, height, width}, opts.dtype(torch::kInt32));
    dispatch_float(means2d.scalar_type(), [&](auto tag_) {
        using scalar_t = decltype(tag_);
        const scalar_t *m2 = means2d.data_ptr<scalar_t>(), *co = conics.data_ptr<scalar_t>(),
                       *col = colors.data_ptr<scalar_t>(), *op = opacities.data_ptr<scalar_t>();
        const scalar_t *bg = has_bg ? backgrounds.data_ptr<scalar_t>() : nullptr;
        const int32_t *off = tile_offsets.data_ptr<int32_t>(), *fid = flatten_ids.data_ptr<int32_t>();
        scalar_t *out = render.data_ptr<scalar_t>(), *oa = alpha.data_ptr<scalar_t>();
        int32_t *ol = last.data_ptr<int32_t>();
#pragma omp parallel
        {
            TileCache<scalar_t> cache;
            std::vector<scalar_t> T, acc;
            std::vector<int32_t> lastk;
            std::vector<char> done;
#pragma omp for schedule(dynamic, 1)
            for (int64_t ct = 0; ct < C * th * tw; ++ct) {
                const int64_t c = ct / (th * tw), t = ct % (th * tw), ty = t / tw, tx = t % tw;
                const int64_t start = off[ct], n = off[ct + 1] - start;
                const int64_t i0 = ty * tile_size, i1 = std::min(height, i0 + tile_size) - 1;
                const int64_t j0 = tx * tile_size, j1 = std::min(width, j0 + tile_size) - 1;
                const int64_t pw = j1 - j0 + 1, npix = pw * (i1 - i0 + 1);
                cache.load(fid + start, n, m2, co, op, i0, i1, j0, j1);
                T.assign(npix, scalar_t(1)); acc.assign(npix * D, scalar_t(0));
                lastk.assign(npix, -1); done.assign(npix, 0);
                int64_t active = npix;
                for (int64_t k = 0; k < n && active > 0; ++k) {
                    const int32_t *bx = cache.box.data() + k * 4;
                    const scalar_t *cg = col + (int64_t)cache.gid[k] * D;
                    for (int64_t i = bx[0]; i <= bx[1]; ++i)
                        for (int64_t j = bx[2]; j <= bx[3]; ++j) {
                            const int64_t p = (i - i0) * pw + (j - j0);
                            if (done[p]) continue;
                            const scalar_t px = scalar_t(j) + scalar_t(0.5), py = scalar_t(i) + scalar_t(0.5);
                            if (cache.quick_reject(k, px, py)) continue;
                            scalar_t a, vis, dx, dy;
                            if (!eval_alpha<scalar_t>(&cache.xy[k * 2], &cache.conic[k * 3], cache.opac[k], px, py, a, vis, dx, dy))
                                continue;
                            const scalar_t nT = T[p] * (scalar_t(1) - a);
                            if (nT <= scalar_t(HGS_T_MIN)) { done[p] = 1; --active; continue; }
                            const scalar_t w = a * T[p];
                            scalar_t *ap = acc.data() + p * D;
                            for (int64_t dd = 0; dd < D; ++dd) ap[dd] += w * cg[dd];
                            lastk[p] = (int32_t)(start + k);
                            T[p] = nT;
                        }
                }
                for (int64_t i = i0; i <= i1; ++i)
                    for (int64_t j = j0; j <= j1; ++j) {
                        const int64_t p = (i - i0) * pw + (j - j0), pix = (c * height + i) * width + j;
                        for (int64_t dd = 0; dd < D; ++dd)
                            out[pix * D + dd] = acc[p * D + dd] + (bg ? T[p] * bg[c * D + dd] : scalar_t(0));
                        oa[pix] = scalar_t(1) - T[p];
                        ol[pix] = lastk[p];
                    }
            }
        }
    });
    return {render, alpha, last};
}

// Returns v_means2d (C,N,2), v_conics (C,N,3), v_colors (C,N,D), v_opacities (C,N).
// Front to back with the exact transmittance: for Gaussian i at a pixel,
// dL/dalpha_i = sum_d v_d (T_i c_id - (out_d - P_id) / (1 - alpha_i)) + v_A T_final / (1 - alpha_i),
// T_final = 1 - alpha (the rendered alpha, (C,H,W,1)),
// P_i = colour composited up to and including i, out = rendered colour (background included).
std::vector<torch::Tensor> raster_bwd(torch::Tensor means2d, torch::Tensor conics, torch::Tensor colors,
                                      torch::Tensor opacities, int64_t width, int64_t height, int64_t tile_size,
                                      torch::Tensor tile_offsets, torch::Tensor flatten_ids, torch::Tensor render,
                                      torch::Tensor alpha, torch::Tensor last, torch::Tensor v_render,
                                      torch::Tensor v_alpha) {
    const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
    const int64_t tw = (width + tile_size - 1) / tile_size, th = (height + tile_size - 1) / tile_size;
    const int64_t n_isects = flatten_ids.numel();
    const int64_t S = 6 + D;  // per-intersection gradient slots: mean2d(2) conic(3) opacity(1) colour(D)
    auto opts = means2d.options();
    auto v_means2d = torch::zeros({C, N, 2}, opts), v_conics = torch::zeros({C, N, 3}, opts);
    auto v_colors = torch::zeros({C, N, D}, opts), v_opac = torch::zeros({C, N}, opts);
    auto per_isect = torch::zeros({n_isects, S}, opts);
    v_render = v_render.contiguous();
    v_alpha = v_alpha.contiguous();
    dispatch_float(means2d.scalar_type(), [&](auto tag_) {
        using scalar_t = decltype(tag_);
        const scalar_t *m2 = means2d.data_ptr<scalar_t>(), *co = conics.data_ptr<scalar_t>(),
                       *col = colors.data_ptr<scalar_t>(), *op = opacities.data_ptr<scalar_t>();
        const int32_t *off = tile_offsets.data_ptr<int32_t>(), *fid = flatten_ids.data_ptr<int32_t>();
        const scalar_t *rend = render.data_ptr<scalar_t>(), *AL = alpha.data_ptr<scalar_t>();
        const int32_t *lst = last.data_ptr<int32_t>();
        const scalar_t *vr = v_render.data_ptr<scalar_t>(), *va = v_alpha.data_ptr<scalar_t>();
        scalar_t *pi = per_isect.data_ptr<scalar_t>();
#pragma omp parallel
        {
            TileCache<scalar_t> cache;
            std::vector<scalar_t> T, P;
            std::vector<int64_t> kend;
#pragma omp for schedule(dynamic, 1)
            for (int64_t ct = 0; ct < C * th * tw; ++ct) {
                const int64_t c = ct / (th * tw), t = ct % (th * tw), ty = t / tw, tx = t % tw;
                const int64_t start = off[ct], n = off[ct + 1] - start;
                if (n == 0) continue;
                const int64_t i0 = ty * tile_size, i1 = std::min(height, i0 + tile_size) - 1;
                const int64_t j0 = tx * tile_size, j1 = std::min(width, j0 + tile_size) - 1;
                const int64_t pw = j1 - j0 + 1, npix = pw * (i1 - i0 + 1);
                T.assign(npix, scalar_t(1)); P.assign(npix * D, scalar_t(0)); kend.assign(npix, -1);
                int64_t kmax = -1;
                for (int64_t i = i0; i <= i1; ++i)
                    for (int64_t j = j0; j <= j1; ++j) {
                        const int64_t p = (i - i0) * pw + (j - j0);
                        kend[p] = (int64_t)lst[(c * height + i) * width + j] - start;  // inclusive, < 0: none
                        kmax = std::max(kmax, kend[p]);
                    }
                if (kmax < 0) continue;
                cache.load(fid + start, kmax + 1, m2, co, op, i0, i1, j0, j1);
                for (int64_t k = 0; k <= kmax; ++k) {
                    const int32_t *bx = cache.box.data() + k * 4;
                    const scalar_t *cg = col + (int64_t)cache.gid[k] * D;
                    scalar_t *gs = pi + (start + k) * S;  // this intersection's slots: owned by this thread
                    for (int64_t i = bx[0]; i <= bx[1]; ++i)
                        for (int64_t j = bx[2]; j <= bx[3]; ++j) {
                            const int64_t p = (i - i0) * pw + (j - j0);
                            if (k > kend[p]) continue;
                            const scalar_t px = scalar_t(j) + scalar_t(0.5), py = scalar_t(i) + scalar_t(0.5);
                            if (cache.quick_reject(k, px, py)) continue;
                            scalar_t a, vis, dx, dy;
                            if (!eval_alpha<scalar_t>(&cache.xy[k * 2], &cache.conic[k * 3], cache.opac[k], px, py, a, vis, dx, dy))
                                continue;
                            const int64_t pix = (c * height + i) * width + j;
                            const scalar_t *out = rend + pix * D, *vout = vr + pix * D;
                            const scalar_t Tp = T[p], w = a * Tp;
                            const scalar_t ra = scalar_t(1) / (scalar_t(1) - a);
                            scalar_t v_al = va[pix] * (scalar_t(1) - AL[pix]) * ra;
                            scalar_t *Pp = P.data() + p * D;
                            for (int64_t dd = 0; dd < D; ++dd) {
                                Pp[dd] += w * cg[dd];
                                gs[6 + dd] += w * vout[dd];
                                v_al += vout[dd] * (Tp * cg[dd] - (out[dd] - Pp[dd]) * ra);
                            }
                            eval_alpha_vjp<scalar_t>(&cache.conic[k * 3], cache.opac[k], vis, dx, dy, v_al, gs, gs + 2, gs + 5);
                            T[p] = Tp * (scalar_t(1) - a);
                        }
                }
            }
        }
        // reduce per-intersection slots into per-Gaussian gradients, in intersection order (deterministic)
        scalar_t *om = v_means2d.data_ptr<scalar_t>(), *oc = v_conics.data_ptr<scalar_t>(),
                 *ocol = v_colors.data_ptr<scalar_t>(), *oo = v_opac.data_ptr<scalar_t>();
        for (int64_t k = 0; k < n_isects; ++k) {
            const int64_t g = fid[k];
            const scalar_t *gs = pi + k * S;
            om[g * 2] += gs[0]; om[g * 2 + 1] += gs[1];
            oc[g * 3] += gs[2]; oc[g * 3 + 1] += gs[3]; oc[g * 3 + 2] += gs[4];
            oo[g] += gs[5];
            for (int64_t dd = 0; dd < D; ++dd) ocol[g * D + dd] += gs[6 + dd];
        }
    });
    return {v_means2d, v_conics, v_colors, v_opac};
}

}  // namespace hg_cpu
