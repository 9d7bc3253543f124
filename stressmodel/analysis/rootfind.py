"""Reverse-stress root finding (methods.md section 8.2).

For a metric M(s) that falls as the shock s grows, and a threshold tau, the breaking point
is s* = the first s in [0, s_max] where M(s) - tau changes sign from >= 0 to < 0.

- :func:`first_crossing` solves one scalar problem: grid scan (also a monotonicity
  check), bracket the FIRST sign change, refine with :func:`brentq`. It never
  extrapolates beyond ``s_max``.
- :func:`brentq` is ``scipy.optimize.brentq`` operation for operation in Python floats
  (scipy's C loop, ``scipy/optimize/Zeros/brentq.c``), so it returns the same root to the
  last bit (tests/test_rootfind.py) without importing scipy.optimize (~0.4-0.8 s, the
  largest import of a run that otherwise needs none of it).
- :func:`bisect_vectorised` solves many independent bracketed problems at once (one shock
  per firm), evaluating the model once per iteration on the whole vector of candidates.

Both are pure; shocks are fractions (0.25 = 25%).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STATUS_BREACHED = "breached at s*"
STATUS_BREACHED_AT_ZERO = "breached at s = 0 (already below threshold)"
STATUS_NOT_BREACHED_PREFIX = "not breached within [0, "
STATUS_NOT_FINITE_PREFIX = "n/a: metric not finite at s = "


@dataclass(frozen=True)
class Crossing:
    """Result of :func:`first_crossing`.

    ``shock``: s* (fraction) when breached (0.0 when already breached at s = 0), else None.
    ``status``: :data:`STATUS_BREACHED` (``"breached at s*"``),
    :data:`STATUS_BREACHED_AT_ZERO`, ``"not breached within [0, <s_max>]"`` (starts with
    :data:`STATUS_NOT_BREACHED_PREFIX`), or ``"n/a: metric not finite at s = <s>"`` when the
    metric returned NaN/inf on the grid (nothing is solved then).
    ``headroom``: M(s_max) - threshold when not breached (>= 0), else None.
    ``monotone``: whether M was non-increasing on the evaluation grid (a check, not a
    guarantee between grid points); a False value should be reported as a warning.
    """

    shock: float | None
    status: str
    headroom: float | None
    monotone: bool

    @property
    def breached(self) -> bool:
        return self.shock is not None


def shock_grid(s_max: float, grid_step: float) -> np.ndarray:
    """The evaluation grid 0, step, 2*step, ..., with s_max always the last point.

    Points are i*step (not accumulated sums); a point within 1e-9*step of s_max is merged
    into s_max.
    """
    if not (math.isfinite(s_max) and s_max > 0):
        raise ValueError("s_max must be a positive finite number")
    if not (math.isfinite(grid_step) and grid_step > 0):
        raise ValueError("grid_step must be a positive finite number")
    n = math.floor(s_max / grid_step + 1e-9)
    pts = np.arange(n + 1, dtype=float) * grid_step
    pts = pts[pts < s_max - 1e-9 * grid_step]
    return np.append(pts, s_max)


def first_crossing(
    f: Callable[[float], float],
    threshold: float,
    s_max: float = 1.0,
    grid_step: float = 0.05,
    xtol: float = 1e-10,
    f_grid: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Crossing:
    """First shock s* in [0, s_max] at which the metric f falls below ``threshold``.

    Algorithm (methods.md 8.2): evaluate g(s) = f(s) - threshold on :func:`shock_grid`;
    if g(0) < 0 the threshold is already breached (s* = 0); otherwise take the first grid
    interval [s_{i-1}, s_i] with g(s_{i-1}) >= 0 > g(s_i) and solve g = 0 on it with
    ``brentq(xtol=xtol)``. If g stays >= 0 on the grid, report "not breached" with the
    headroom g(s_max); nothing is extrapolated. A crossing that starts and ends between two
    grid points (a dip that recovers) is not seen: use a finer grid for non-monotone
    metrics, and read ``monotone``.

    Units: s as a fraction; f and threshold in the metric's own unit (ICR times, CNY mn,
    ...). Zero/NaN policy: a non-finite f on the grid gives a status
    ``"n/a: metric not finite at s = ..."`` with shock and headroom None.

    ``f_grid``: f over an array of shocks in one call, element for element equal to
    ``f`` (it evaluates the grid; ``f`` refines): for a metric that vectorises, one call
    instead of one per grid point.
    """
    grid = shock_grid(s_max, grid_step)
    if f_grid is not None:
        values = np.asarray(f_grid(grid), dtype=float).reshape(grid.shape)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            return Crossing(None, f"{STATUS_NOT_FINITE_PREFIX}{float(grid[bad[0]]):g}", None, False)
    else:
        values = np.empty_like(grid)
        for k, s in enumerate(grid):
            values[k] = float(f(float(s)))
            if not math.isfinite(values[k]):
                return Crossing(None, f"{STATUS_NOT_FINITE_PREFIX}{float(s):g}", None, False)
    g = values - threshold
    scale = max(1.0, float(np.max(np.abs(values))))
    monotone = bool(np.all(np.diff(values) <= 1e-12 * scale))
    if g[0] < 0:
        return Crossing(0.0, STATUS_BREACHED_AT_ZERO, None, monotone)
    below = np.flatnonzero(g < 0)
    if below.size == 0:
        return Crossing(None, f"{STATUS_NOT_BREACHED_PREFIX}{s_max:g}]", float(g[-1]), monotone)
    i = int(below[0])
    lo, hi = float(grid[i - 1]), float(grid[i])
    at_lo = g[i - 1] == 0
    root = lo if at_lo else brentq(lambda s: float(f(s)) - threshold, lo, hi, xtol=xtol)
    return Crossing(root, STATUS_BREACHED, None, monotone)


def _div(a: float, b: float) -> float:
    """a / b as C divides doubles: a zero divisor gives an infinity or NaN, no exception."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


