"""Head-model forward throughput (frames/s) on CPU vs a straightforward numpy baseline in the same run.

Models: ICT-FaceKit full (26,719 vertices, 100 identity + 53 expression bases, rigid pose) and a FLAME-size
model (5,023 vertices, 300 + 100 bases, 5 joints, pose correctives; random weights generated here).
Batch sizes 1 and 64, float32, torch.set_num_threads(2) then (1), no autograd (plus one forward+backward row).
Torch and numpy are timed in alternating windows and the best window counts (the machine may be shared).
Run: ``python bench/models.py [--seconds 2] [--threads 2,1]``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from headgen.models import load_head_model
from headgen.testing.flame import write_random_flame_folder


def _rate(fn, batch: int, seconds: float) -> float:
    """frames/s of ``fn`` over a window of about ``seconds`` (at least 3 calls)."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 3:
            return n * batch / dt


def _compare(fa, fb, batch: int, seconds: float, rounds: int = 5) -> tuple[float, float]:
    """Best-of-``rounds`` frames/s of fa and fb, measured in alternating windows (robust on a busy machine)."""
    fa(), fb()  # warm-up
    ra, rb = [], []
    for _ in range(rounds):
        ra.append(_rate(fa, batch, seconds / rounds))
        rb.append(_rate(fb, batch, seconds / rounds))
    return max(ra), max(rb)


# ------------------------------------------------------------------ numpy baselines
def _np_rodrigues(aa):  # (N, 3) -> (N, 3, 3)
    ang = np.linalg.norm(aa + 1e-8, axis=1)[:, None]
    d = aa / ang
    x, y, z = d.T
    K = np.zeros((len(aa), 3, 3), aa.dtype)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0], K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -z, y, z, -x, -y, x
    s, c = np.sin(ang)[:, :, None], np.cos(ang)[:, :, None]
    return np.eye(3, dtype=aa.dtype) + s * K + (1 - c) * K @ K


class NumpyFlame:
    """Plain numpy FLAME forward (the baseline): blend shapes, joint regression, correctives, FK, LBS."""

    def __init__(self, m):
        f32 = lambda t: t.detach().cpu().numpy().astype(np.float32)  # noqa: E731
        self.v = f32(m.v_template)
        self.basis = f32(m.basis)
        self.posedirs = f32(m.posedirs)
        self.W = f32(m.lbs_weights)
        self.Jr = np.random.default_rng(0).random((5, self.v.shape[0])).astype(np.float32)
        self.Jr /= self.Jr.sum(1, keepdims=True)
        self.parents = m.parents.numpy()

    def __call__(self, coeffs, pose, R, t):
        B = coeffs.shape[0]
        vs = self.v + (coeffs @ self.basis).reshape(B, -1, 3)
        J = np.einsum("jv,bvd->bjd", self.Jr, vs)
        rot = _np_rodrigues(pose.reshape(-1, 3)).reshape(B, 5, 3, 3)
        vp = vs + ((rot[:, 1:] - np.eye(3, dtype=np.float32)).reshape(B, -1) @ self.posedirs).reshape(B, -1, 3)
        rel = J.copy()
        rel[:, 1:] -= J[:, self.parents[1:]]
        T = np.zeros((B, 5, 4, 4), np.float32)
        T[:, :, :3, :3], T[:, :, :3, 3], T[:, :, 3, 3] = rot, rel, 1
        G = [T[:, 0]]
        for i in range(1, 5):
            G.append(G[self.parents[i]] @ T[:, i])
        G = np.stack(G, 1)
        G[:, :, :3, 3] -= np.einsum("bjik,bjk->bji", G[:, :, :3, :3], J)
        A = (self.W @ G[:, :, :3].reshape(B, 5, 12)).reshape(B, -1, 3, 4)
        v = np.einsum("bvij,bvj->bvi", A[..., :3], vp) + A[..., 3]
        return v @ R.transpose(0, 2, 1) + t[:, None]


