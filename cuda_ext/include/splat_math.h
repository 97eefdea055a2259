// Per-Gaussian and per-pixel math of the 3D Gaussian splatting rasteriser.
//
// Compiled twice: by nvcc into the CUDA extension (HG_HD = __host__ __device__) and by g++ into the
// OpenMP CPU extension. Everything is templated on the scalar type T (float on CUDA, float or double
// on CPU) so the CPU extension has a float64 path for finite-difference checks.
//
// Conventions (identical to gsplat 1.5.3):
//   quaternions wxyz (normalised inside, zero quaternion -> identity as F.normalize gives 0 -> R = I),
//   viewmat row-major 4x4 world->camera (OpenCV: +x right, +y down, +z forward),
//   K row-major 3x3, pixel centres at (j + 0.5, i + 0.5),
//   conic = (a, b, c) of the inverse 2D covariance [[a, b], [b, c]],
//   sigma = 0.5 * (a dx^2 + c dy^2) + b dx dy with d = mean2d - pixel,
//   alpha = min(0.999, opacity * exp(-sigma)), skipped when sigma < 0 or alpha < 1/255,
//   compositing stops (exclusive) at the first Gaussian that would bring T to <= 1e-4.
// All matrix gradients ("v_" prefix) are full-matrix gradients of symmetric matrices.
#pragma once

#include <math.h>
#include "hg_common.h"

