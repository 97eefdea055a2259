// CUDA kernels of the headgen 3D Gaussian splatting rasteriser. Per-element math: include/splat_math.h
// (shared with the CPU backend). Plain CUDA (no ATen): launchers take raw pointers (include/splat_cuda.h).
#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "splat_cuda.h"
#include "splat_math.h"

using namespace hgsplat;

namespace hgsplat_cuda {
namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) { return (int)((n + kThreads - 1) / kThreads); }
inline cudaStream_t as_stream(void *s) { return reinterpret_cast<cudaStream_t>(s); }

__global__ void project_fwd_kernel(const float *__restrict__ means, const float *__restrict__ quats,
                                   const float *__restrict__ scales, const float *__restrict__ opacities,
                                   const float *__restrict__ viewmats, const float *__restrict__ Ks, int C, int N,
                                   ProjParams p, int32_t *__restrict__ radii, float *__restrict__ means2d,
                                   float *__restrict__ depths, float *__restrict__ conics, float *__restrict__ comps) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)C * N) return;
    const int64_t c = i / N, g = i % N;
    ProjOut<float> o;
    project_gaussian<float>(means + g * 3, quats + g * 4, scales + g * 3, opacities ? opacities + g : nullptr,
                            viewmats + c * 16, Ks + c * 9, p, o);
    radii[i * 2] = o.radius[0];
    radii[i * 2 + 1] = o.radius[1];
    means2d[i * 2] = o.mean2d[0];
    means2d[i * 2 + 1] = o.mean2d[1];
    depths[i] = o.depth;
    conics[i * 3] = o.conic[0];
    conics[i * 3 + 1] = o.conic[1];
    conics[i * 3 + 2] = o.conic[2];
    comps[i] = o.comp;
}

__global__ void project_bwd_kernel(const float *__restrict__ means, const float *__restrict__ quats,
                                   const float *__restrict__ scales, const float *__restrict__ viewmats,
                                   const float *__restrict__ Ks, const int32_t *__restrict__ radii, int C, int N,
                                   ProjParams p, const float *__restrict__ v_means2d, const float *__restrict__ v_depths,
                                   const float *__restrict__ v_conics, const float *__restrict__ v_comps,
                                   float *__restrict__ v_means, float *__restrict__ v_quats, float *__restrict__ v_scales) {
    const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= N) return;
    float vm[3] = {0.f, 0.f, 0.f}, vq[4] = {0.f, 0.f, 0.f, 0.f}, vs[3] = {0.f, 0.f, 0.f};
    for (int c = 0; c < C; ++c) {
        const int64_t i = (int64_t)c * N + g;
        if (radii[i * 2] <= 0 && radii[i * 2 + 1] <= 0) continue;
        project_gaussian_vjp<float>(means + g * 3, quats + g * 4, scales + g * 3, viewmats + c * 16, Ks + c * 9, p,
                                    v_means2d + i * 2, v_depths[i], v_conics + i * 3, v_comps[i], vm, vq, vs);
    }
    for (int k = 0; k < 3; ++k) v_means[g * 3 + k] += vm[k];
    for (int k = 0; k < 4; ++k) v_quats[g * 4 + k] += vq[k];
    for (int k = 0; k < 3; ++k) v_scales[g * 3 + k] += vs[k];
}

__global__ void sh_fwd_kernel(int degree, const float *__restrict__ dirs, const float *__restrict__ coeffs, int C,
                              int N, int K, float *__restrict__ colors) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)C * N) return;
    sh_eval<float>(degree, dirs + i * 3, coeffs + (i % N) * K * 3, colors + i * 3);
}

__global__ void sh_bwd_kernel(int degree, const float *__restrict__ dirs, const float *__restrict__ coeffs,
                              const float *__restrict__ v_colors, int C, int N, int K, float *__restrict__ v_coeffs,
                              float *__restrict__ v_dirs) {
    const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= N) return;
    for (int c = 0; c < C; ++c) {
        const int64_t i = (int64_t)c * N + g;
        sh_eval_vjp<float>(degree, dirs + i * 3, coeffs + g * K * 3, v_colors + i * 3, v_coeffs + g * K * 3,
                           v_dirs ? v_dirs + i * 3 : nullptr);
    }
}

