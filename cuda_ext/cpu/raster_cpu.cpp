// CPU triangle rasteriser: triangles are set up in parallel, binned (in id order) to bands of
// `tile_rows` image rows, and each band is rasterised by one OpenMP thread (bounding-box scan per
// triangle with a z-buffer), so no two threads ever write the same pixel.
#include <algorithm>
#include <cmath>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops.h"
#include "raster_common.h"

std::vector<torch::Tensor> hg_cpu::mesh_raster(torch::Tensor verts_screen, torch::Tensor faces, int64_t height,
                                               int64_t width, double znear, int64_t tile_rows) {
  TORCH_CHECK(verts_screen.dim() == 3 && verts_screen.size(2) == 3, "verts_screen must be (B, V, 3)");
  TORCH_CHECK(faces.dim() == 2 && faces.size(1) == 3, "faces must be (F, 3)");
  TORCH_CHECK(height > 0 && width > 0, "image size must be positive");
  auto vs = verts_screen.to(torch::kFloat32).contiguous();
  auto fc = faces.to(torch::kInt32).contiguous();
  const int B = (int)vs.size(0), V = (int)vs.size(1), F = (int)fc.size(0);
  const int H = (int)height, W = (int)width;
  const int TR = (int)std::max<int64_t>(1, tile_rows);
  const int n_tiles = (H + TR - 1) / TR;
  auto opts_i = torch::TensorOptions().dtype(torch::kInt32);
  auto opts_f = torch::TensorOptions().dtype(torch::kFloat32);
  auto tri_id = torch::full({B, H, W}, -1, opts_i);
  auto depth = torch::zeros({B, H, W}, opts_f);
  auto bary = torch::zeros({B, H, W, 3}, opts_f);
  const int* f = fc.data_ptr<int>();
  for (int i = 0; i < F * 3; ++i) TORCH_CHECK(f[i] >= 0 && f[i] < V, "face index out of range");

  std::vector<HgRasterTri> tris(F);
  std::vector<char> valid(F);
  std::vector<int> counts(n_tiles + 1), offsets(n_tiles + 1), cursor(n_tiles);
  std::vector<int> bins;
  std::vector<float> zbuf((size_t)H * W);
  for (int b = 0; b < B; ++b) {
    const float* v = vs.data_ptr<float>() + (size_t)b * V * 3;
    int* out_id = tri_id.data_ptr<int>() + (size_t)b * H * W;
    float* out_d = depth.data_ptr<float>() + (size_t)b * H * W;
    float* out_b = bary.data_ptr<float>() + (size_t)b * H * W * 3;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < F; ++t)
      valid[t] = hg_raster_setup(v + 3 * f[3 * t], v + 3 * f[3 * t + 1], v + 3 * f[3 * t + 2], H, W, (float)znear,
                                 tris[t]);
    // Bin triangles to row bands, keeping ascending ids inside each band.
    std::fill(counts.begin(), counts.end(), 0);
    for (int t = 0; t < F; ++t)
      if (valid[t])
        for (int k = tris[t].ymin / TR; k <= tris[t].ymax / TR; ++k) counts[k]++;
    offsets[0] = 0;
    for (int k = 0; k < n_tiles; ++k) offsets[k + 1] = offsets[k] + counts[k];
    bins.resize(offsets[n_tiles]);
    for (int k = 0; k < n_tiles; ++k) cursor[k] = offsets[k];
    for (int t = 0; t < F; ++t)
      if (valid[t])
        for (int k = tris[t].ymin / TR; k <= tris[t].ymax / TR; ++k) bins[cursor[k]++] = t;

    // zbuf holds s = 1 / depth (0 = empty): no division per candidate pixel.
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < n_tiles; ++k) {
      const int r0 = k * TR, r1 = std::min(H - 1, r0 + TR - 1);
      for (int y = r0; y <= r1; ++y)
        std::fill(zbuf.begin() + (size_t)y * W, zbuf.begin() + (size_t)(y + 1) * W, 0.f);
      for (int q = offsets[k]; q < offsets[k + 1]; ++q) {
        const int t = bins[q];
        const HgRasterTri& tr = tris[t];
        const int ya = std::max(tr.ymin, r0), yb = std::min(tr.ymax, r1);
        for (int y = ya; y <= yb; ++y) {
          float* zrow = zbuf.data() + (size_t)y * W;
          int* irow = out_id + (size_t)y * W;
          for (int x = tr.xmin; x <= tr.xmax; ++x) {
            float s;
            if (hg_raster_inv_depth(tr, (float)x, (float)y, s) && s > zrow[x]) {
              zrow[x] = s;
              irow[x] = t;
            }
          }
        }
      }
      // Resolve: depth and perspective-correct barycentrics of the winning triangle.
      for (int y = r0; y <= r1; ++y)
        for (int x = 0; x < W; ++x) {
          const size_t p = (size_t)y * W + x;
          const int t = out_id[p];
          if (t < 0) continue;
          float d, b0, b1, b2;
          hg_raster_eval(tris[t], (float)x, (float)y, d, b0, b1, b2);
          out_d[p] = 1.0f / zbuf[p];
          out_b[3 * p] = b0; out_b[3 * p + 1] = b1; out_b[3 * p + 2] = b2;
        }
    }
  }
  return {tri_id, depth, bary};
}