namespace hgsplat {

// double literals: T(HGS_...) gives 1.0f/255.0f etc. in float and the exact values in double
#define HGS_ALPHA_THRESHOLD (1.0 / 255.0)
#define HGS_MAX_ALPHA 0.999
#define HGS_T_MIN 1e-4

HG_HD float hs_sqrt(float x) { return sqrtf(x); }
HG_HD double hs_sqrt(double x) { return sqrt(x); }
HG_HD float hs_exp(float x) { return expf(x); }
HG_HD double hs_exp(double x) { return exp(x); }
HG_HD float hs_log(float x) { return logf(x); }
HG_HD double hs_log(double x) { return log(x); }
HG_HD float hs_ceil(float x) { return ceilf(x); }
HG_HD double hs_ceil(double x) { return ceil(x); }
HG_HD float hs_floor(float x) { return floorf(x); }
HG_HD double hs_floor(double x) { return floor(x); }
template <typename T> HG_HD T hs_min(T a, T b) { return a < b ? a : b; }
template <typename T> HG_HD T hs_max(T a, T b) { return a > b ? a : b; }
template <typename T> HG_HD bool hs_finite(T x) { return (x - x) == T(0); }  // false for nan/inf

// ------------------------------------------------------------------ small matrix helpers (row-major)
template <typename T> HG_HD void mat3_mul(const T *A, const T *B, T *out) {  // out = A B
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            out[i * 3 + j] = A[i * 3 + 0] * B[0 * 3 + j] + A[i * 3 + 1] * B[1 * 3 + j] + A[i * 3 + 2] * B[2 * 3 + j];
}
template <typename T> HG_HD void mat3_mul_bt(const T *A, const T *B, T *out) {  // out = A B^T
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            out[i * 3 + j] = A[i * 3 + 0] * B[j * 3 + 0] + A[i * 3 + 1] * B[j * 3 + 1] + A[i * 3 + 2] * B[j * 3 + 2];
}
template <typename T> HG_HD void mat3_mul_at(const T *A, const T *B, T *out) {  // out = A^T B
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            out[i * 3 + j] = A[0 * 3 + i] * B[0 * 3 + j] + A[1 * 3 + i] * B[1 * 3 + j] + A[2 * 3 + i] * B[2 * 3 + j];
}

// ------------------------------------------------------------------ rotation / covariance
// R (row-major) from a wxyz quaternion, normalised with max(|q|, 1e-12) like torch F.normalize.
template <typename T> HG_HD void quat_to_rotmat(const T *q, T *R, T *qn_out = nullptr) {
    T n = hs_sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    T inv = T(1) / hs_max(n, T(1e-12));
    T w = q[0] * inv, x = q[1] * inv, y = q[2] * inv, z = q[3] * inv;
    if (qn_out) { qn_out[0] = w; qn_out[1] = x; qn_out[2] = y; qn_out[3] = z; }
    R[0] = T(1) - T(2) * (y * y + z * z); R[1] = T(2) * (x * y - w * z); R[2] = T(2) * (x * z + w * y);
    R[3] = T(2) * (x * y + w * z); R[4] = T(1) - T(2) * (x * x + z * z); R[5] = T(2) * (y * z - w * x);
    R[6] = T(2) * (x * z - w * y); R[7] = T(2) * (y * z + w * x); R[8] = T(1) - T(2) * (x * x + y * y);
}

// Backward of quat_to_rotmat: g = dL/dR (row-major) -> dL/dq (raw, unnormalised quaternion), added to v_q.
template <typename T> HG_HD void quat_to_rotmat_vjp(const T *q, const T *g, T *v_q) {
    T n = hs_sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (n < T(1e-12)) return;  // F.normalize clamps the norm: gradient through the clamp is zero scaled
    T inv = T(1) / n;
    T w = q[0] * inv, x = q[1] * inv, y = q[2] * inv, z = q[3] * inv;
    T vw = T(2) * (x * (g[7] - g[5]) + y * (g[2] - g[6]) + z * (g[3] - g[1]));
    T vx = T(2) * (y * g[1] + z * g[2] + y * g[3] - T(2) * x * g[4] - w * g[5] + z * g[6] + w * g[7] - T(2) * x * g[8]);
    T vy = T(2) * (-T(2) * y * g[0] + x * g[1] + w * g[2] + x * g[3] + z * g[5] - w * g[6] + z * g[7] - T(2) * y * g[8]);
    T vz = T(2) * (-T(2) * z * g[0] - w * g[1] + x * g[2] + w * g[3] - T(2) * z * g[4] + y * g[5] + x * g[6] + y * g[7]);
    // through normalisation: v_raw = (v_n - n (n . v_n)) / |q|
    T dot = w * vw + x * vx + y * vy + z * vz;
    v_q[0] += (vw - w * dot) * inv;
    v_q[1] += (vx - x * dot) * inv;
    v_q[2] += (vy - y * dot) * inv;
    v_q[3] += (vz - z * dot) * inv;
}

// Sigma = R S S R^T (3x3 row-major), M = R S also returned (for the backward pass).
template <typename T> HG_HD void quat_scale_to_covar(const T *q, const T *s, T *cov, T *R_out = nullptr) {
    T R[9];
    quat_to_rotmat(q, R);
    T M[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) M[i * 3 + j] = R[i * 3 + j] * s[j];
    mat3_mul_bt(M, M, cov);
    if (R_out)
        for (int i = 0; i < 9; ++i) R_out[i] = R[i];
}

// v_cov (full symmetric 3x3 gradient) -> v_q, v_s (added).
template <typename T> HG_HD void quat_scale_to_covar_vjp(const T *q, const T *s, const T *v_cov, T *v_q, T *v_s) {
    T R[9];
    quat_to_rotmat(q, R);
    T M[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) M[i * 3 + j] = R[i * 3 + j] * s[j];
    // Sigma = M M^T -> v_M = (v_cov + v_cov^T) M
    T vs[9];
    for (int i = 0; i < 9; ++i) vs[i] = v_cov[i] + v_cov[(i % 3) * 3 + i / 3];
    T v_M[9];
    mat3_mul(vs, M, v_M);
    T v_R[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
            v_R[i * 3 + j] = v_M[i * 3 + j] * s[j];
            v_s[j] += v_M[i * 3 + j] * R[i * 3 + j];
        }
    quat_to_rotmat_vjp(q, v_R, v_q);
}

// ------------------------------------------------------------------ projection
struct ProjParams {
    int width, height;
    double eps2d, near_plane, far_plane, radius_clip;
    bool antialiased;
};

// The projection settings of one call (shared by the CPU and CUDA bindings).
inline ProjParams make_proj_params(long long width, long long height, double eps2d, double near_plane,
                                   double far_plane, double radius_clip, bool antialiased) {
    ProjParams p;
    p.width = (int)width;
    p.height = (int)height;
    p.eps2d = eps2d;
    p.near_plane = near_plane;
    p.far_plane = far_plane;
    p.radius_clip = radius_clip;
    p.antialiased = antialiased;
    return p;
}

template <typename T> struct ProjOut {
    T mean2d[2];
    T depth;
    T conic[3];
    T comp;        // opacity compensation (1 when not antialiased)
    int radius[2];  // 0 = culled
};

// A Gaussian in camera coordinates: Rv (9) the view rotation, mc (3) the mean, covc (9) the covariance
// Rv R diag(s)^2 R^T Rv^T. viewmat: 16 row-major world-to-camera.
template <typename T>
HG_HD void gaussian_to_camera(const T *mean, const T *q, const T *s, const T *viewmat, T *Rv, T *mc, T *covc) {
    const int rows[3] = {0, 4, 8};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) Rv[i * 3 + j] = viewmat[rows[i] + j];
    for (int i = 0; i < 3; ++i) mc[i] = Rv[i * 3] * mean[0] + Rv[i * 3 + 1] * mean[1] + Rv[i * 3 + 2] * mean[2] + viewmat[i * 4 + 3];
    T cov[9], tmp[9];
    quat_scale_to_covar(q, s, cov);
    mat3_mul(Rv, cov, tmp);
    mat3_mul_bt(tmp, Rv, covc);
}