// ------------------------------------------------------------------ tile binning
__global__ void bin_count_kernel(const float *__restrict__ means2d, const int32_t *__restrict__ radii, int64_t CN,
                                 int tile_size, int tiles_w, int tiles_h, int32_t *__restrict__ counts) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= CN) return;
    int32_t n = 0;
    if (radii[i * 2] > 0 && radii[i * 2 + 1] > 0) {
        int tmin[2], tmax[2];
        tile_rect(means2d[i * 2], means2d[i * 2 + 1], radii[i * 2], radii[i * 2 + 1], tile_size, tiles_w, tiles_h,
                  tmin, tmax);
        n = max(tmax[0] - tmin[0], 0) * max(tmax[1] - tmin[1], 0);
    }
    counts[i] = n;
}

__global__ void bin_emit_kernel(const float *__restrict__ means2d, const int32_t *__restrict__ radii,
                                const float *__restrict__ depths, const int64_t *__restrict__ cum, int64_t CN, int N,
                                int tile_size, int tiles_w, int tiles_h, uint64_t *__restrict__ keys,
                                int32_t *__restrict__ ids) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= CN || radii[i * 2] <= 0 || radii[i * 2 + 1] <= 0) return;
    int tmin[2], tmax[2];
    tile_rect(means2d[i * 2], means2d[i * 2 + 1], radii[i * 2], radii[i * 2 + 1], tile_size, tiles_w, tiles_h, tmin,
              tmax);
    int64_t cur = i == 0 ? 0 : cum[i - 1];
    const uint64_t tile0 = (uint64_t)(i / N) * (uint64_t)tiles_w * (uint64_t)tiles_h;
    const uint64_t dbits = (uint64_t)__float_as_uint(depths[i]);  // depth > near > 0: bits order like values
    for (int y = tmin[1]; y < tmax[1]; ++y)
        for (int x = tmin[0]; x < tmax[0]; ++x, ++cur) {
            keys[cur] = ((tile0 + (uint64_t)y * tiles_w + x) << 32) | dbits;
            ids[cur] = (int32_t)i;
        }
}

__global__ void bin_offsets_kernel(const uint64_t *__restrict__ keys, int64_t n, int64_t n_tiles,
                                   int32_t *__restrict__ offsets) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int64_t t = (int64_t)(keys[i] >> 32);
    const int64_t prev = i == 0 ? -1 : (int64_t)(keys[i - 1] >> 32);
    for (int64_t k = prev + 1; k <= t; ++k) offsets[k] = (int32_t)i;  // tiles (prev, t] start at i
    if (i == n - 1)
        for (int64_t k = t + 1; k <= n_tiles; ++k) offsets[k] = (int32_t)n;
}

// ------------------------------------------------------------------ compositing
// One block per (tile, camera), one thread per pixel; Gaussians of the tile are staged through shared
// memory in batches of blockDim.x * blockDim.y.
struct SharedBatch {
    int32_t *gid;
    float *xy, *conic, *opac;
    __device__ SharedBatch(float *smem, int bs) {
        gid = reinterpret_cast<int32_t *>(smem);
        xy = smem + bs;
        conic = xy + 2 * bs;
        opac = conic + 3 * bs;
    }
    __device__ void load(int slot, int32_t g, const float *means2d, const float *conics, const float *opacities) {
        gid[slot] = g;
        xy[slot * 2] = means2d[(int64_t)g * 2];
        xy[slot * 2 + 1] = means2d[(int64_t)g * 2 + 1];
        conic[slot * 3] = conics[(int64_t)g * 3];
        conic[slot * 3 + 1] = conics[(int64_t)g * 3 + 1];
        conic[slot * 3 + 2] = conics[(int64_t)g * 3 + 2];
        opac[slot] = opacities[g];
    }
};

