"""Inner solvers of the information-relaxation bound (MODEL.md §9), batched over paths.

With the whole noise path known, agent n's penalised problem on one path is deterministic
and concave in the holdings ``x_j = φ_j`` (``j = 1..M``, ``M = K − 1``: the last rate is zero
because nothing after ``t_K`` pays)::

    f(x) = −½ Σ_j d_j x_j² + Σ_j g_j x_j − Σ_{k=0}^{M−1} c((x_{k+1} − x_k)/Δt),   x_0 = φ_0

with ``c(u) = (λΔt/2)|u|^q`` the trading cost. The diagonal ``d_j`` collects the risk term
``γσ_j²Δt`` and the penalty's curvature; ``g_j`` the drift, endowment and penalty slopes.

- ``q = 2``: the cost is quadratic, the Hessian tridiagonal, and the maximiser solves one
  tridiagonal system per path (:func:`tridiagonal_solve`, the Thomas algorithm, batched).
- ``q < 2``: ``c`` is C¹ but not C² at ``u = 0``; :func:`maximise_power` runs damped
  Newton steps on a smoothed cost ``(λΔt/2)((u² + ε²)^{q/2} − ε^q)`` with ε driven to 0,
  each a tridiagonal solve, and reports the gradient of the unsmoothed objective (which
  exists for ``q > 1``) as its optimality residual. Because ``−f`` is ``m``-strongly convex
  with ``m = min_j d_j``, ``f* − f(x) ≤ |∇f(x)|²/(2m)``: that slack is added to the value so
  the bound stays an upper bound whatever the solver's accuracy.

:func:`greedy_step` is the one-step problem ``max_u −c(u) − ½a(φ+uΔt)² + b(φ+uΔt)`` (the
Bellman step of an approximate value function, MODEL.md §9), used to fit ``h`` and to play
its greedy policy (a lower bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "InnerResult",
    "cost_derivatives",
    "greedy_step",
    "maximise_power",
    "maximise_quadratic",
    "objective",
    "tridiagonal_solve",
]


def tridiagonal_solve(diag: Tensor, off: Tensor, rhs: Tensor) -> tuple[Tensor, Tensor]:
    """Solve ``T x = rhs`` for symmetric tridiagonal ``T`` (diagonal ``diag``, ``(..., M)``;
    off-diagonal ``off``, ``(..., M−1)``), batched over leading dimensions (Thomas algorithm,
    which is the banded Cholesky factorisation ``LDLᵀ``).

    Returns ``(x, pivots)``; ``T`` is positive definite iff every pivot is positive.
    """
    M = diag.shape[-1]
    pivots = torch.empty_like(diag)
    y = torch.empty_like(rhs)
    pivots[..., 0] = diag[..., 0]
    y[..., 0] = rhs[..., 0]
    for j in range(1, M):
        w = off[..., j - 1] / pivots[..., j - 1]
        pivots[..., j] = diag[..., j] - w * off[..., j - 1]
        y[..., j] = rhs[..., j] - w * y[..., j - 1]
    x = torch.empty_like(rhs)
    x[..., M - 1] = y[..., M - 1] / pivots[..., M - 1]
    for j in range(M - 2, -1, -1):
        x[..., j] = (y[..., j] - off[..., j] * x[..., j + 1]) / pivots[..., j]
    return x, pivots


def cost_derivatives(
    u: Tensor, lam: float, q: float, dt: float, eps: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """``c(u) = (λΔt/2)((u² + ε²)^{q/2} − ε^q)`` and its first two derivatives in ``u``
    (ε = 0: the cost of MODEL.md §2; the second derivative is then infinite at ``u = 0``
    for ``q < 2``)."""
    scale = 0.5 * lam * dt
    if eps == 0.0:
        a = u.abs()
        c = scale * a**q
        dc = scale * q * a ** (q - 1) * torch.sign(u)
        return c, dc, scale * q * (q - 1) * a ** (q - 2)
    r2 = u * u + eps * eps
    c = scale * (r2 ** (q / 2) - eps**q)
    dc = scale * q * u * r2 ** (q / 2 - 1)
    d2c = scale * q * r2 ** (q / 2 - 2) * ((q - 1) * u * u + eps * eps)
    return c, dc, d2c


def objective(
    x: Tensor, d: Tensor, g: Tensor, x0: Tensor, lam: float, q: float, dt: float
) -> tuple[Tensor, Tensor]:
    """``f(x)`` of the module docstring and its gradient (unsmoothed cost), per path."""
    xs = torch.cat([x0.unsqueeze(-1), x], dim=-1)
    u = (xs[..., 1:] - xs[..., :-1]) / dt
    c, dc, _ = cost_derivatives(u, lam, q, dt)
    f = (-0.5 * d * x * x + g * x).sum(-1) - c.sum(-1)
    grad = -d * x + g - dc / dt
    grad[..., :-1] += dc[..., 1:] / dt
    return f, grad


@dataclass
class InnerResult:
    """The per-path maximiser ``x`` (``(..., M)``), its value (plus the certified slack for
    ``q < 2``), the optimality residual ``max_j |∂f/∂x_j|`` per path, the slack, whether the
    problem was concave (else the value is ``+inf``), and the Newton iterations used."""

    x: Tensor
    value: Tensor
    residual: Tensor
    slack: Tensor
    concave: Tensor
    iterations: int = 0


def maximise_quadratic(d: Tensor, g: Tensor, x0: Tensor, lam: float, dt: float) -> InnerResult:
    """Exact maximiser for ``q = 2``: ``(D + L·Lap) x = g + L x_0 e_1`` with ``L = λ/Δt``."""
    L = lam / dt
    M = d.shape[-1]
    diag = d + 2 * L
    diag[..., M - 1] = d[..., M - 1] + L
    off = torch.full(d.shape[:-1] + (M - 1,), -L, dtype=d.dtype, device=d.device)
    rhs = g.clone()
    rhs[..., 0] += L * x0
    x, pivots = tridiagonal_solve(diag, off, rhs)
    concave = (pivots > 0).all(-1)
    f, grad = objective(x, d, g, x0, lam, 2.0, dt)
    value = torch.where(concave, f, torch.full_like(f, torch.inf))
    zero = torch.zeros_like(f)
    return InnerResult(x, value, grad.abs().amax(-1), zero, concave)


def maximise_power(
    d: Tensor,
    g: Tensor,
    x0: Tensor,
    lam: float,
    q: float,
    dt: float,
    x_init: Tensor,
    *,
    eps_schedule: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8),
    newton_steps: int = 40,
    tol: float = 1e-11,
    polish: bool = True,
    polish_tol: float = 1e-9,
    polish_steps: int = 300,
) -> InnerResult:
    """Damped Newton with ε-continuation for ``q < 2`` (module docstring), all paths at once.

    Each Newton direction solves the tridiagonal smoothed Hessian system; steps are halved
    (per path) until the smoothed objective does not decrease. A stage ends when every
    path's smoothed gradient is below ``tol`` times the largest ``|g_j|``; paths whose true
    gradient is still above ``polish_tol`` times it then get ``polish_steps`` more steps on
    the last three ε.
    """
    concave = (d > 0).all(-1)
    x = x_init.clone()
    iterations = 0
    scale = float(g.abs().max().clamp_min(1e-300))

    def cost_terms(x: Tensor, eps: float, order: int) -> tuple[Tensor, ...]:
        xs = torch.cat([x0.unsqueeze(-1), x], dim=-1)
        u = (xs[..., 1:] - xs[..., :-1]) / dt
        c, dc, d2c = cost_derivatives(u, lam, q, dt, eps)
        f = (-0.5 * d * x * x + g * x).sum(-1) - c.sum(-1)
        if order == 0:
            return (f,)
        grad = -d * x + g - dc / dt
        grad[..., :-1] += dc[..., 1:] / dt
        h = d2c / dt**2  # curvature of each cost term in x
        diag = d + h
        diag[..., :-1] += h[..., 1:]
        return f, grad, diag, -h[..., 1:]

    for eps in eps_schedule:
        for _ in range(newton_steps):
            f, grad, diag, off = cost_terms(x, eps, 2)
            if float(grad.abs().max()) < tol * scale:
                break
            iterations += 1
            step, _ = tridiagonal_solve(diag, off, grad)
            t = torch.ones_like(f)
            for _ in range(25):
                f_new = cost_terms(x + t.unsqueeze(-1) * step, eps, 0)[0]
                bad = ~(f_new >= f - 1e-13 * (1 + f.abs()))
                if not bool(bad.any()):
                    break
                t = torch.where(bad, 0.5 * t, t)
            x = x + t.unsqueeze(-1) * step
    f, grad = objective(x, d, g, x0, lam, q, dt)
    slow = grad.abs().amax(-1) > polish_tol * scale
    if polish and bool(slow.any()):
        # the few paths Newton is slow on (a rate crossing 0, where |u|^q has unbounded
        # curvature): more steps on those paths only
        sub = maximise_power(
            d[slow],
            g[slow],
            x0[slow],
            lam,
            q,
            dt,
            x[slow],
            eps_schedule=eps_schedule[-3:],
            newton_steps=polish_steps,
            tol=tol,
            polish=False,
        )
        x = x.clone()
        x[slow] = sub.x
        iterations += sub.iterations
        f, grad = objective(x, d, g, x0, lam, q, dt)
    m = d.amin(-1)
    slack = torch.where(concave, (grad * grad).sum(-1) / (2 * m.clamp_min(1e-300)), torch.inf)
    value = torch.where(concave, f + slack, torch.full_like(f, torch.inf))
    return InnerResult(x, value, grad.abs().amax(-1), slack, concave, iterations)


def greedy_step(
    phi: Tensor, a: Tensor, b: Tensor, lam: float, q: float, dt: float, iterations: int = 80
) -> Tensor:
    """The rate ``u`` maximising ``−c(u) − ½a(φ + uΔt)² + b(φ + uΔt)`` (``a ≥ 0``).

    ``q = 2``: closed form. ``q < 2``: the derivative is decreasing in ``u`` and changes
    sign on ``[−U, U]`` with ``(λq/2)U^{q−1} = |b − aφ|``; bisection to the float64 floor.
    """
    slope = b - a * phi
    if q == 2.0:
        return slope / (lam + a * dt)
    U = (2 * slope.abs() / (lam * q)) ** (1 / (q - 1))
    lo, hi = -U, U.clone()
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        _, dc, _ = cost_derivatives(mid, lam, q, dt)
        deriv = -dc + dt * (slope - a * mid * dt)
        pos = deriv > 0
        lo = torch.where(pos, mid, lo)
        hi = torch.where(pos, hi, mid)
    return 0.5 * (lo + hi)