// The pinhole projection's Jacobian at a camera-space mean mc and the projected 2D covariance
// J covc J^T (gsplat's persp_proj: for the Jacobian the mean's image-plane ratios x/z, y/z are clamped
// to 1.3x the image's half field of view). Shared by project_gaussian and its backward.
template <typename T> struct Cov2D {
    T rz;                   // 1 / depth
    T txc, tyc;             // the clamped camera x, y in the Jacobian
    bool clamp_x, clamp_y;  // whether the ratio was clamped (the Jacobian then ignores it)
    T J[6];                 // 2x3 Jacobian, row-major
    T JC[6];                // J covc
    T a, b, c;              // the symmetric 2D covariance [[a, b], [b, c]], before eps2d
};

template <typename T>
HG_HD void project_cov2d(const T *mc, const T *covc, const T *K, const ProjParams &p, Cov2D<T> &o) {
    const T fx = K[0], fy = K[4], cx = K[2], cy = K[5];
    const T tan_fovx = T(0.5) * T(p.width) / fx, tan_fovy = T(0.5) * T(p.height) / fy;
    const T lim_x_pos = (T(p.width) - cx) / fx + T(0.3) * tan_fovx;
    const T lim_x_neg = cx / fx + T(0.3) * tan_fovx;
    const T lim_y_pos = (T(p.height) - cy) / fy + T(0.3) * tan_fovy;
    const T lim_y_neg = cy / fy + T(0.3) * tan_fovy;
    const T tz = mc[2], rz = T(1) / tz, rz2 = rz * rz;
    const T ux = mc[0] * rz, uy = mc[1] * rz;
    o.rz = rz;
    o.clamp_x = ux < -lim_x_neg || ux > lim_x_pos;
    o.clamp_y = uy < -lim_y_neg || uy > lim_y_pos;
    o.txc = tz * hs_min(lim_x_pos, hs_max(-lim_x_neg, ux));
    o.tyc = tz * hs_min(lim_y_pos, hs_max(-lim_y_neg, uy));
    const T J[6] = {fx * rz, T(0), -fx * o.txc * rz2, T(0), fy * rz, -fy * o.tyc * rz2};
    for (int i = 0; i < 6; ++i) o.J[i] = J[i];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) o.JC[i * 3 + j] = J[i * 3] * covc[j] + J[i * 3 + 1] * covc[3 + j] + J[i * 3 + 2] * covc[6 + j];
    T c2[4];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            c2[i * 2 + j] = o.JC[i * 3] * J[j * 3] + o.JC[i * 3 + 1] * J[j * 3 + 1] + o.JC[i * 3 + 2] * J[j * 3 + 2];
    o.a = c2[0];
    o.b = T(0.5) * (c2[1] + c2[2]);
    o.c = c2[3];
}

