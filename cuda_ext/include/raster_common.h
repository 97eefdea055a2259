// Triangle rasterisation math shared by the CPU (g++/OpenMP) and CUDA (nvcc) rasterisers.
//
// Conventions: screen vertices are (x_px, y_px, z) with x right, y down, pixel (i, j) centred at
// (x = j, y = i) (OpenCV), z = camera depth (metres, > 0 in front of the camera). A pixel is
// covered when its centre lies inside or on the triangle (edge function >= 0 for all three edges
// after orienting by the triangle's signed area; both windings are rasterised). Depth and
// barycentrics are perspective-correct: 1/z is affine in screen space. Depth ties go to the
// smaller triangle id (both backends process/compare ids so).
#pragma once
#include "hg_common.h"

#if !defined(__CUDACC__)
#include <cmath>
#endif

struct HgRasterTri {
  float x0, y0, x1, y1, x2, y2;  // screen positions (px)
  float iz0, iz1, iz2;           // 1 / depth
  float inv_area;                // 1 / signed doubled area
  int xmin, xmax, ymin, ymax;    // pixel bounding box clipped to the image (inclusive)
};

HG_HD float hg_edge(float ax, float ay, float bx, float by, float px, float py) {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

// Set up triangle (v0, v1, v2), each (x, y, z). Returns false when it is culled: a vertex at or
// behind the near plane, degenerate (zero area) or outside the image.
HG_HD bool hg_raster_setup(const float* v0, const float* v1, const float* v2, int H, int W, float znear,
                           HgRasterTri& t) {
  if (!(v0[2] > znear) || !(v1[2] > znear) || !(v2[2] > znear)) return false;
  t.x0 = v0[0]; t.y0 = v0[1]; t.x1 = v1[0]; t.y1 = v1[1]; t.x2 = v2[0]; t.y2 = v2[1];
  float area = hg_edge(t.x0, t.y0, t.x1, t.y1, t.x2, t.y2);
  if (!(fabsf(area) > 1e-12f)) return false;  // also rejects NaN
  t.inv_area = 1.0f / area;
  t.iz0 = 1.0f / v0[2]; t.iz1 = 1.0f / v1[2]; t.iz2 = 1.0f / v2[2];
  float mnx = fminf(t.x0, fminf(t.x1, t.x2)), mxx = fmaxf(t.x0, fmaxf(t.x1, t.x2));
  float mny = fminf(t.y0, fminf(t.y1, t.y2)), mxy = fmaxf(t.y0, fmaxf(t.y1, t.y2));
  if (mxx < 0.f || mxy < 0.f || mnx > (float)(W - 1) || mny > (float)(H - 1)) return false;
  t.xmin = (int)ceilf(fmaxf(mnx, 0.f));
  t.xmax = (int)floorf(fminf(mxx, (float)(W - 1)));
  t.ymin = (int)ceilf(fmaxf(mny, 0.f));
  t.ymax = (int)floorf(fminf(mxy, (float)(H - 1)));
  return t.xmin <= t.xmax && t.ymin <= t.ymax;
}

// Coverage and inverse depth at pixel centre (px, py): returns true when covered and writes
// s = 1 / depth (larger = nearer). Bitwise the same numbers as hg_raster_eval (no division).
HG_HD bool hg_raster_inv_depth(const HgRasterTri& t, float px, float py, float& s) {
  float s0 = hg_edge(t.x1, t.y1, t.x2, t.y2, px, py) * t.inv_area;
  float s1 = hg_edge(t.x2, t.y2, t.x0, t.y0, px, py) * t.inv_area;
  float s2 = hg_edge(t.x0, t.y0, t.x1, t.y1, px, py) * t.inv_area;
  if (s0 < 0.f || s1 < 0.f || s2 < 0.f) return false;
  s = s0 * t.iz0 + s1 * t.iz1 + s2 * t.iz2;
  return true;
}

// Evaluate the triangle at pixel centre (px, py). Returns true when covered; then writes the
// perspective-correct depth and barycentrics (b0 + b1 + b2 = 1). The z-buffer compares s = 1/depth
// (hg_raster_inv_depth); depth ties (equal s) go to the smaller triangle id.
HG_HD bool hg_raster_eval(const HgRasterTri& t, float px, float py, float& depth, float& b0, float& b1,
                          float& b2) {
  float s0 = hg_edge(t.x1, t.y1, t.x2, t.y2, px, py) * t.inv_area;
  float s1 = hg_edge(t.x2, t.y2, t.x0, t.y0, px, py) * t.inv_area;
  float s2 = hg_edge(t.x0, t.y0, t.x1, t.y1, px, py) * t.inv_area;
  if (s0 < 0.f || s1 < 0.f || s2 < 0.f) return false;
  float p0 = s0 * t.iz0, p1 = s1 * t.iz1, p2 = s2 * t.iz2;
  float s = p0 + p1 + p2;
  depth = 1.0f / s;
  b0 = p0 * depth; b1 = p1 * depth; b2 = p2 * depth;
  return true;
}
