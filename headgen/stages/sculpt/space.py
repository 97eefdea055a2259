"""The coordinate system the sculpt diffusion model works in, and how edits are applied to a head.

``z = [a (K shape attributes, z-scores), 2 w - 1 (E expression weights)]``

* ``a`` are the shape attributes of ``headgen.models.attributes`` linearised at the mean head and z-scored
  by their spread under the identity prior (``shape ~ N(0, I)``): ``a(x) = a0 + Jz x``.
* Each shape attribute k has an *edit direction* ``D[:, k]`` in identity-coefficient space with
  ``Jz D = I`` (moving along it changes attribute k by one standard deviation and, to first order, no other
  attribute) that moves the vertices outside the attribute's region as little as possible
  (``min |B_out d|^2 + lam |d|^2`` subject to ``Jz d = e_k``, closed form). Identity coefficients are
  therefore ``x = x_rest + D a``: an edit rewrites the attributes the prompt is about and keeps ``x_rest``
  (the person) and every other attribute.
* Expressions are the model's own blendshape weights (ICT: 53, ARKit-named), in [0, 1].
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from headgen.models.attributes import (SHAPE_ATTRIBUTES, SHAPE_NAMES, LandmarkBasis, attribute_regions,
                                       expression_attributes, expression_region, measure_expression)

N_PRIOR = 4000
LAMBDA = 1e-4
#: attribute z-scores written into a head are clamped to the training range
Z_MAX = 3.0
#: an edit keeps every shape attribute the prompt does not ask for within this many prior std (10 % of the
#: 4-std range is the issue's bound; the margin absorbs the linearisation)
KEEP_TOL = 0.25


def compress_to_attainable(t: float, m: float, full: float = Z_MAX) -> float:
    """Map an asked change t (std, >= 0) onto an attainable range [0, m] when m < ``full`` (the largest change
    the intensity words ask for): changes up to m / 2 are kept, the rest of [m / 2, full] is mapped linearly
    onto [m / 2, m] (asks above ``full`` give m). Monotone, so a larger ask never gives a smaller change;
    m >= full: t unchanged."""
    if m >= full or t <= m / 2:
        return float(t)
    knee = m / 2
    return float(knee + (min(t, full) - knee) * (m - knee) / (full - knee))


def model_digest(model) -> str:
    """Short digest of a model's basis (so cached weights are never used with another model variant)."""
    h = hashlib.sha256()
    b = model.basis_soa.detach().cpu().float().numpy()
    h.update(np.ascontiguousarray(b[:, ::97]).tobytes())
    h.update(str((model.model_name, model.n_shape, model.n_expression, model.num_vertices)).encode())
    return h.hexdigest()[:16]


