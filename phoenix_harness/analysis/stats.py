"""Statistics of an experiment, on ``scipy.stats``.

- ``cost_reduction``: a ratio of sums over collections paired by their timestamp (collection index), with
  a bootstrap interval over *independent blocks* of consecutive collections. The block length comes from
  the autocorrelation of the per-collection ratios, so autocorrelated collections are not counted as
  independent evidence and a longer window (more blocks) narrows the interval. A ratio that is the same
  in every collection is *deterministic*: reported as such, with no interval.
- Overhead: a two-sided Mann-Whitney U test on CPU samples spaced by their rate window (independent
  samples, not 1 s samples of a 5 s rate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MIN_COLLECTIONS = 3  # paired collections needed to say anything
MIN_BLOCKS = 3  # independent blocks needed for an interval
MIN_DPM = 1e-6  # a baseline collection below this carries no information about a ratio
MIN_OVERHEAD_SAMPLES = 5
RESAMPLES = 2000
SEED = 7


def pair_by_collection(baseline: Mapping[int, float], candidate: Mapping[int, float], *,
                       missing_is_zero: bool) -> list[tuple[int, float, float]]:
    """``(collection, baseline, candidate)`` for every collection the baseline has data for, in order.

    Collections are paired by index (their timestamp), never by list position. A collection the candidate
    has no value for is 0 when ``missing_is_zero`` (its data is proven complete: it exported nothing
    then), otherwise the pair is left out.
    """
    pairs = []
    for c in sorted(baseline):
        b = baseline[c]
        if not b > MIN_DPM:
            continue
        if c in candidate:
            pairs.append((c, b, candidate[c]))
        elif missing_is_zero:
            pairs.append((c, b, 0.0))
    return pairs


def block_length(values: Sequence[float]) -> int:
    """Smallest lag at which the autocorrelation of ``values`` is no longer significant (|r| < 2/sqrt(n)).

    Blocks of that many consecutive collections are close to independent. Capped so that at least
    :data:`MIN_BLOCKS` blocks remain when there is enough data.
    """
    n = len(values)
    cap = max(1, n // MIN_BLOCKS)
    if n < 2 * MIN_BLOCKS:
        return 1
    x = np.asarray(values, dtype=float)
    x = x - x.mean()
    var = float(np.dot(x, x))
    if var <= 0 or not math.isfinite(var):
        return 1
    bound = 2.0 / math.sqrt(n)
    for k in range(1, cap + 1):
        r = float(np.dot(x[:-k], x[k:])) / var
        if abs(r) < bound:
            return k
    return cap


@dataclass(frozen=True, slots=True)
class RatioEstimate:
    """``1 - sum(candidate) / sum(baseline)`` over paired collections, with its interval."""

    point: float
    ci: tuple[float, float] | None
    deterministic: bool
    collections: int
    block_length: int
    blocks: int
    samples: tuple[float, ...]  # per collection: 1 - candidate/baseline

    @property
    def method(self) -> str:
        if self.deterministic:
            return "deterministic (the same ratio in every collection)"
        if self.ci is None:
            return f"no interval: {self.blocks} independent block(s), need {MIN_BLOCKS}"
        return (f"bootstrap over {self.blocks} independent blocks of {self.block_length} collection(s) "
                f"({self.collections} collections)")


def reduction_estimate(pairs: Sequence[tuple[int, float, float]], *, level: float = 0.95,
                       n_resamples: int = RESAMPLES, seed: int = SEED) -> RatioEstimate | None:
    """The reduction of ``pairs`` (from :func:`pair_by_collection`); None with fewer than 3 pairs."""
    if len(pairs) < MIN_COLLECTIONS:
        return None
    b = np.array([p[1] for p in pairs], dtype=float)
    c = np.array([p[2] for p in pairs], dtype=float)
    ratios = 1.0 - c / b
    point = float(1.0 - c.sum() / b.sum())
    samples = tuple(float(r) for r in ratios)
    if all(math.isclose(r, samples[0], rel_tol=1e-9, abs_tol=1e-12) for r in samples):
        return RatioEstimate(samples[0], None, True, len(pairs), 1, len(pairs), samples)
    length = block_length(samples)
    groups = np.array_split(np.arange(len(pairs)), len(pairs) // length)
    bb = np.array([b[g].sum() for g in groups])
    cb = np.array([c[g].sum() for g in groups])
    if len(groups) < MIN_BLOCKS:
        return RatioEstimate(point, None, False, len(pairs), length, len(groups), samples)

    def statistic(base: np.ndarray, cand: np.ndarray, axis: int = -1) -> np.ndarray:
        return 1.0 - cand.sum(axis=axis) / base.sum(axis=axis)  # type: ignore[no-any-return]

    res = sps.bootstrap((bb, cb), statistic, paired=True, vectorized=True, n_resamples=n_resamples,
                        confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # The point estimate uses every collection; keep it inside its own interval (float noise aside).
    return RatioEstimate(point, (min(lo, point), max(hi, point)), False, len(pairs), length, len(groups), samples)


@dataclass(frozen=True, slots=True)
class MannWhitney:
    u: float
    p_value: float  # two-sided
    effect: float  # common-language effect size: P(candidate > baseline)

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def mann_whitney_u(baseline: Sequence[float], candidate: Sequence[float]) -> MannWhitney | None:
    """Two-sided Mann-Whitney U test (``scipy.stats.mannwhitneyu``) of candidate against baseline.

    The samples must be independent observations (one per rate window). None with fewer than
    :data:`MIN_OVERHEAD_SAMPLES` per side.
    """
    n1, n2 = len(baseline), len(candidate)
    if n1 < MIN_OVERHEAD_SAMPLES or n2 < MIN_OVERHEAD_SAMPLES:
        return None
    if len(set(baseline) | set(candidate)) == 1:
        return MannWhitney(u=n1 * n2 / 2, p_value=1.0, effect=0.5)
    res = sps.mannwhitneyu(list(candidate), list(baseline), alternative="two-sided")
    u_candidate = float(res.statistic)
    return MannWhitney(u=min(u_candidate, n1 * n2 - u_candidate), p_value=float(res.pvalue),
                       effect=u_candidate / (n1 * n2))


def bootstrap_ratio_ci(baseline: Sequence[float], candidate: Sequence[float], *, level: float = 0.95,
                       seed: int = 7, iterations: int = RESAMPLES) -> tuple[float, float] | None:
    """CI of ``1 - sum(candidate)/sum(baseline)`` over collections given in the same order (collection i of
    each); a constant ratio gives its exact value as a zero-width interval. See :func:`reduction_estimate`."""
    pairs = pair_by_collection(dict(enumerate(baseline)), dict(enumerate(candidate)), missing_is_zero=False)
    est = reduction_estimate(pairs, level=level, seed=seed, n_resamples=iterations)
    if est is None:
        return None
    if est.deterministic:
        return (est.point, est.point)
    return est.ci
