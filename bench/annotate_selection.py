"""How much reward-model accuracy per annotated task does ``annotate-export --select`` buy over random?

A synthetic, fully simulated experiment (seconds on a CPU; no language model): it runs the selection
code of ``instructkit/annotate/select.py`` (``item_score`` and ``choose``, exactly as the stage calls
them) with a linear Bradley-Terry reward model standing in for a trained one.

World: items are prompts with 4 candidate responses, each a feature vector x ~ N(0, I_16); the hidden
true reward is w*.x. A simulated annotator prefers i over j with probability sigmoid(beta (r*_i - r*_j)):
beta=4 is a consistent annotator, beta=1 a noisy one. Reward model: logistic regression on x_i - x_j
(L2 1e-2, Newton steps); the disagreement committee is 4 such models on bootstrap resamples.

Protocol per run: 2 random items labelled to start (12 pairwise tasks), then 10 rounds; each round
spends 30 tasks (5 items x 6 pairs, one label each) chosen from a pool of 400 items by the method,
and refits. Accuracy is measured on 3,000 held-out pairs from 500 other items, against held-out labels
of the same simulated annotator (what a held-out human set measures), and against the true order.

Run: .venv/bin/python bench/annotate_selection.py [--runs 40]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from instructkit.annotate.select import choose, item_score

D, M, POOL, TEST, ROUNDS, PER_ROUND, START_ITEMS, COMMITTEE = 16, 4, 400, 500, 10, 30, 2, 4
PAIRS = list(itertools.combinations(range(M), 2))


def fit(dx: np.ndarray, y: np.ndarray, lam: float = 1e-2) -> np.ndarray:
    """Bradley-Terry (logistic, no intercept) on feature differences, by Newton's method."""
    w = np.zeros(dx.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-dx @ w))
        grad = dx.T @ (p - y) + lam * w
        hess = (dx * (p * (1 - p))[:, None]).T @ dx + lam * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def label(rng, r_true, beta):
    """One simulated annotation per pair of each item: 1 when the first response wins."""
    diffs = np.array([[r[i] - r[j] for i, j in PAIRS] for r in r_true])
    return (rng.random(diffs.shape) < 1 / (1 + np.exp(-beta * diffs))).astype(float)


def run_once(seed: int, method: str, beta: float) -> list[tuple[int, float, float]]:
    rng = np.random.default_rng(seed)
    w_true = rng.normal(size=D)
    pool = rng.normal(size=(POOL, M, D))
    test = rng.normal(size=(TEST, M, D))
    test_dx = np.concatenate([test[:, i] - test[:, j] for i, j in PAIRS])
    test_true = test_dx @ w_true
    test_y = (rng.random(len(test_true)) < 1 / (1 + np.exp(-beta * test_true))).astype(float)
    pick_rng = np.random.default_rng(seed + 10_000)  # the same start for every method
    labelled = list(pick_rng.choice(POOL, START_ITEMS, replace=False))
    ys = {i: label(rng, [pool[i] @ w_true], beta)[0] for i in labelled}
    curve = []
    for rnd in range(ROUNDS + 1):
        dx = np.array([pool[i][a] - pool[i][b] for i in labelled for a, b in PAIRS])
        y = np.concatenate([ys[i] for i in labelled])
        w = fit(dx, y)
        pred = test_dx @ w
        curve.append(
            (len(y), float(np.mean((pred > 0) == (test_y == 1))), float(np.mean((pred > 0) == (test_true > 0))))
        )
        if rnd == ROUNDS:
            break
        rest = [i for i in range(POOL) if i not in ys]
        if method == "disagreement":
            boots = [rng.integers(0, len(y), len(y)) for _ in range(COMMITTEE)]
            models = [fit(dx[b], y[b]) for b in boots]
        else:
            models = [w]
        scores = [item_score([[float(v) for v in pool[i] @ m] for m in models], method) for i in rest]
        chosen, _ = choose([len(PAIRS)] * len(rest), scores, by=method, budget=PER_ROUND, seed=seed * 100 + rnd)
        for k in chosen:
            i = rest[k]
            ys[i] = label(rng, [pool[i] @ w_true], beta)[0]
            labelled.append(i)
    return curve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    for beta in (4.0, 1.0):
        print(f"\nannotator beta={beta} ({'consistent' if beta > 2 else 'noisy'}); {args.runs} runs; mean (sd)")
        results = {
            m: np.array([run_once(s, m, beta) for s in range(args.runs)])
            for m in ("random", "uncertainty", "disagreement")
        }
        tasks = results["random"][0, :, 0].astype(int)
        print(
            "| tasks | "
            + " | ".join(f"{m} (held-out labels)" for m in results)
            + " | "
            + " | ".join(f"{m} (true order)" for m in results)
            + " |"
        )
        print("|---" * (1 + 2 * len(results)) + "|")
        for k, t in enumerate(tasks):
            if k in (0, 1, 2, 4, 6, 10):
                cells = [f"{r[:, k, 1].mean():.3f} ({r[:, k, 1].std():.3f})" for r in results.values()]
                cells += [f"{r[:, k, 2].mean():.3f}" for r in results.values()]
                print(f"| {t} | " + " | ".join(cells) + " |")
        final_random = results["random"][:, -1, 1].mean()
        for m, r in results.items():
            reach = next((int(tasks[k]) for k in range(len(tasks)) if r[:, k, 1].mean() >= final_random - 1e-9), None)
            gain = (r[:, -1, 1] - r[:, 0, 1]).mean() / (tasks[-1] - tasks[0])
            paired = r[:, -1, 1] - results["random"][:, -1, 1]
            print(
                f"{m}: accuracy gained per 100 tasks {100 * gain:.4f}; tasks to reach random's final accuracy: "
                f"{reach}; final minus random, paired over runs: {paired.mean():+.4f} (sd {paired.std():.4f})"
            )


if __name__ == "__main__":
    main()