class SculptSpace:
    """Attribute coordinates and edit directions of one head model (ICT-FaceKit "face" part by default).

    Attributes: ``model``, ``lb`` (LandmarkBasis, float64), ``S``/``E``/``K`` (identity, expression, shape
    attribute counts), ``mu``/``sd`` (K,) prior mean/std of each shape attribute (mm or ratio), ``Jz`` (K, S),
    ``a0`` (K,), ``D`` (S, K), ``expr_attrs`` (list of ExpressionAttribute), ``regions`` (name -> bool (V,)).
    """

    def __init__(self, model, state: dict | None = None):
        self.model = model
        self.lb = LandmarkBasis(model)
        self.S, self.E, self.K = model.n_shape, model.n_expression, len(SHAPE_NAMES)
        self.expr_attrs = expression_attributes(model.expression_names)
        self.digest = model_digest(model)
        if state is not None:
            for k in ("mu", "sd", "Jz", "a0", "D"):
                setattr(self, k, torch.as_tensor(np.asarray(state[k]), dtype=torch.float64))
        else:
            self._build()
        self._regions = None

    # ------------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        g = torch.Generator().manual_seed(1234)
        x = torch.randn(N_PRIOR, self.S, generator=g, dtype=torch.float64)
        a = self.lb.measure(x.to(self.lb.mean))
        self.mu, self.sd = a.mean(0).double().cpu(), a.std(0).double().cpu()
        zero = torch.zeros(1, self.S, dtype=self.lb.mean.dtype, device=self.lb.mean.device)
        J = torch.autograd.functional.jacobian(lambda s: self.lb.measure(s)[0], zero)[:, 0, :].double().cpu()
        self.Jz = J / self.sd[:, None]
        self.a0 = (self.lb.measure(zero)[0].double().cpu() - self.mu) / self.sd
        B = self.model.basis[: self.S].double().cpu().view(self.S, -1, 3) * 1000.0  # (S, V, 3) mm
        regions = attribute_regions(self.model)
        D = torch.zeros(self.S, self.K, dtype=torch.float64)
        eye = torch.eye(self.S, dtype=torch.float64)
        for k, name in enumerate(SHAPE_NAMES):
            out = torch.from_numpy(~regions[name])
            if int(out.sum()) > 0:
                Bo = B[:, out].reshape(self.S, -1)
                M = Bo @ Bo.T / int(out.sum()) + LAMBDA * eye
            else:
                M = LAMBDA * eye
            Mi = torch.linalg.inv(M)
            e = torch.zeros(self.K, dtype=torch.float64)
            e[k] = 1.0
            D[:, k] = Mi @ self.Jz.T @ torch.linalg.solve(self.Jz @ Mi @ self.Jz.T, e)
        self.D = D

    def state(self) -> dict:
        """Tensors that reproduce this space (stored beside the trained weights)."""
        return {k: getattr(self, k).clone() for k in ("mu", "sd", "Jz", "a0", "D")}

    @property
    def dim(self) -> int:
        """Length of z: K + E."""
        return self.K + self.E

    @property
    def regions(self) -> dict[str, np.ndarray]:
        """name -> bool (V,) vertices an edit of the attribute may move (shape and expression attributes)."""
        if self._regions is None:
            r = attribute_regions(self.model)
            eb = self.model.basis.view(self.model.basis.shape[0], -1, 3)[self.S:]
            for ea in self.expr_attrs:
                r[ea.name] = expression_region(self.model, ea.columns, expression_basis=eb)
            self._regions = r
        return self._regions

    # ------------------------------------------------------------------------------------------------------
    def to_z(self, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """shape (B, S') identity coefficients, expression (B, E) weights -> z (B, K + E) float64."""
        shape = _pad(shape.double().cpu(), self.S)
        a = self.a0 + shape @ self.Jz.T
        return torch.cat([a, 2 * expression.double().cpu() - 1], 1)

    def apply(self, shape0: torch.Tensor, expression0: torch.Tensor, z: torch.Tensor, free: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the free coordinates of z into a head.

        shape0 (B, S') / expression0 (B, E): the head(s) before; z (B, K + E) new coordinates; free (K + E,)
        bool: which coordinates change. -> (shape (B, max(S', S)), expression (B, E) clipped to [0, 1]).
        Identity: ``x = x0 + D[:, free] (a_new - a(x0))[free]`` (a_new clamped to +-Z_MAX); expression: free columns replaced.
        """
        shape0 = shape0.double().cpu()
        S0 = shape0.shape[1]
        x0 = _pad(shape0, self.S)
        z0 = self.to_z(x0, expression0)
        z = z.double().cpu()
        fa = free[: self.K].double()
        a_new = z[:, : self.K].clamp(-Z_MAX, Z_MAX)   # the training range of attribute z-scores
        x = x0 + ((a_new - z0[:, : self.K]) * fa) @ self.D.T
        if S0 > self.S:
            x = torch.cat([x, shape0[:, self.S:]], 1)
        fe = free[self.K:]
        e = expression0.double().cpu().clone()
        e[:, fe] = ((z[:, self.K:][:, fe] + 1) / 2).clamp(0, 1)
        return x, e

    # ------------------------------------------------------------------------------------------------------
    def _vertex_basis(self) -> torch.Tensor:
        """(S, V, 3) identity basis of the model in millimetres (float64, CPU; cached)."""
        if getattr(self, "_B", None) is None:
            self._B = self.model.basis[: self.S].double().cpu().view(self.S, -1, 3) * 1000.0
        return self._B

    def region_mask(self, names) -> np.ndarray:
        """bool (V,): union of the regions of the named attributes (shape or expression); all False for none."""
        m = np.zeros(self.model.num_vertices, bool)
        for n in names:
            if n in self.regions:
                m |= self.regions[n]
        return m

    def outside_gram(self, region: np.ndarray | None) -> tuple[torch.Tensor, int]:
        """(M (S, S), n): ``d^T M d`` is the mean squared displacement (mm^2) of the vertices outside ``region``
        (bool (V,); None = no region, M = 0) caused by an identity change d; n = number of those vertices."""
        if region is None or bool(np.all(region)):
            return torch.zeros(self.S, self.S, dtype=torch.float64), 0
        out = torch.from_numpy(~np.asarray(region, bool))
        n = int(out.sum())
        Bo = self._vertex_basis()[:, out].reshape(self.S, -1)
        return Bo @ Bo.T / n, n

    def zmeasure(self, x: torch.Tensor, jacobian: bool = False):
        """Exact (nonlinear) shape attributes of identity x (S,) in prior z-scores (K,) and, with ``jacobian``,
        their Jacobian (K, S) at x."""
        x = _pad(x.double().cpu().reshape(1, -1), self.S)[0]
        dev, dt = self.lb.mean.device, self.lb.mean.dtype
        f = lambda s: ((self.lb.measure(s[None])[0].double().cpu() - self.mu) / self.sd)
        a = f(x.to(dev, dt)).detach()
        if not jacobian:
            return a
        J = torch.autograd.functional.jacobian(f, x.to(dev, dt), vectorize=True).double().cpu()
        return a, J

    def edit_identity(self, x0: torch.Tensor, delta: torch.Tensor, active: torch.Tensor,
                      region: np.ndarray | None, *, keep_tol: float = KEEP_TOL, max_outside_mm: float | None = None,
                      full_range: float | None = Z_MAX, iters: int = 4) -> tuple[torch.Tensor, dict]:
        """Edit-time projection: the identity change that gives the asked attributes their asked change, keeps
        every other shape attribute and moves the vertices outside ``region`` as little as possible.

        x0 (S',) identity; delta (K,) asked change of each shape attribute in prior std (z-scores; used where
        ``active``); active (K,) bool; region: bool (V,) vertices the edit is about (None: no locality term).
        Solves, by Gauss-Newton on the exact measurements (Jacobians re-taken at each iterate), the least
        squares problem ``min (x - x0)^T (M_out + lam I) (x - x0)`` subject to ``a_k(x) = a_k(x0) + delta_k``
        (asked) and ``|a_j(x) - a_j(x0)| <= keep_tol`` for every other shape attribute j (penalties raised
        until the bound holds). ``max_outside_mm``: when the solution moves the outside vertices by more than
        this RMS (mm), the asked change is scaled down until it does not (the ICT identity basis is global: a
        change cannot be confined exactly; README). ``full_range`` (std; default Z_MAX, None = off): with a
        locality limit, the asked changes are first mapped onto what the limit allows (:func:`compress_to_attainable`:
        the largest asked change t becomes g(t), g monotone with g(full_range) = the attainable change m), so
        a larger ask still gives a larger change where the limit caps it ("much" > "slightly" even for an
        attribute whose local change leaks 0.9 mm per std); m = full_range x limit / (outside RMS of the
        full-range edit in the same direction), one extra solve. -> (x (S',), info: scale (written/asked),
        attainable_std m (inf without a limit), outside_rms_mm predicted, keep violations)."""
        x0 = x0.double().cpu().reshape(-1)
        S0 = x0.shape[0]
        xs = _pad(x0[None], self.S)[0]
        active = torch.as_tensor(active, dtype=torch.bool)
        delta = torch.as_tensor(delta, dtype=torch.float64) * active
        if not bool(active.any()):
            return x0.clone(), {"scale": 1.0, "outside_rms_mm": 0.0}
        M, n_out = self.outside_gram(region)
        Mr = M + LAMBDA * torch.eye(self.S, dtype=torch.float64)
        a_start = self.zmeasure(xs)
        limited = max_outside_mm is not None and max_outside_mm > 0

        def solve(sc):
            x = self._solve_edit(xs, a_start, delta * sc, active, Mr, keep_tol, iters)
            d = x - xs
            return x, (float((d @ M @ d).clamp(min=0).sqrt()) if n_out else 0.0)

        scale, attainable = 1.0, float("inf")
        t = float(delta.abs().max())
        if limited and full_range and n_out and t > 0:
            # the attainable change along this edit: from the outside motion of the full-range edit (one
            # solve, so it does not depend on t and the map t -> g(t) is the same for "slightly" and "much")
            _, leak_full = solve(float(full_range) / t)
            if leak_full > max_outside_mm:
                attainable = float(full_range) * max_outside_mm / leak_full
                scale = compress_to_attainable(t, attainable, float(full_range)) / t
        x, leak = solve(scale)
        for _ in range(4):           # safety net: the measurements are not exactly linear
            if not limited or leak <= max_outside_mm * 1.001:
                break
            scale *= 0.98 * max_outside_mm / leak
            x, leak = solve(scale)
        a_end = self.zmeasure(x)
        ch = a_end - a_start
        info = {"scale": scale, "attainable_std": attainable, "outside_rms_mm": leak,
                "asked_change": (delta * scale)[active].tolist(),
                "other_max_std": float(ch[~active].abs().max()) if bool((~active).any()) else 0.0}
        if S0 > self.S:
            x = torch.cat([x, x0[self.S:]])
        elif S0 < self.S:
            x = x            # the edit may use every identity coefficient of the model
        return x, info

    def _solve_edit(self, xs, a_start, delta, active, Mr, keep_tol, iters) -> torch.Tensor:
        """Gauss-Newton with backtracking for :meth:`edit_identity`: asked attributes as equality constraints
        of each linearised step, the others as penalties raised (x10) on the attributes whose predicted change
        exceeds 0.8 keep_tol; a step is accepted when it lowers the merit (asked residual^2 + excess^2)."""
        target = a_start + delta
        keep = ~active
        mu0 = 10.0 * float(torch.diagonal(Mr).mean())
        mu = torch.zeros(self.K, dtype=torch.float64)

        def merit(a):
            ex = ((a - a_start)[keep].abs() - keep_tol).clamp(min=0)
            return float((target - a)[active].square().sum() + ex.square().sum())

        x = xs.clone()
        a, J = self.zmeasure(x, jacobian=True)
        for it in range(2 * iters):
            # after ``iters`` steps, continue (up to 2 iters) only while an unasked attribute is still outside
            # keep_tol on the exact measurements: a large global change (head size -3 std) leaves a nonlinear
            # residue on the others (lip fullness +0.37 std after 4 steps, 0.16 after 8)
            if it >= iters and not bool(((a - a_start)[keep].abs() > keep_tol).any()):
                break
            JA, JO = J[active], J[keep]
            c = (target - a)[active]
            r = (a - a_start)[keep]
            d = x - xs
            for _ in range(10):
                W = mu[keep]
                H = Mr + JO.T @ (W[:, None] * JO)
                g = Mr @ d + JO.T @ (W * r)
                Hi_g = torch.linalg.solve(H, g)
                Hi_JA = torch.linalg.solve(H, JA.T)
                lam = torch.linalg.solve(JA @ Hi_JA, c + JA @ Hi_g)
                s = -Hi_g + Hi_JA @ lam
                bad = (r + JO @ s).abs() > 0.8 * keep_tol
                if not bool(bad.any()):
                    break
                idx = torch.nonzero(keep).flatten()[bad]
                mu[idx] = torch.clamp(mu[idx] * 10.0, min=mu0)
            m0, step = merit(a), 1.0
            for _ in range(5):
                a_new = self.zmeasure(x + step * s)
                if merit(a_new) <= m0 or step < 0.1:
                    break
                step *= 0.5
            x = x + step * s
            a, J = self.zmeasure(x, jacobian=True)
        return x

    def measure(self, shape: torch.Tensor, expression: torch.Tensor) -> dict[str, np.ndarray]:
        """Every attribute of heads (shape (B, S'), expression (B, E)) -> name -> (B,) values
        (shape attributes in mm/ratio on the neutral head; expression attributes as mean weights)."""
        a = self.lb.measure(shape.to(self.lb.mean)).double().cpu().numpy()
        ex = measure_expression(expression.double().cpu(), self.expr_attrs).numpy()
        out = {n: a[:, k] for k, n in enumerate(SHAPE_NAMES)}
        out.update({ea.name: ex[:, k] for k, ea in enumerate(self.expr_attrs)})
        return out

    def attribute_names(self) -> list[str]:
        """Shape attribute names then expression attribute names (the reader's output order)."""
        return list(SHAPE_NAMES) + [ea.name for ea in self.expr_attrs]

    def attribute_range(self, name: str) -> float:
        """The 'range' of an attribute used by the quality checks: 4 prior standard deviations for shape
        attributes (mm/ratio), 1.0 for expression weights."""
        if name in SHAPE_NAMES:
            return float(4 * self.sd[SHAPE_NAMES.index(name)])
        return 1.0

    def free_mask(self, attrs: list[str]) -> torch.Tensor:
        """bool (K + E,) coordinates owned by the named attributes."""
        m = torch.zeros(self.dim, dtype=torch.bool)
        by = {ea.name: ea for ea in self.expr_attrs}
        for n in attrs:
            if n in SHAPE_NAMES:
                m[SHAPE_NAMES.index(n)] = True
            elif n in by:
                m[self.K + torch.tensor(by[n].columns)] = True
        return m


def _pad(x: torch.Tensor, S: int) -> torch.Tensor:
    if x.shape[1] == S:
        return x
    if x.shape[1] > S:
        return x[:, :S]
    return torch.nn.functional.pad(x, (0, S - x.shape[1]))


def spec_units() -> dict[str, str]:
    """Shape attribute name -> unit."""
    return {a.name: a.unit for a in SHAPE_ATTRIBUTES}