template <int CD>
__global__ void raster_fwd_kernel(const float *__restrict__ means2d, const float *__restrict__ conics,
                                  const float *__restrict__ colors, const float *__restrict__ opacities,
                                  const float *__restrict__ backgrounds, int D_rt, int width, int height,
                                  const int32_t *__restrict__ tile_offsets, const int32_t *__restrict__ flatten_ids,
                                  float *__restrict__ render, float *__restrict__ alpha, int32_t *__restrict__ last) {
    extern __shared__ float smem[];
    const int D = CD > 0 ? CD : D_rt;
    const int c = blockIdx.z, tx = blockIdx.x, ty = blockIdx.y;
    const int tiles_w = gridDim.x, tiles_h = gridDim.y;
    const int ts = blockDim.x;
    const int bs = blockDim.x * blockDim.y;
    const int tr = threadIdx.y * blockDim.x + threadIdx.x;
    const int i = ty * ts + threadIdx.y, j = tx * ts + threadIdx.x;
    const bool inside = i < height && j < width;
    const int64_t ct = ((int64_t)c * tiles_h + ty) * tiles_w + tx;
    const int start = tile_offsets[ct], end = tile_offsets[ct + 1];
    SharedBatch sb(smem, bs);
    const int64_t pix = ((int64_t)c * height + (inside ? i : 0)) * width + (inside ? j : 0);
    float *out = render + pix * D;
    const float px = (float)j + 0.5f, py = (float)i + 0.5f;
    float acc[CD > 0 ? CD : 1];
    for (int k = 0; k < (CD > 0 ? CD : 1); ++k) acc[k] = 0.f;
    float T = 1.f;
    int32_t lastk = -1;
    bool done = !inside;
    for (int b0 = start; b0 < end; b0 += bs) {
        if (__syncthreads_count(done) >= bs) break;  // also the barrier before overwriting the batch
        const int idx = b0 + tr;
        if (idx < end) sb.load(tr, flatten_ids[idx], means2d, conics, opacities);
        __syncthreads();
        const int nb = min(bs, end - b0);
        for (int t = 0; t < nb && !done; ++t) {
            float a, vis, dx, dy;
            if (!eval_alpha<float>(sb.xy + t * 2, sb.conic + t * 3, sb.opac[t], px, py, a, vis, dx, dy)) continue;
            const float nT = T * (1.f - a);
            if (nT <= (float)HGS_T_MIN) {
                done = true;
                break;
            }
            const float w = a * T;
            const float *cg = colors + (int64_t)sb.gid[t] * D;
            if (CD > 0) {
#pragma unroll
                for (int k = 0; k < (CD > 0 ? CD : 1); ++k) acc[k] += w * cg[k];
            } else {
                for (int k = 0; k < D; ++k) out[k] += w * cg[k];
            }
            lastk = b0 + t;
            T = nT;
        }
    }
    if (!inside) return;
    const float *bg = backgrounds ? backgrounds + (int64_t)c * D : nullptr;
    if (CD > 0) {
#pragma unroll
        for (int k = 0; k < (CD > 0 ? CD : 1); ++k) out[k] = acc[k] + (bg ? T * bg[k] : 0.f);
    } else if (bg) {
        for (int k = 0; k < D; ++k) out[k] += T * bg[k];
    }
    const int64_t p1 = ((int64_t)c * height + i) * width + j;
    alpha[p1] = 1.f - T;
    last[p1] = lastk;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Front-to-back backward (exact transmittance, no division chain): for Gaussian i at a pixel,
// dL/dalpha_i = T_i (v.c_i) - (v.out - v.P_i) / (1 - alpha_i) + v_A T_final / (1 - alpha_i),
// with P_i the colour composited up to and including i and out the rendered colour (background included).
template <int CD>  // CD > 0: D known at compile time (v_render of the pixel kept in registers)
__global__ void raster_bwd_kernel(const float *__restrict__ means2d, const float *__restrict__ conics,
                                  const float *__restrict__ colors, const float *__restrict__ opacities, int D_rt,
                                  int width, int height, const int32_t *__restrict__ tile_offsets,
                                  const int32_t *__restrict__ flatten_ids, const float *__restrict__ render,
                                  const float *__restrict__ alpha, const int32_t *__restrict__ last,
                                  const float *__restrict__ v_render, const float *__restrict__ v_alpha,
                                  float *__restrict__ v_means2d, float *__restrict__ v_conics,
                                  float *__restrict__ v_colors, float *__restrict__ v_opacities) {
    extern __shared__ float smem[];
    __shared__ int s_maxlast;
    const int D = CD > 0 ? CD : D_rt;
    const int c = blockIdx.z, tx = blockIdx.x, ty = blockIdx.y;
    const int tiles_w = gridDim.x, tiles_h = gridDim.y;
    const int ts = blockDim.x;
    const int bs = blockDim.x * blockDim.y;
    const int tr = threadIdx.y * blockDim.x + threadIdx.x;
    const int lane = tr & 31;
    const int i = ty * ts + threadIdx.y, j = tx * ts + threadIdx.x;
    const bool inside = i < height && j < width;
    const int64_t ct = ((int64_t)c * tiles_h + ty) * tiles_w + tx;
    const int start = tile_offsets[ct], end = tile_offsets[ct + 1];
    SharedBatch sb(smem, bs);
    const int64_t pix = ((int64_t)c * height + (inside ? i : 0)) * width + (inside ? j : 0);
    const int kend = inside ? last[pix] : -1;  // inclusive index of the last composited Gaussian
    if (tr == 0) s_maxlast = -1;
    __syncthreads();
    if (kend >= 0) atomicMax(&s_maxlast, kend);
    __syncthreads();
    const int block_end = min(end, s_maxlast + 1);
    const float px = (float)j + 0.5f, py = (float)i + 0.5f;
    const float *vout = v_render + pix * D;
    const float *outp = render + pix * D;
    float vreg[CD > 0 ? CD : 1];
    float VO = 0.f;  // v . out
    if constexpr (CD > 0) {
#pragma unroll
        for (int k = 0; k < CD; ++k) vreg[k] = inside ? vout[k] : 0.f;
        if (inside)
#pragma unroll
            for (int k = 0; k < CD; ++k) VO += vreg[k] * outp[k];
    } else {
        vreg[0] = 0.f;
        if (inside)
            for (int k = 0; k < D; ++k) VO += vout[k] * outp[k];
    }
    const float vA = inside ? v_alpha[pix] : 0.f, Tf = inside ? 1.f - alpha[pix] : 1.f;
    float T = 1.f, VP = 0.f;  // transmittance before the current Gaussian, v . P
    for (int b0 = start; b0 < block_end; b0 += bs) {
        __syncthreads();
        const int idx = b0 + tr;
        if (idx < block_end) sb.load(tr, flatten_ids[idx], means2d, conics, opacities);
        __syncthreads();
        const int nb = min(bs, block_end - b0);
        for (int t = 0; t < nb; ++t) {  // uniform over the block: shuffles below need whole warps
            const int k = b0 + t;
            float a = 0.f, vis = 0.f, dx = 0.f, dy = 0.f;
            bool valid = inside && k <= kend;
            if (valid) valid = eval_alpha<float>(sb.xy + t * 2, sb.conic + t * 3, sb.opac[t], px, py, a, vis, dx, dy);
            if (!__any_sync(0xffffffffu, valid)) continue;
            const int32_t g = sb.gid[t];
            const float *cg = colors + (int64_t)g * D;
            float vm[2] = {0.f, 0.f}, vc[3] = {0.f, 0.f, 0.f}, vo = 0.f, w = 0.f;
            if (valid) {
                w = a * T;
                float vdotc = 0.f;
                if constexpr (CD > 0) {
#pragma unroll
                    for (int d = 0; d < CD; ++d) vdotc += vreg[d] * __ldg(cg + d);
                } else {
                    for (int d = 0; d < D; ++d) vdotc += vout[d] * cg[d];
                }
                VP += w * vdotc;
                const float ra = 1.f / (1.f - a);
                const float v_al = T * vdotc - (VO - VP) * ra + vA * Tf * ra;
                eval_alpha_vjp<float>(sb.conic + t * 3, sb.opac[t], vis, dx, dy, v_al, vm, vc, &vo);
                T *= (1.f - a);
            }
            vm[0] = warp_sum(vm[0]);
            vm[1] = warp_sum(vm[1]);
            vc[0] = warp_sum(vc[0]);
            vc[1] = warp_sum(vc[1]);
            vc[2] = warp_sum(vc[2]);
            vo = warp_sum(vo);
            if (lane == 0) {
                atomicAdd(v_means2d + (int64_t)g * 2, vm[0]);
                atomicAdd(v_means2d + (int64_t)g * 2 + 1, vm[1]);
                atomicAdd(v_conics + (int64_t)g * 3, vc[0]);
                atomicAdd(v_conics + (int64_t)g * 3 + 1, vc[1]);
                atomicAdd(v_conics + (int64_t)g * 3 + 2, vc[2]);
                atomicAdd(v_opacities + g, vo);
            }
            if constexpr (CD > 0) {
#pragma unroll
                for (int d = 0; d < CD; ++d) {
                    const float vcol = warp_sum(valid ? w * vreg[d] : 0.f);
                    if (lane == 0) atomicAdd(v_colors + (int64_t)g * D + d, vcol);
                }
            } else {
                for (int d = 0; d < D; ++d) {
                    const float vcol = warp_sum(valid ? w * vout[d] : 0.f);
                    if (lane == 0) atomicAdd(v_colors + (int64_t)g * D + d, vcol);
                }
            }
        }
    }
}

}  // namespace