// Full forward projection of one Gaussian into one camera (gsplat's fully_fused_projection, pinhole).
// viewmat: 16 row-major, K: 9 row-major. opacity may be null (then the 3.33 sigma box is used).
template <typename T>
HG_HD void project_gaussian(const T *mean, const T *q, const T *s, const T *opacity, const T *viewmat, const T *K,
                            const ProjParams &p, ProjOut<T> &o) {
    o.radius[0] = o.radius[1] = 0;
    o.mean2d[0] = o.mean2d[1] = T(0);
    o.depth = T(0);
    o.conic[0] = o.conic[1] = o.conic[2] = T(0);
    o.comp = T(0);
    T Rv[9], mc[3], covc[9];
    gaussian_to_camera(mean, q, s, viewmat, Rv, mc, covc);
    if (!(hs_finite(mc[0]) && hs_finite(mc[1]) && hs_finite(mc[2]))) return;
    if (mc[2] < T(p.near_plane) || mc[2] > T(p.far_plane)) return;
    const T fx = K[0], fy = K[4], cx = K[2], cy = K[5];
    const T tx = mc[0], ty = mc[1], tz = mc[2];
    Cov2D<T> cv;
    project_cov2d(mc, covc, K, p, cv);
    const T rz = cv.rz, a = cv.a, b = cv.b, c = cv.c;
    const T det_orig = a * c - b * b;
    const T ab = a + T(p.eps2d), cb = c + T(p.eps2d);
    const T det = ab * cb - b * b;
    if (!(det > T(0)) || !hs_finite(det)) return;
    T comp = T(1);
    if (p.antialiased) {
        T r = det_orig / det;
        comp = r > T(0) ? hs_sqrt(r) : T(0);
    }
    T extend = T(3.33);
    if (opacity) {
        T op = opacity[0] * comp;
        if (!(op >= T(HGS_ALPHA_THRESHOLD))) return;  // also rejects nan
        T e = hs_sqrt(T(2) * hs_log(op / T(HGS_ALPHA_THRESHOLD)));
        extend = hs_min(extend, e);
    }
    const T rx = hs_ceil(extend * hs_sqrt(ab)), ry = hs_ceil(extend * hs_sqrt(cb));
    if (rx <= T(p.radius_clip) && ry <= T(p.radius_clip)) return;
    const T m0 = fx * tx * rz + cx, m1 = fy * ty * rz + cy;
    if (!(hs_finite(m0) && hs_finite(m1))) return;
    if (m0 + rx <= T(0) || m0 - rx >= T(p.width) || m1 + ry <= T(0) || m1 - ry >= T(p.height)) return;
    o.radius[0] = (int)rx;
    o.radius[1] = (int)ry;
    o.mean2d[0] = m0;
    o.mean2d[1] = m1;
    o.depth = tz;
    o.conic[0] = cb / det;
    o.conic[1] = -b / det;
    o.conic[2] = ab / det;
    o.comp = comp;
}

