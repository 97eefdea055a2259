// Host launchers of the CUDA splatting kernels (cuda/splat_cuda.cu). Plain CUDA, raw float32 device
// pointers, no ATen: the .cu compiles with nvcc against any torch; splat_bindings_cuda.cpp wraps these
// for torch (built only with cuda=True). `stream` is a cudaStream_t passed as void*.
// Output buffers must be zero-initialised by the caller (except where noted).
#pragma once
#include <cstdint>

#include "splat_math.h"

namespace hgsplat_cuda {

// radii (C,N,2) int32, means2d (C,N,2), depths (C,N), conics (C,N,3), comps (C,N); opacities may be null.
void project_fwd(const float *means, const float *quats, const float *scales, const float *opacities,
                 const float *viewmats, const float *Ks, int C, int N, const hgsplat::ProjParams &p, int32_t *radii,
                 float *means2d, float *depths, float *conics, float *comps, void *stream);

// Adds into v_means (N,3), v_quats (N,4), v_scales (N,3) (deterministic: one thread per Gaussian).
void project_bwd(const float *means, const float *quats, const float *scales, const float *viewmats, const float *Ks,
                 const int32_t *radii, int C, int N, const hgsplat::ProjParams &p, const float *v_means2d,
                 const float *v_depths, const float *v_conics, const float *v_comps, float *v_means, float *v_quats,
                 float *v_scales, void *stream);

// dirs (C,N,3), coeffs (N,K,3) -> colors (C,N,3).
void sh_fwd(int degree, const float *dirs, const float *coeffs, int C, int N, int K, float *colors, void *stream);
// Adds into v_coeffs (N,K,3) and v_dirs (C,N,3) (v_dirs may be null).
void sh_bwd(int degree, const float *dirs, const float *coeffs, const float *v_colors, int C, int N, int K,
            float *v_coeffs, float *v_dirs, void *stream);

// Tile binning (gsplat isect_tiles + radix sort + isect_offset_encode), in four launches:
// 1. bin_count: counts (C*N,) int32 = number of tiles each projected Gaussian touches (0 when radii <= 0);
//    the caller makes the inclusive prefix sum `cum` (C*N,) and reads n_isects = cum[-1];
// 2. bin_emit: keys (n_isects,) = (c*T + tile) << 32 | float32 bits of the depth, ids = c*N + g, in
//    Gaussian order (so the stable sort below breaks depth ties by the lower index, as the CPU binning);
// 3. bin_sort: stable radix sort of (keys, ids) on the low `end_bit` bits (32 + bits of C*T) between two
//    buffers each (cub::DoubleBuffer: little temp memory); returns which buffer (0 or 1) holds the result;
//    `temp` of bin_sort_temp_bytes(n_isects, end_bit) bytes;
// 4. bin_offsets: tile_offsets (C*T+1,) int32 from the sorted keys (n_isects >= 1).
void bin_count(const float *means2d, const int32_t *radii, int64_t CN, int tile_size, int tiles_w, int tiles_h,
               int32_t *counts, void *stream);
void bin_emit(const float *means2d, const int32_t *radii, const float *depths, const int64_t *cum, int64_t CN, int N,
              int tile_size, int tiles_w, int tiles_h, uint64_t *keys, int32_t *ids, void *stream);
size_t bin_sort_temp_bytes(int64_t n_isects, int end_bit);
int bin_sort(void *temp, size_t temp_bytes, uint64_t *keys0, uint64_t *keys1, int32_t *ids0, int32_t *ids1,
             int64_t n_isects, int end_bit, void *stream);
void bin_offsets(const uint64_t *sorted_keys, int64_t n_isects, int64_t n_tiles, int32_t *tile_offsets, void *stream);

// render (C,H,W,D) (zeroed when D > 4, else written), alpha (C,H,W), last (C,H,W) int32: all written.
// backgrounds (C,D) may be null. tile_size^2 must be a multiple of 32 and <= 1024.
void raster_fwd(const float *means2d, const float *conics, const float *colors, const float *opacities,
                const float *backgrounds, int C, int N, int D, int width, int height, int tile_size,
                const int32_t *tile_offsets, const int32_t *flatten_ids, float *render, float *alpha, int32_t *last,
                void *stream);

// Adds (atomics) into v_means2d (C,N,2), v_conics (C,N,3), v_colors (C,N,D), v_opacities (C,N).
// alpha: the forward's (final transmittance = 1 - alpha).
void raster_bwd(const float *means2d, const float *conics, const float *colors, const float *opacities, int C, int N,
                int D, int width, int height, int tile_size, const int32_t *tile_offsets, const int32_t *flatten_ids,
                const float *render, const float *alpha, const int32_t *last, const float *v_render,
                const float *v_alpha, float *v_means2d, float *v_conics, float *v_colors, float *v_opacities,
                void *stream);

}  // namespace hgsplat_cuda