void project_fwd(const float *means, const float *quats, const float *scales, const float *opacities,
                 const float *viewmats, const float *Ks, int C, int N, const ProjParams &p, int32_t *radii,
                 float *means2d, float *depths, float *conics, float *comps, void *stream) {
    const int64_t n = (int64_t)C * N;
    if (n == 0) return;
    project_fwd_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(means, quats, scales, opacities, viewmats, Ks,
                                                                         C, N, p, radii, means2d, depths, conics, comps);
}

void project_bwd(const float *means, const float *quats, const float *scales, const float *viewmats, const float *Ks,
                 const int32_t *radii, int C, int N, const ProjParams &p, const float *v_means2d, const float *v_depths,
                 const float *v_conics, const float *v_comps, float *v_means, float *v_quats, float *v_scales,
                 void *stream) {
    if (N == 0 || C == 0) return;
    project_bwd_kernel<<<blocks_for(N), kThreads, 0, as_stream(stream)>>>(
        means, quats, scales, viewmats, Ks, radii, C, N, p, v_means2d, v_depths, v_conics, v_comps, v_means, v_quats,
        v_scales);
}

void sh_fwd(int degree, const float *dirs, const float *coeffs, int C, int N, int K, float *colors, void *stream) {
    const int64_t n = (int64_t)C * N;
    if (n == 0) return;
    sh_fwd_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(degree, dirs, coeffs, C, N, K, colors);
}