// Backward of project_gaussian for a visible Gaussian. Incoming gradients: v_mean2d[2], v_depth,
// v_conic[3], v_comp. Outgoing (added): v_mean[3], v_q[4], v_s[3].
template <typename T>
HG_HD void project_gaussian_vjp(const T *mean, const T *q, const T *s, const T *viewmat, const T *K, const ProjParams &p,
                                const T *v_mean2d, T v_depth, const T *v_conic, T v_comp, T *v_mean, T *v_q, T *v_s) {
    T Rv[9], mc[3], covc[9];
    gaussian_to_camera(mean, q, s, viewmat, Rv, mc, covc);
    const T fx = K[0], fy = K[4];
    const T tx = mc[0], ty = mc[1];
    Cov2D<T> cv;
    project_cov2d(mc, covc, K, p, cv);
    const T rz = cv.rz, rz2 = rz * rz, rz3 = rz2 * rz, txc = cv.txc, tyc = cv.tyc;
    const bool clamp_x = cv.clamp_x, clamp_y = cv.clamp_y;
    const T *J = cv.J, *JC = cv.JC;
    const T a = cv.a, b = cv.b, c = cv.c;
    const T ab = a + T(p.eps2d), cb = c + T(p.eps2d);
    const T det = ab * cb - b * b;
    const T det_orig = a * c - b * b;
    // conic = inverse(S_blur): v_S = -Sinv G Sinv, G = [[va, vb/2],[vb/2, vc]]
    const T Si[4] = {cb / det, -b / det, -b / det, ab / det};
    const T G[4] = {v_conic[0], T(0.5) * v_conic[1], T(0.5) * v_conic[1], v_conic[2]};
    T SG[4], vS[4];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) SG[i * 2 + j] = Si[i * 2] * G[j] + Si[i * 2 + 1] * G[2 + j];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) vS[i * 2 + j] = -(SG[i * 2] * Si[j] + SG[i * 2 + 1] * Si[2 + j]);
    if (p.antialiased && v_comp != T(0)) {
        T r = det_orig / det;
        if (r > T(0)) {
            T comp = hs_sqrt(r);
            // d comp = 0.5/comp * (d det_o / det - det_o d det / det^2); d det/dS = adj(S)
            T k = v_comp * T(0.5) / comp;
            T k1 = k / det, k2 = -k * det_orig / (det * det);
            vS[0] += k1 * c + k2 * cb;
            vS[1] += -(k1 + k2) * b;
            vS[2] += -(k1 + k2) * b;
            vS[3] += k1 * a + k2 * ab;
        }
    }
    // cov2d = J C J^T -> v_C = J^T vS J ; v_J = (vS + vS^T) J C
    T vSs[4] = {vS[0], vS[1] + vS[2], vS[1] + vS[2], vS[3]};  // vS + vS^T (scaled below)
    vSs[0] *= T(2); vSs[3] *= T(2);
    T v_J[6];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) v_J[i * 3 + j] = vSs[i * 2] * JC[j] + vSs[i * 2 + 1] * JC[3 + j];
    T v_covc[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
            T acc = T(0);
            for (int k = 0; k < 2; ++k)
                for (int l = 0; l < 2; ++l) acc += J[k * 3 + i] * vS[k * 2 + l] * J[l * 3 + j];
            v_covc[i * 3 + j] = acc;
        }
    // camera-space mean gradient
    T v_mc[3] = {T(0), T(0), v_depth};
    // mean2d = (fx tx/tz + cx, fy ty/tz + cy)
    v_mc[0] += fx * rz * v_mean2d[0];
    v_mc[1] += fy * rz * v_mean2d[1];
    v_mc[2] += -fx * tx * rz2 * v_mean2d[0] - fy * ty * rz2 * v_mean2d[1];
    // J: J00 = fx/tz, J02 = -fx txc/tz^2, J11 = fy/tz, J12 = -fy tyc/tz^2
    v_mc[2] += -fx * rz2 * v_J[0] - fy * rz2 * v_J[4];
    T v_txc = -fx * rz2 * v_J[2], v_tyc = -fy * rz2 * v_J[5];
    v_mc[2] += T(2) * fx * txc * rz3 * v_J[2] + T(2) * fy * tyc * rz3 * v_J[5];
    if (clamp_x) v_mc[2] += v_txc * txc * rz; else v_mc[0] += v_txc;
    if (clamp_y) v_mc[2] += v_tyc * tyc * rz; else v_mc[1] += v_tyc;
    // world mean: mc = Rv mean + t
    for (int j = 0; j < 3; ++j) v_mean[j] += Rv[j] * v_mc[0] + Rv[3 + j] * v_mc[1] + Rv[6 + j] * v_mc[2];
    // covc = Rv cov Rv^T -> v_cov = Rv^T v_covc Rv
    T t2[9], v_cov[9];
    mat3_mul_at(Rv, v_covc, t2);
    mat3_mul(t2, Rv, v_cov);
    quat_scale_to_covar_vjp(q, s, v_cov, v_q, v_s);
}

