"""Pairwise win rates with ties, bootstrap confidence intervals and a length-controlled variant.

An outcome per prompt is 1 (the model's answer scored higher than the reference's), 0.5 (a tie:
the scores differ by at most ``tie_margin``) or 0 (lower). The win rate is the mean outcome, so
ties count half, as in AlpacaEval and Chatbot Arena.

Confidence intervals are percentile bootstrap intervals (Efron & Tibshirani 1993): resample the
prompts with replacement ``n_boot`` times with a seeded NumPy generator, recompute the statistic,
take the 2.5th and 97.5th percentiles.

Length control follows AlpacaEval LC (Dubois et al. 2024, "Length-Controlled AlpacaEval: A Simple
Way to Debias Automatic Evaluators"): fit a logistic regression of the outcome on the standardised
length difference, ``P(win) = sigmoid(a + b * tanh((len_model - len_ref) / std))``, and report the
prediction at zero length difference, ``sigmoid(a)``. With equal lengths the feature is 0 for every
prompt and the fit returns the raw win rate exactly; when the winner tends to be the longer answer,
``b > 0`` and the length-controlled rate drops below the raw one. AlpacaEval's full GLM also has
instruction and model terms that need its leaderboard data; we keep only the length term.
"""

from __future__ import annotations

from instructkit.errors import ConfigError


def outcomes(scores: list[float], ref_scores: list[float], *, tie_margin: float = 0.0) -> list[float]:
    """Per-prompt outcome of ``scores`` against ``ref_scores``: 1 win, 0.5 tie, 0 loss."""
    if len(scores) != len(ref_scores):
        raise ConfigError(f"{len(scores)} scores but {len(ref_scores)} reference scores")
    if tie_margin < 0:
        raise ConfigError(f"tie_margin must be >= 0, got {tie_margin}")
    return [
        0.5 if abs(s - r) <= tie_margin else (1.0 if s > r else 0.0) for s, r in zip(scores, ref_scores, strict=True)
    ]


def _bootstrap(values, statistic, *, n_boot: int, seed: int, alpha: float = 0.05) -> tuple[float, float]:
    import numpy as np

    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = np.array([statistic(values[i]) for i in idx])
    return float(np.quantile(stats, alpha / 2)), float(np.quantile(stats, 1 - alpha / 2))


def win_rate(outcome: list[float], *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Win rate, counts and a 95% bootstrap interval from per-prompt outcomes (1 / 0.5 / 0)."""
    n = len(outcome)
    if n == 0:
        return {"n": 0, "win_rate": None, "ci": [None, None], "wins": 0, "ties": 0, "losses": 0}
    rate = sum(outcome) / n
    lo, hi = _bootstrap(outcome, lambda v: v.mean(), n_boot=n_boot, seed=seed)
    return {
        "n": n,
        "win_rate": rate,
        "ci": [lo, hi],
        "wins": sum(o == 1.0 for o in outcome),
        "ties": sum(o == 0.5 for o in outcome),
        "losses": sum(o == 0.0 for o in outcome),
    }


def _fit_logistic(x, y, *, l2: float = 1.0, iters: int = 100) -> tuple[float, float]:
    """Intercept and slope of a logistic regression with fractional targets (Newton-Raphson).

    ``l2`` is a ridge on the slope only (1.0, scikit-learn's default ``C=1``; the feature lies in
    [-1, 1]), which keeps the fit finite when length separates wins from losses (common in small
    bootstrap resamples) and leaves the intercept, hence the equal-length case, exact.
    """
    import numpy as np

    X = np.stack([np.ones_like(x), x], axis=1)
    w = np.zeros(2)
    ridge = np.diag([0.0, l2])
    for _ in range(iters):
        with np.errstate(over="ignore"):  # all wins (or losses) in a resample: the intercept runs off
            p = 1.0 / (1.0 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + ridge @ w
        hess = (X * (p * (1 - p))[:, None]).T @ X + ridge + np.eye(2) * 1e-9
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def length_features(lengths: list[float], ref_lengths: list[float]):
    """AlpacaEval's feature: ``tanh((len - len_ref) / std(len - len_ref))`` (0 where std is 0)."""
    import numpy as np

    diff = np.asarray(lengths, dtype=float) - np.asarray(ref_lengths, dtype=float)
    std = diff.std()
    return np.tanh(diff / std) if std > 0 else np.zeros_like(diff)


def length_controlled(
    outcome: list[float], lengths: list[float], ref_lengths: list[float], *, n_boot: int = 1000, seed: int = 0
) -> dict:
    """Length-controlled win rate ``sigmoid(a)``, the slope ``b`` and a 95% bootstrap interval."""
    import numpy as np

    if not (len(outcome) == len(lengths) == len(ref_lengths)):
        raise ConfigError("outcomes and lengths differ in number")
    if not outcome:
        return {"n": 0, "win_rate": None, "ci": [None, None], "length_coef": None}
    x = length_features(lengths, ref_lengths)
    y = np.asarray(outcome, dtype=float)

    def lc(xs, ys) -> float:
        a, _ = _fit_logistic(xs, ys)
        return float(1.0 / (1.0 + np.exp(-a)))

    a, b = _fit_logistic(x, y)
    pairs = np.stack([x, y], axis=1)
    lo, hi = _bootstrap(pairs, lambda v: lc(v[:, 0], v[:, 1]), n_boot=n_boot, seed=seed) if len(y) > 1 else (None, None)
    return {"n": len(y), "win_rate": float(1.0 / (1.0 + np.exp(-a))), "ci": [lo, hi], "length_coef": b}


def compare(
    scores: list[float],
    ref_scores: list[float],
    lengths: list[float],
    ref_lengths: list[float],
    *,
    tie_margin: float = 0.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Raw and length-controlled win rates of a model against a reference from their scores."""
    outcome = outcomes(scores, ref_scores, tie_margin=tie_margin)
    return {
        "raw": win_rate(outcome, n_boot=n_boot, seed=seed),
        "length_controlled": length_controlled(outcome, lengths, ref_lengths, n_boot=n_boot, seed=seed),
        "tie_margin": tie_margin,
    }
