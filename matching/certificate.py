"""The dual certificate of a linear-mode answer: a bound no feasible flow can beat, from any duals ``y ≥ 0``.

For the model of :mod:`matching.flow` (rows: supplies ``s``, demands ``d``, share groups ``g``), weak duality
gives for every feasible ``x`` and every ``y ≥ 0``::

    Σ_a w_a x_a  ≤  Σ_s q_s y_s + Σ_d q_d y_d + Σ_g c_g y_g + Σ_a max(0, w_a − r_a) · ub_a

with ``r_a = y_s + ρ_a (y_d + y_g)`` (the dual price of the rows arc ``a`` uses) and ``ub_a =
min(q_s, q_d/ρ_a, c_g/ρ_a)`` (no feasible ``x_a`` exceeds it). When ``x`` is feasible and the bound meets its
objective, ``x`` is optimal; the relative difference is the certificate's ``gap``. It is computed here from
the problem's data alone, whatever solver produced ``x`` and ``y``, so a wrong network construction or a wrong
solver answer shows up as a gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CERTIFICATE_GAP", "Certificate", "certify"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: the largest relative gap (bound − objective) / max(1, |objective|) accepted as optimal
CERTIFICATE_GAP = 1e-7
#: the largest relative excess of a row's use over its capacity accepted as feasible (rounding of floats)
FEASIBILITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Certificate:
    """``objective`` of the flow, the dual ``bound`` (≥ every feasible objective), their relative ``gap``, and
    the largest relative row ``violation`` of the flow (0 when feasible)."""

    objective: float
    bound: float
    gap: float
    violation: float

    @property
    def ok(self) -> bool:
        return self.gap <= CERTIFICATE_GAP and self.violation <= FEASIBILITY_TOLERANCE

    def to_json(self) -> dict[str, float]:
        return {"objective": self.objective, "bound": self.bound, "gap": self.gap, "violation": self.violation}


def certify(*, supply: IntArray, demand: IntArray, group: IntArray, weight: FloatArray, ratio: FloatArray,
            s_cap: FloatArray, d_cap: FloatArray, g_cap: FloatArray, x: FloatArray, y_s: FloatArray,
            y_d: FloatArray, y_g: FloatArray) -> Certificate:
    """Check a flow ``x`` against the bound from duals ``y`` (all arrays in one index space).

    Parameters
    ----------
    supply, demand, group : int arrays
        Per arc: its supply, demand and share group (−1 = none).
    weight, ratio : float arrays
        Per arc: objective coefficient and delivered ratio.
    s_cap, d_cap, g_cap : float arrays
        Row capacities.
    x : float array
        The flow per arc.
    y_s, y_d, y_g : float arrays
        Duals per row (negative entries count as 0).

    Returns
    -------
    Certificate

    Examples
    --------
    >>> import numpy as np
    >>> one = np.array([0]); none = np.array([-1])
    >>> c = certify(supply=one, demand=one, group=none, weight=np.array([2.0]), ratio=np.array([1.0]),
    ...             s_cap=np.array([5.0]), d_cap=np.array([3.0]), g_cap=np.zeros(0), x=np.array([3.0]),
    ...             y_s=np.array([0.0]), y_d=np.array([2.0]), y_g=np.zeros(0))
    >>> c.objective, c.bound, c.ok
    (6.0, 6.0, True)
    """
    y_s = np.maximum(y_s, 0.0)
    y_d = np.maximum(y_d, 0.0)
    y_g = np.maximum(y_g, 0.0)
    has_g = group >= 0
    g_idx = np.where(has_g, group, 0)
    y_g_arc = np.where(has_g, y_g[g_idx] if len(y_g) else 0.0, 0.0)
    price = y_s[supply] + ratio * (y_d[demand] + y_g_arc)
    excess = np.maximum(weight - price, 0.0)
    ub = np.minimum(s_cap[supply], d_cap[demand] / ratio)
    if len(g_cap):
        ub = np.where(has_g, np.minimum(ub, g_cap[g_idx] / ratio), ub)
    bound = float(s_cap @ y_s + d_cap @ y_d + (g_cap @ y_g if len(g_cap) else 0.0) + excess @ ub)
    objective = float(weight @ x)
    gap = max(bound - objective, 0.0) / max(1.0, abs(objective))
    # feasibility of x: non-negative and within every row
    viol = float(max(0.0, -float(x.min()))) if len(x) else 0.0
    used_s = np.bincount(supply, weights=x, minlength=len(s_cap))
    used_d = np.bincount(demand, weights=x * ratio, minlength=len(d_cap))
    rows = [(used_s, s_cap), (used_d, d_cap)]
    if len(g_cap):
        rows.append((np.bincount(group[has_g], weights=(x * ratio)[has_g], minlength=len(g_cap)), g_cap))
    for used, cap in rows:
        if len(cap):
            viol = max(viol, float(np.max((used - cap) / np.maximum(cap, 1.0))))
    return Certificate(objective, bound, gap, max(viol, 0.0))