// ------------------------------------------------------------------ spherical harmonics
// Forward-mode dual number with 3 partials (d/dx, d/dy, d/dz), used to differentiate the SH bases.
template <typename T> struct Dual3 {
    T v, d[3];
};
template <typename T> HG_HD Dual3<T> dmake(T v, int k) {
    Dual3<T> r; r.v = v; r.d[0] = r.d[1] = r.d[2] = T(0);
    if (k >= 0) r.d[k] = T(1);
    return r;
}
template <typename T> HG_HD Dual3<T> operator*(const Dual3<T> &a, const Dual3<T> &b) {
    Dual3<T> r; r.v = a.v * b.v;
    for (int k = 0; k < 3; ++k) r.d[k] = a.d[k] * b.v + a.v * b.d[k];
    return r;
}
template <typename T> HG_HD Dual3<T> operator+(const Dual3<T> &a, const Dual3<T> &b) {
    Dual3<T> r; r.v = a.v + b.v;
    for (int k = 0; k < 3; ++k) r.d[k] = a.d[k] + b.d[k];
    return r;
}
template <typename T> HG_HD Dual3<T> operator-(const Dual3<T> &a, const Dual3<T> &b) {
    Dual3<T> r; r.v = a.v - b.v;
    for (int k = 0; k < 3; ++k) r.d[k] = a.d[k] - b.d[k];
    return r;
}
template <typename T> HG_HD Dual3<T> operator*(T s, const Dual3<T> &a) {
    Dual3<T> r; r.v = s * a.v;
    for (int k = 0; k < 3; ++k) r.d[k] = s * a.d[k];
    return r;
}
template <typename T> HG_HD Dual3<T> operator+(const Dual3<T> &a, T s) {
    Dual3<T> r = a; r.v += s;
    return r;
}

// SH bases (gsplat / Sloan ordering) up to (degree+1)^2 <= 16 at unit direction (x, y, z). S is T or Dual3<T>.
template <typename T, typename S> HG_HD void sh_bases(int degree, const S &x, const S &y, const S &z, S *out) {
    out[0] = T(0) * x + T(0.2820947917738781);
    if (degree < 1) return;
    out[1] = T(-0.48860251190292) * y;
    out[2] = T(0.48860251190292) * z;
    out[3] = T(-0.48860251190292) * x;
    if (degree < 2) return;
    S z2 = z * z;
    S fTmpB = T(-1.092548430592079) * z;
    S fC1 = x * x - y * y;
    S fS1 = T(2) * (x * y);
    out[6] = T(0.9461746957575601) * z2 + T(-0.3153915652525201);
    out[7] = fTmpB * x;
    out[5] = fTmpB * y;
    out[8] = T(0.5462742152960395) * fC1;
    out[4] = T(0.5462742152960395) * fS1;
    if (degree < 3) return;
    S fTmpC = T(-2.285228997322329) * z2 + T(0.4570457994644658);
    S fTmpB3 = T(1.445305721320277) * z;
    S fC2 = x * fC1 - y * fS1;
    S fS2 = x * fS1 + y * fC1;
    out[12] = z * (T(1.865881662950577) * z2 + T(-1.119528997770346));
    out[13] = fTmpC * x;
    out[11] = fTmpC * y;
    out[14] = fTmpB3 * fC1;
    out[10] = fTmpB3 * fS1;
    out[15] = T(-0.5900435899266435) * fC2;
    out[9] = T(-0.5900435899266435) * fS2;
}

// colors[3] = sum_k basis_k(normalize(dir)) * coeffs[k][3], K = coeffs rows (>= (degree+1)^2).
template <typename T> HG_HD void sh_eval(int degree, const T *dir, const T *coeffs, T *color) {
    T n = hs_sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    T inv = T(1) / hs_max(n, T(1e-12));
    T x = dir[0] * inv, y = dir[1] * inv, z = dir[2] * inv;
    Dual3<T> X = dmake(x, -1), Y = dmake(y, -1), Z = dmake(z, -1);
    Dual3<T> B[16];
    sh_bases<T>(degree, X, Y, Z, B);
    int nb = (degree + 1) * (degree + 1);
    color[0] = color[1] = color[2] = T(0);
    for (int k = 0; k < nb; ++k)
        for (int ch = 0; ch < 3; ++ch) color[ch] += B[k].v * coeffs[k * 3 + ch];
}