#: scipy.optimize.brentq's defaults: 4 machine epsilons of relative tolerance, 100 iterations
BRENTQ_RTOL = 4 * np.finfo(float).eps
BRENTQ_MAXITER = 100


def brentq(
    f: Callable[[float], float],
    a: float,
    b: float,
    xtol: float = 2e-12,
    rtol: float = BRENTQ_RTOL,
    maxiter: int = BRENTQ_MAXITER,
) -> float:
    """Root of f on [a, b] by Brent's method (inverse quadratic extrapolation, secant,
    bisection), exactly as ``scipy.optimize.brentq(f, a, b, xtol, rtol, maxiter)``.

    The loop is scipy's C code line by line in Python floats (IEEE doubles, the same
    operations in the same order, no fused multiply-add), so the iterates and the
    returned root are bit for bit scipy's. Returns within ``xtol + rtol |root|`` of a sign
    change. Raises ValueError when f(a) and f(b) have the same sign, when f returns NaN,
    or for xtol <= 0 / rtol below 4 eps (as scipy), RuntimeError when ``maxiter``
    iterations do not converge (scipy's ``disp=True``)."""
    if xtol <= 0:
        raise ValueError(f"xtol too small ({xtol:g} <= 0)")
    if rtol < BRENTQ_RTOL:
        raise ValueError(f"rtol too small ({rtol:g} < {BRENTQ_RTOL:g})")

    def call(x: float) -> float:
        y = float(f(x))
        if math.isnan(y):
            raise ValueError(f"The function value at x={x:f} is NaN; solver cannot continue.")
        return y

    xpre, xcur = float(a), float(b)
    xblk = fblk = spre = scur = 0.0
    fpre, fcur = call(xpre), call(xcur)
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):  # C's signbit
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(maxiter):
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # interpolate (secant)
                stry = _div(-fcur * (xcur - xpre), fcur - fpre)
            else:  # extrapolate (inverse quadratic)
                dpre = _div(fpre - fcur, xpre - xcur)
                dblk = _div(fblk - fcur, xblk - xcur)
                stry = _div(-fcur * (fblk * dblk - fpre * dpre), dblk * dpre * (fblk - fpre))
            bound = 3 * abs(sbis) - delta
            if 2 * abs(stry) < (abs(spre) if abs(spre) < bound else bound):  # C's MIN
                spre, scur = scur, stry  # good short step
            else:
                spre = scur = sbis  # bisect
        else:
            spre = scur = sbis  # bisect
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = call(xcur)
    raise RuntimeError(f"brentq failed to converge after {maxiter} iterations, value is {xcur}")


