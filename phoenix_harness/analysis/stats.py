"""Non-parametric statistics for comparing variants' overhead samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MannWhitney:
    u: float
    p_value: float  # two-sided
    effect: float  # common-language effect size: P(candidate > baseline)

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def mann_whitney_u(baseline: Sequence[float], candidate: Sequence[float]) -> MannWhitney | None:
    """Mann-Whitney U test with tie correction and the normal approximation (n >= 8 per side).

    Returns None when either side has fewer than 8 samples: too few to say anything.
    """
    n1, n2 = len(baseline), len(candidate)
    if n1 < 8 or n2 < 8:
        return None
    combined = sorted([(v, 0) for v in baseline] + [(v, 1) for v in candidate])
    ranks = [0.0] * len(combined)
    ties = 0.0
    i = 0
    while i < len(combined):
        j = i
        while j + 1 < len(combined) and combined[j + 1][0] == combined[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r2 = sum(r for r, (_, side) in zip(ranks, combined, strict=True) if side == 1)
    u2 = r2 - n2 * (n2 + 1) / 2
    u1 = n1 * n2 - u2
    mean = n1 * n2 / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return MannWhitney(u=min(u1, u2), p_value=1.0, effect=0.5)
    z = (abs(u2 - mean) - 0.5) / math.sqrt(var)  # continuity correction
    p = math.erfc(max(z, 0.0) / math.sqrt(2))
    return MannWhitney(u=min(u1, u2), p_value=min(1.0, p), effect=u2 / (n1 * n2))