// Backward: v_color[3] -> v_coeffs (added, K x 3) and v_dir (added, 3; null to skip).
template <typename T> HG_HD void sh_eval_vjp(int degree, const T *dir, const T *coeffs, const T *v_color, T *v_coeffs, T *v_dir) {
    T n = hs_sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    T inv = T(1) / hs_max(n, T(1e-12));
    T x = dir[0] * inv, y = dir[1] * inv, z = dir[2] * inv;
    Dual3<T> X = dmake(x, 0), Y = dmake(y, 1), Z = dmake(z, 2);
    Dual3<T> B[16];
    sh_bases<T>(degree, X, Y, Z, B);
    int nb = (degree + 1) * (degree + 1);
    T vn[3] = {T(0), T(0), T(0)};
    for (int k = 0; k < nb; ++k) {
        T vb = T(0);
        for (int ch = 0; ch < 3; ++ch) {
            v_coeffs[k * 3 + ch] += B[k].v * v_color[ch];
            vb += coeffs[k * 3 + ch] * v_color[ch];
        }
        for (int j = 0; j < 3; ++j) vn[j] += vb * B[k].d[j];
    }
    if (v_dir && n >= T(1e-12)) {
        T dot = x * vn[0] + y * vn[1] + z * vn[2];
        v_dir[0] += (vn[0] - x * dot) * inv;
        v_dir[1] += (vn[1] - y * dot) * inv;
        v_dir[2] += (vn[2] - z * dot) * inv;
    }
}

// ------------------------------------------------------------------ per-pixel compositing math
// Gaussian falloff at pixel centre (px, py). Returns false when the Gaussian is skipped for this pixel.
template <typename T>
HG_HD bool eval_alpha(const T *mean2d, const T *conic, T opac, T px, T py, T &alpha, T &vis, T &dx, T &dy) {
    dx = mean2d[0] - px;
    dy = mean2d[1] - py;
    T sigma = T(0.5) * (conic[0] * dx * dx + conic[2] * dy * dy) + conic[1] * dx * dy;
    vis = hs_exp(-sigma);
    alpha = hs_min(T(HGS_MAX_ALPHA), opac * vis);
    return !(sigma < T(0) || alpha < T(HGS_ALPHA_THRESHOLD));
}

// dL/dalpha -> dL/dmean2d, dL/dconic, dL/dopacity (added).
template <typename T>
HG_HD void eval_alpha_vjp(const T *conic, T opac, T vis, T dx, T dy, T v_alpha, T *v_mean2d, T *v_conic, T *v_opac) {
    if (opac * vis > T(HGS_MAX_ALPHA)) return;  // clamped: no gradient
    T v_sigma = -opac * vis * v_alpha;
    v_conic[0] += T(0.5) * v_sigma * dx * dx;
    v_conic[1] += v_sigma * dx * dy;
    v_conic[2] += T(0.5) * v_sigma * dy * dy;
    v_mean2d[0] += v_sigma * (conic[0] * dx + conic[1] * dy);
    v_mean2d[1] += v_sigma * (conic[1] * dx + conic[2] * dy);
    v_opac[0] += vis * v_alpha;
}

// Tile rectangle [tmin, tmax) touched by a projected Gaussian (gsplat isect_tiles).
HG_HD void tile_rect(float mx, float my, int rx, int ry, int tile_size, int tiles_w, int tiles_h, int *tmin, int *tmax) {
    float ts = (float)tile_size;
    int x0 = (int)floorf(mx / ts - (float)rx / ts), y0 = (int)floorf(my / ts - (float)ry / ts);
    int x1 = (int)ceilf(mx / ts + (float)rx / ts), y1 = (int)ceilf(my / ts + (float)ry / ts);
    tmin[0] = x0 < 0 ? 0 : (x0 > tiles_w ? tiles_w : x0);
    tmin[1] = y0 < 0 ? 0 : (y0 > tiles_h ? tiles_h : y0);
    tmax[0] = x1 < 0 ? 0 : (x1 > tiles_w ? tiles_w : x1);
    tmax[1] = y1 < 0 ? 0 : (y1 > tiles_h ? tiles_h : y1);
}

}  // namespace hgsplat
