"""Inter-annotator agreement: Cohen's kappa, Fleiss' kappa and Krippendorff's alpha.

Label Studio computes agreement only in its Enterprise edition, so these are the figures a Community
Edition user gets. All functions are pure and take plain Python lists; missing values are ``None``.

References:
    Cohen, J. (1960). A coefficient of agreement for nominal scales.
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability (Annenberg School, U. Penn).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Hashable, Sequence

LEVELS = ("nominal", "ordinal", "interval")


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two annotators who labelled the same items (positions aligned).

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_e`` from each annotator's own label frequencies.

    Returns:
        The kappa, ``1.0`` when both used one and the same label throughout (perfect agreement with
        no chance to disagree), or None for no items.
    """
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two label lists of the same length")
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if p_e == 1.0:
        return 1.0 if p_o == 1.0 else 0.0
    return (p_o - p_e) / (1 - p_e)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from a subjects x categories table of rating counts.

    Subjects may have different numbers of raters (the per-subject agreement ``P_i`` uses its own
    ``n_i``; with a constant ``n`` this is exactly Fleiss 1971). Subjects with fewer than two ratings
    carry no agreement information and are skipped.

    Returns:
        Kappa, or None when no subject has two ratings or every rating is in one category.
    """
    rows = [list(r) for r in table if sum(r) >= 2]
    if not rows:
        return None
    total = sum(sum(r) for r in rows)
    k = len(rows[0])
    p_j = [sum(r[j] for r in rows) / total for j in range(k)]
    p_bar = sum(sum(c * (c - 1) for c in r) / (sum(r) * (sum(r) - 1)) for r in rows) / len(rows)
    p_e = sum(p * p for p in p_j)
    if p_e == 1.0:
        return None
    return (p_bar - p_e) / (1 - p_e)


def unit_agreement(labels: Sequence[Hashable]) -> float | None:
    """Fleiss' per-subject agreement ``P_i``: the share of annotator pairs that agree on one unit."""
    n = len(labels)
    if n < 2:
        return None
    return sum(c * (c - 1) for c in Counter(labels).values()) / (n * (n - 1))


def _delta2(level: str, values: list, counts: Counter) -> dict[tuple, float]:
    """Squared difference function per Krippendorff 2011 for each pair of values."""
    out = {}
    for c, k in itertools.product(values, values):
        if c == k:
            out[c, k] = 0.0
        elif level == "nominal":
            out[c, k] = 1.0
        elif level == "interval":
            out[c, k] = float(c - k) ** 2
        else:  # ordinal: (sum of n_g from c to k, minus half of n_c and n_k), squared
            lo, hi = (c, k) if c < k else (k, c)
            between = sum(counts[g] for g in values if lo <= g <= hi)
            out[c, k] = (between - (counts[c] + counts[k]) / 2) ** 2
    return out


def krippendorff_alpha(units: Sequence[Sequence], level: str = "ordinal") -> float | None:
    """Krippendorff's alpha over units (one list of values per unit; ``None`` means missing).

    Builds the coincidence matrix of pairable values (units with at least two values) and returns
    ``1 - D_o / D_e``. Ordinal and interval levels need numbers; nominal takes any hashable.

    Returns:
        Alpha, or None when fewer than two pairable values exist or there is no variation at all.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    coincidence: Counter = Counter()
    for unit in units:
        vals = [v for v in unit if v is not None]
        m = len(vals)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            coincidence[vals[i], vals[j]] += 1.0 / (m - 1)
    if not coincidence:
        return None
    n_c: Counter = Counter()
    for (c, _k), w in coincidence.items():
        n_c[c] += w
    n = sum(n_c.values())
    values = sorted(n_c)
    if len(values) < 2:
        return None
    d2 = _delta2(level, values, n_c)
    d_o = sum(w * d2[c, k] for (c, k), w in coincidence.items()) / n
    d_e = sum(n_c[c] * n_c[k] * d2[c, k] for c in values for k in values) / (n * (n - 1))
    if d_e == 0:
        return None
    return 1.0 - d_o / d_e


def pairwise_cohen(labels: dict[str, dict[Hashable, Hashable]], min_shared: int = 2) -> dict[tuple[str, str], dict]:
    """Cohen's kappa for every pair of annotators over the units both labelled.

    Args:
        labels: ``{annotator: {unit: label}}``.
        min_shared: Pairs sharing fewer units than this are left out (a kappa over one unit is noise).

    Returns:
        ``{(a, b): {"kappa": float | None, "n": shared units}}``.
    """
    out = {}
    for a, b in itertools.combinations(sorted(labels), 2):
        shared = sorted(set(labels[a]) & set(labels[b]), key=str)
        if len(shared) < min_shared:
            continue
        out[a, b] = {
            "kappa": cohen_kappa([labels[a][u] for u in shared], [labels[b][u] for u in shared]),
            "n": len(shared),
        }
    return out


def binomial_two_sided_p(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value (for the position-bias rate against 0.5)."""
    if n == 0:
        return 1.0
    probs = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    observed = probs[k]
    return min(1.0, sum(q for q in probs if q <= observed * (1 + 1e-9)))