class NumpyICT:
    """Plain numpy ICT forward: template + coefficients @ basis, then rotation and translation."""

    def __init__(self, m):
        self.v = m.template.numpy()
        self.basis = m.basis.numpy()

    def __call__(self, coeffs, R, t):
        B = coeffs.shape[0]
        v = self.v + (coeffs @ self.basis).reshape(B, -1, 3)
        return v @ R.transpose(0, 2, 1) + t[:, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0, help="timing budget per measurement (split in rounds)")
    ap.add_argument("--threads", default="2,1", help="torch.set_num_threads values to run (numpy's BLAS keeps "
                                                      "its own threads)")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        write_random_flame_folder(d, num_vertices=5023)
        flame = load_head_model("flame", path=d)
    ict = load_head_model("ict", parts="full")
    npf, npi = NumpyFlame(flame), NumpyICT(ict)
    print(f"torch {torch.__version__}; ICT full V={ict.num_vertices} bases={ict.n_shape + ict.n_expression}; "
          f"FLAME-size V={flame.num_vertices} bases={flame.n_shape + flame.n_expression} joints=5; "
          f"float32, no autograd, best of 5 alternating windows")
    print(f"{'model':42s} {'threads':>7s} {'batch':>5s} {'torch fps':>10s} {'numpy fps':>10s} {'ratio':>6s}")
    target = {}
    for threads in [int(x) for x in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for B in (1, 64):
            p = dict(shape=torch.randn(B, 300, generator=g), expression=torch.randn(B, 100, generator=g),
                     rotation=0.3 * torch.randn(B, 3, generator=g), translation=torch.randn(B, 3, generator=g),
                     jaw=0.1 * torch.randn(B, 3, generator=g), neck=0.1 * torch.randn(B, 3, generator=g),
                     eyes=0.1 * torch.randn(B, 2, 3, generator=g))
            Rm = flame(rotation=p["rotation"]).rotation.numpy()
            tn = p["translation"].numpy()
            coeffs = torch.cat([p["shape"], p["expression"]], 1).numpy()
            pose = np.concatenate([np.zeros((B, 3), np.float32), p["neck"].numpy(), p["jaw"].numpy(),
                                   p["eyes"].reshape(B, 6).numpy()], 1)
            with torch.no_grad():
                t_f, n_f = _compare(lambda: flame(**p), lambda: npf(coeffs, pose, Rm, tn), B, args.seconds)
            print(f"{'FLAME-size (5023 v, 400 bases, 5 joints)':42s} {threads:7d} {B:5d} {t_f:10.0f} {n_f:10.0f} "
                  f"{t_f / n_f:5.2f}x")
            target[threads, B] = t_f
            pi = dict(shape=torch.randn(B, 100, generator=g), expression=torch.rand(B, 53, generator=g),
                      rotation=p["rotation"], translation=p["translation"])
            ci = torch.cat([pi["shape"], pi["expression"]], 1).numpy()
            with torch.no_grad():
                out = ict(**pi)
                assert np.abs(out.vertices.numpy() - npi(ci, Rm, tn)).max() < 1e-5  # same computation
                t_i, n_i = _compare(lambda: ict(**pi), lambda: npi(ci, Rm, tn), B, args.seconds)
            print(f"{'ICT full (26719 v, 153 bases)':42s} {threads:7d} {B:5d} {t_i:10.0f} {n_i:10.0f} "
                  f"{t_i / n_i:5.2f}x")
        # forward + backward (fitting use), batch 64
        B = 64
        sh = torch.zeros(B, 300, requires_grad=True)
        ex = torch.zeros(B, 100, requires_grad=True)

        def fb():
            out = flame(shape=sh, expression=ex, rotation=torch.zeros(B, 3), jaw=torch.zeros(B, 3))
            out.vertices.square().sum().backward()
        fb()
        t_fb = max(_rate(fb, B, args.seconds / 5) for _ in range(5))
        print(f"{'FLAME-size forward+backward':42s} {threads:7d} {B:5d} {t_fb:10.0f}")
    best = max(v for (th, b), v in target.items() if b == 64)
    print(f"target FLAME-size batch 64 >= 1000 frames/s: {'met' if best >= 1000 else 'NOT met'} "
          f"(best {best:.0f}); machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