void sh_bwd(int degree, const float *dirs, const float *coeffs, const float *v_colors, int C, int N, int K,
            float *v_coeffs, float *v_dirs, void *stream) {
    if (N == 0 || C == 0) return;
    sh_bwd_kernel<<<blocks_for(N), kThreads, 0, as_stream(stream)>>>(degree, dirs, coeffs, v_colors, C, N, K, v_coeffs,
                                                                    v_dirs);
}

void bin_count(const float *means2d, const int32_t *radii, int64_t CN, int tile_size, int tiles_w, int tiles_h,
               int32_t *counts, void *stream) {
    if (CN == 0) return;
    bin_count_kernel<<<blocks_for(CN), kThreads, 0, as_stream(stream)>>>(means2d, radii, CN, tile_size, tiles_w,
                                                                        tiles_h, counts);
}

void bin_emit(const float *means2d, const int32_t *radii, const float *depths, const int64_t *cum, int64_t CN, int N,
              int tile_size, int tiles_w, int tiles_h, uint64_t *keys, int32_t *ids, void *stream) {
    if (CN == 0) return;
    bin_emit_kernel<<<blocks_for(CN), kThreads, 0, as_stream(stream)>>>(means2d, radii, depths, cum, CN, N, tile_size,
                                                                       tiles_w, tiles_h, keys, ids);
}

