"""Readable pure-torch reference of the 3D Gaussian splatting rasteriser (backend ``"torch"``).

Same conventions and culling rules as the C++/CUDA backends (and gsplat 1.5.3's CUDA kernels), written
as plain differentiable torch ops: autograd gives the backward pass. Compositing is dense (every
pixel against every visible Gaussian, pixels processed in chunks) so it is meant for small scenes and
for checking the extensions, not for speed.

Frames: world -> camera by ``viewmats`` (OpenCV: +x right, +y down, +z forward), pixels (u, v) with
pixel centres at (j + 0.5, i + 0.5).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from headgen.geometry.rotations import quaternion_to_matrix

ALPHA_THRESHOLD = 1.0 / 255.0  # a Gaussian is skipped at a pixel when its alpha is below this
MAX_ALPHA = 0.999  # alpha is clamped to this
T_MIN = 1e-4  # compositing stops before a Gaussian that would bring transmittance to <= T_MIN


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz quaternions (normalised here; zero -> identity) -> (..., 3, 3) rotation matrices."""
    return quaternion_to_matrix(quats)


def quat_scale_to_covar(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """(N,4) wxyz quaternions, (N,3) scales -> (N,3,3) covariances R diag(s)^2 R^T."""
    M = quat_to_rotmat(quats) * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def project(means, quats, scales, opacities, viewmats, Ks, width: int, height: int, eps2d: float = 0.3,
            near_plane: float = 0.01, far_plane: float = 1e10, radius_clip: float = 0.0,
            antialiased: bool = False):
    """EWA projection of N Gaussians into C pinhole cameras.

    means (N,3) world, quats (N,4) wxyz, scales (N,3), opacities (N,) or None (None: 3.33-sigma boxes,
    otherwise opacity-aware boxes and Gaussians with opacity*compensation < 1/255 are culled),
    viewmats (C,4,4) world->camera, Ks (C,3,3).
    Returns radii (C,N,2) int32 (0 = culled), means2d (C,N,2) px, depths (C,N) camera z, conics (C,N,3)
    (a, b, c) of the inverse blurred 2D covariance, compensations (C,N) (sqrt(det/det_blur) when
    ``antialiased`` else 1). Culled entries of the float outputs are 0.
    """
    R = viewmats[:, :3, :3]
    t = viewmats[:, :3, 3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # (C,N,3)
    covars_c = R[:, None] @ quat_scale_to_covar(quats, scales)[None] @ R.transpose(-1, -2)[:, None]  # (C,N,3,3)
    tx, ty, tz = means_c.unbind(-1)
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    # clamp the Jacobian's point to 1.3x the field of view (as gsplat) to keep off-screen Gaussians sane
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos, lim_x_neg = (width - cx) / fx + 0.3 * tan_fovx, cx / fx + 0.3 * tan_fovx
    lim_y_pos, lim_y_neg = (height - cy) / fy + 0.3 * tan_fovy, cy / fy + 0.3 * tan_fovy
    txc = tz * torch.clamp(tx / tz, min=-lim_x_neg, max=lim_x_pos)
    tyc = tz * torch.clamp(ty / tz, min=-lim_y_neg, max=lim_y_pos)
    zero = torch.zeros_like(tz)
    J = torch.stack([fx / tz, zero, -fx * txc / tz**2, zero, fy / tz, -fy * tyc / tz**2], -1).reshape(tz.shape + (2, 3))
    cov2d = J @ covars_c @ J.transpose(-1, -2)
    means2d = torch.stack([fx * tx / tz + cx, fy * ty / tz + cy], -1)

    a, b, c = cov2d[..., 0, 0], 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0]), cov2d[..., 1, 1]
    det_orig = a * c - b * b
    ab, cb = a + eps2d, c + eps2d
    det = ab * cb - b * b
    if antialiased:
        r = det_orig / det
        pos = r > 0  # safe sqrt: zero (not nan) gradient where the compensation is 0 (e.g. zero scales)
        comp = torch.where(pos, torch.sqrt(torch.where(pos, r, torch.ones_like(r))), torch.zeros_like(r))
    else:
        comp = torch.ones_like(det)
    conics = torch.stack([cb / det, -b / det, ab / det], -1)

    with torch.no_grad():
        valid = (det > 0) & (tz >= near_plane) & (tz <= far_plane)
        extend = torch.full_like(det, 3.33)
        if opacities is not None:
            op = opacities[None, :] * comp
            valid &= op >= ALPHA_THRESHOLD
            extend = torch.minimum(extend, torch.sqrt(2.0 * torch.log(op.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD)))
        rx = torch.ceil(extend * torch.sqrt(ab.clamp_min(0)))
        ry = torch.ceil(extend * torch.sqrt(cb.clamp_min(0)))
        valid &= ~((rx <= radius_clip) & (ry <= radius_clip))
        mx, my = means2d.unbind(-1)
        valid &= (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
        valid &= torch.isfinite(means2d).all(-1) & torch.isfinite(det)
        radii = torch.where(valid[..., None], torch.stack([rx, ry], -1), torch.zeros_like(means2d)).to(torch.int32)
    v = valid
    means2d = torch.where(v[..., None], means2d, torch.zeros_like(means2d))
    depths = torch.where(v, tz, torch.zeros_like(tz))
    conics = torch.where(v[..., None], conics, torch.zeros_like(conics))
    comp = torch.where(v, comp, torch.zeros_like(comp))
    return radii, means2d, depths, conics, comp


_SH_C = dict(c0=0.2820947917738781, c1=0.48860251190292)


def sh_bases(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """Real SH bases (gsplat / Sloan ordering) for unit ``dirs`` (...,3) -> (..., (degree+1)^2)."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, _SH_C["c0"])]
    if degree >= 1:
        out += [-_SH_C["c1"] * y, _SH_C["c1"] * z, -_SH_C["c1"] * x]
    if degree >= 2:
        z2 = z * z
        fC1, fS1 = x * x - y * y, 2 * x * y
        fB = -1.092548430592079 * z
        out += [0.5462742152960395 * fS1, fB * y, 0.9461746957575601 * z2 - 0.3153915652525201, fB * x,
                0.5462742152960395 * fC1]
    if degree >= 3:
        fC2, fS2 = x * fC1 - y * fS1, x * fS1 + y * fC1
        fTmpC = -2.285228997322329 * z2 + 0.4570457994644658
        fB3 = 1.445305721320277 * z
        out += [-0.5900435899266435 * fS2, fB3 * fS1, fTmpC * y, z * (1.865881662950577 * z2 - 1.119528997770346),
                fTmpC * x, fB3 * fC1, -0.5900435899266435 * fC2]
    return torch.stack(out, -1)


def sh_colors(degree: int, dirs: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """View-dependent colour sum_k Y_k(normalize(dirs)) coeffs_k: dirs (C,N,3), coeffs (N,K,3) -> (C,N,3).
    (No +0.5 offset / clamp here: rasterize() adds them as gsplat does.)"""
    nb = (degree + 1) ** 2
    B = sh_bases(degree, F.normalize(dirs, p=2, dim=-1))  # (C,N,nb)
    return torch.einsum("cnk,nkd->cnd", B, coeffs[:, :nb])


def composite(means2d, conics, colors, opacities, depths, radii, width: int, height: int,
              backgrounds=None, chunk_elems: int = 1 << 22):
    """Dense front-to-back alpha compositing.

    means2d (C,N,2), conics (C,N,3), colors (C,N,D), opacities (C,N) (already compensated), depths (C,N)
    (sort key), radii (C,N,2) (Gaussians with a zero radius are skipped), backgrounds (C,D) or None.
    Returns images (C,H,W,D) and alphas (C,H,W,1).
    """
    C, N, D = colors.shape
    dev, dt = means2d.device, means2d.dtype
    jj, ii = torch.meshgrid(torch.arange(width, device=dev, dtype=dt), torch.arange(height, device=dev, dtype=dt),
                            indexing="xy")
    pix = torch.stack([jj, ii], -1).reshape(-1, 2) + 0.5  # (H*W, 2) pixel centres, row-major
    images, alphas = [], []
    for c in range(C):
        vis = torch.nonzero((radii[c] > 0).all(-1)).squeeze(-1)
        # front to back; stable sort keeps Gaussian index order for equal depths (same as the extensions)
        order = vis[torch.sort(depths[c, vis].detach(), stable=True).indices]
        m, con, col, op = means2d[c, order], conics[c, order], colors[c, order], opacities[c, order]
        M = order.numel()
        step = max(1, chunk_elems // max(M, 1))
        img_rows, acc_rows = [], []
        for p0 in range(0, pix.shape[0], step):
            p = pix[p0:p0 + step]
            d = m[None, :, :] - p[:, None, :]  # (P,M,2) mean - pixel
            sigma = 0.5 * (con[:, 0] * d[..., 0] ** 2 + con[:, 2] * d[..., 1] ** 2) + con[:, 1] * d[..., 0] * d[..., 1]
            alpha = torch.clamp_max(op * torch.exp(-sigma), MAX_ALPHA)
            alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
            with torch.no_grad():  # first Gaussian that would push T to <= T_MIN and everything after it: dropped
                t_after = torch.cumprod(1 - alpha, dim=1)
                stop = (alpha > 0) & (t_after <= T_MIN)
                keep = torch.cumsum(stop.to(torch.int32), dim=1) == 0
            alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
            T = torch.cumprod(torch.cat([alpha.new_ones(alpha.shape[0], 1), 1 - alpha], 1), dim=1)  # (P,M+1)
            w = alpha * T[:, :-1]
            img = w @ col
            if backgrounds is not None:
                img = img + T[:, -1:] * backgrounds[c]
            img_rows.append(img)
            acc_rows.append(1 - T[:, -1:])
        images.append(torch.cat(img_rows, 0).reshape(height, width, D))
        alphas.append(torch.cat(acc_rows, 0).reshape(height, width, 1))
    return torch.stack(images, 0), torch.stack(alphas, 0)