def bisect_vectorised(
    g: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    xtol: float = 1e-10,
    max_iter: int = 100,
    *,
    levels: int = 1,
    g_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Bracketed bisection for many independent roots at once.

    Element k solves g(s)_k = 0 on [lo_k, hi_k], assuming g(lo)_k >= 0 > g(hi)_k (the
    metric-minus-threshold convention of :func:`first_crossing`; the bracket is NOT
    re-checked, which would cost two extra model evaluations). Each iteration evaluates
    ``g`` once on the whole vector of midpoints, so a vectorised model (one projection per
    firm, all firms at once) is run ``ceil(log2(max width / xtol))`` times, at most
    ``max_iter``. Keeps lo where g(mid) >= 0, so the result converges to the first point
    where g turns negative inside a bracket.

    ``levels`` > 1 with ``g_at(points, owner)`` (g of element ``owner[j]`` at
    ``points[j]``): each model evaluation covers the next ``levels`` iterations at once,
    every midpoint either branch could reach (2**levels - 1 per element), and the walk
    down takes the branch g's sign picks. The midpoints, the signs read and so the result
    are exactly those of one iteration at a time (the points are computed with the same
    operations); only the number of model calls falls, by about ``levels`` times, for a
    model whose cost per call hardly grows with the number of points.

    Returns the bracket midpoints (float array of the broadcast shape of lo and hi), each
    within xtol/2 of a sign change when the iteration limit was not reached.
    Zero/NaN policy: elements whose bracket has a non-finite end, or where g returns a
    non-finite value at any midpoint on the way, come back as NaN (the caller turns them
    into a null with a status). lo > hi raises ValueError.
    """
    lo_a, hi_a = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    lo_a, hi_a = lo_a.copy(), hi_a.copy()
    if np.any(lo_a > hi_a):
        raise ValueError("every lo must be <= its hi")
    if levels < 1:
        raise ValueError("levels must be at least 1")
    bad = ~(np.isfinite(lo_a) & np.isfinite(hi_a))
    lo_a[bad] = 0.0
    hi_a[bad] = 0.0
    done = 0
    while done < max_iter:
        if not np.any(hi_a - lo_a > xtol):
            break
        width = float(np.max(hi_a - lo_a))
        depth = (
            1
            if g_at is None
            else min(levels, max_iter - done, max(1, math.ceil(math.log2(width / xtol))))
        )
        if depth == 1:
            mid = 0.5 * (lo_a + hi_a)
            gm = np.asarray(g(mid), dtype=float)
            if gm.shape != mid.shape:
                gm = np.broadcast_to(gm, mid.shape)
            bad |= ~np.isfinite(gm)
            keep_lo = gm >= 0
            lo_a = np.where(keep_lo, mid, lo_a)
            hi_a = np.where(keep_lo, hi_a, mid)
            done += 1
            continue
        # the tree of brackets the next ``depth`` iterations can reach, level by level:
        # node c of a level has children 2c (g < 0 at its midpoint: [lo, mid]) and 2c + 1
        # (g >= 0: [mid, hi]), exactly the updates of one iteration
        shape = lo_a.shape
        flat_lo, flat_hi = lo_a.reshape(-1), hi_a.reshape(-1)
        tree: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        nodes_lo, nodes_hi = flat_lo[None, :], flat_hi[None, :]
        for _level in range(depth):
            mids = 0.5 * (nodes_lo + nodes_hi)
            tree.append((nodes_lo, nodes_hi, mids))
            nodes_lo = np.stack([nodes_lo, mids], axis=1).reshape(-1, flat_lo.size)
            nodes_hi = np.stack([mids, nodes_hi], axis=1).reshape(-1, flat_lo.size)
        points = np.concatenate([m for _l, _h, m in tree], axis=0)  # (2**depth - 1, n)
        owner = np.broadcast_to(np.arange(flat_lo.size), points.shape)
        values = np.asarray(g_at(points.reshape(-1), owner.reshape(-1)), dtype=float)
        values = values.reshape(points.shape)
        node = np.zeros(flat_lo.size, dtype=np.intp)
        cols = np.arange(flat_lo.size)
        first = 0
        for level, (_l, _h, mids) in enumerate(tree):
            mid = mids[node, cols]
            gm = values[first + node, cols]
            first += 2**level
            bad |= ~np.isfinite(gm).reshape(shape)
            keep_lo = gm >= 0
            flat_lo = np.where(keep_lo, mid, flat_lo)
            flat_hi = np.where(keep_lo, flat_hi, mid)
            node = 2 * node + keep_lo
            done += 1
            if not np.any(flat_hi - flat_lo > xtol):
                break
        lo_a, hi_a = flat_lo.reshape(shape), flat_hi.reshape(shape)
    out: np.ndarray = np.asarray(0.5 * (lo_a + hi_a), dtype=float)
    out[bad] = np.nan
    return out