size_t bin_sort_temp_bytes(int64_t n_isects, int end_bit) {
    size_t bytes = 0;
    cub::DoubleBuffer<uint64_t> k(nullptr, nullptr);
    cub::DoubleBuffer<int32_t> v(nullptr, nullptr);
    cub::DeviceRadixSort::SortPairs(nullptr, bytes, k, v, (int)n_isects, 0, end_bit);
    return bytes;
}

int bin_sort(void *temp, size_t temp_bytes, uint64_t *keys0, uint64_t *keys1, int32_t *ids0, int32_t *ids1,
             int64_t n_isects, int end_bit, void *stream) {
    if (n_isects == 0) return 0;
    cub::DoubleBuffer<uint64_t> k(keys0, keys1);
    cub::DoubleBuffer<int32_t> v(ids0, ids1);
    cub::DeviceRadixSort::SortPairs(temp, temp_bytes, k, v, (int)n_isects, 0, end_bit, as_stream(stream));
    return k.selector;  // keys and values move together: the same buffer index holds both results
}

void bin_offsets(const uint64_t *sorted_keys, int64_t n_isects, int64_t n_tiles, int32_t *tile_offsets, void *stream) {
    if (n_isects == 0) return;
    bin_offsets_kernel<<<blocks_for(n_isects), kThreads, 0, as_stream(stream)>>>(sorted_keys, n_isects, n_tiles,
                                                                                tile_offsets);
}

namespace {
// Launch geometry of the compositing kernels: one block per (tile, camera), one thread per pixel, a
// shared-memory batch of 7 floats per thread.
struct TileLaunch {
    dim3 grid, block;
    size_t shmem;
};

TileLaunch tile_launch(int C, int width, int height, int tile_size) {
    const int tiles_w = (width + tile_size - 1) / tile_size, tiles_h = (height + tile_size - 1) / tile_size;
    return {dim3(tiles_w, tiles_h, C), dim3(tile_size, tile_size, 1), (size_t)tile_size * tile_size * 7 * sizeof(float)};
}

// Calls f(std::integral_constant<int, CD>{}) with CD = D for 1 <= D <= 4 (per-channel loops unrolled into
// registers), else CD = 0 (D read at run time).
template <typename F>
void dispatch_channels(int D, F &&f) {
    switch (D) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    default: f(std::integral_constant<int, 0>{}); break;
    }
}
}  // namespace

void raster_fwd(const float *means2d, const float *conics, const float *colors, const float *opacities,
                const float *backgrounds, int C, int N, int D, int width, int height, int tile_size,
                const int32_t *tile_offsets, const int32_t *flatten_ids, float *render, float *alpha, int32_t *last,
                void *stream) {
    (void)N;
    if (C == 0 || width == 0 || height == 0) return;
    const TileLaunch L = tile_launch(C, width, height, tile_size);
    cudaStream_t s = as_stream(stream);
    dispatch_channels(D, [&](auto cd) {
        raster_fwd_kernel<decltype(cd)::value><<<L.grid, L.block, L.shmem, s>>>(
            means2d, conics, colors, opacities, backgrounds, D, width, height, tile_offsets, flatten_ids, render, alpha,
            last);
    });
}

void raster_bwd(const float *means2d, const float *conics, const float *colors, const float *opacities, int C, int N,
                int D, int width, int height, int tile_size, const int32_t *tile_offsets, const int32_t *flatten_ids,
                const float *render, const float *alpha, const int32_t *last, const float *v_render,
                const float *v_alpha, float *v_means2d, float *v_conics, float *v_colors, float *v_opacities,
                void *stream) {
    (void)N;
    if (C == 0 || width == 0 || height == 0) return;
    const TileLaunch L = tile_launch(C, width, height, tile_size);
    cudaStream_t s = as_stream(stream);
    dispatch_channels(D, [&](auto cd) {
        raster_bwd_kernel<decltype(cd)::value><<<L.grid, L.block, L.shmem, s>>>(
            means2d, conics, colors, opacities, D, width, height, tile_offsets, flatten_ids, render, alpha, last,
            v_render, v_alpha, v_means2d, v_conics, v_colors, v_opacities);
    });
}

}  // namespace hgsplat_cuda
