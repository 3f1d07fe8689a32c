"""Reference-based text metrics and length statistics for generations (the math; the report
sections that use them are ``metrics/references.py`` and ``metrics/length.py``).

- BLEU: corpus BLEU from sacrebleu (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation
  of Machine Translation"; Post 2018, "A Call for Clarity in Reporting BLEU Scores"), default
  ``13a`` tokenisation, brevity penalty, exponential smoothing, on a 0-100 scale.
- ROUGE-L: the F-measure of the longest common subsequence of tokens (Lin 2004, "ROUGE: A Package
  for Automatic Evaluation of Summaries"), from Google's ``rouge-score``; its tokenizer lowercases and
  keeps only ``[a-z0-9]`` runs, so text without Latin letters or digits scores 0 (use BLEU there).
  Averaged over examples, 0-1.
- Exact match: the fraction of generations equal to the reference after stripping and collapsing
  whitespace (case and punctuation count).
- Length statistics: characters and whitespace words per generation.
"""

from __future__ import annotations

import re
import statistics

from instructkit.errors import ConfigError

_WS = re.compile(r"\s+")


def _check(hyps: list[str], refs: list[str]) -> None:
    if len(hyps) != len(refs):
        raise ConfigError(f"{len(hyps)} generations but {len(refs)} references")


def bleu(hyps: list[str], refs: list[str]) -> float:
    """Corpus BLEU (0-100) of ``hyps`` against one reference each, as sacrebleu computes it."""
    import sacrebleu

    _check(hyps, refs)
    if not hyps:
        return 0.0
    return float(sacrebleu.corpus_bleu(hyps, [refs]).score)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists (dynamic programming, O(len a * len b))."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyps: list[str], refs: list[str]) -> dict[str, float]:
    """Mean ROUGE-L precision, recall and F1 (0-1) over examples, from ``rouge-score``.

    For one pair, with ``L = LCS(hyp, ref)``: precision ``L / len(hyp)``, recall ``L / len(ref)``,
    F1 their harmonic mean (0 when ``L == 0``).
    """
    from rouge_score import rouge_scorer

    _check(hyps, refs)
    if not hyps:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    scores = [scorer.score(r, h)["rougeL"] for h, r in zip(hyps, refs, strict=True)]  # score(target, prediction)
    return {
        "precision": statistics.fmean(s.precision for s in scores),
        "recall": statistics.fmean(s.recall for s in scores),
        "f1": statistics.fmean(s.fmeasure for s in scores),
    }


def normalise(text: str) -> str:
    """Whitespace-normalised text: stripped, inner runs of whitespace collapsed to one space."""
    return _WS.sub(" ", text).strip()


def exact_match(hyps: list[str], refs: list[str]) -> float:
    """Fraction (0-1) of generations equal to their reference after ``normalise``."""
    _check(hyps, refs)
    if not hyps:
        return 0.0
    return sum(normalise(h) == normalise(r) for h, r in zip(hyps, refs, strict=True)) / len(hyps)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of sorted data (NumPy's default method)."""
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def describe(values: list[float]) -> dict[str, float]:
    """n, mean, std (population), min, p10, median, p90, max of a list of numbers."""
    if not values:
        return {"n": 0}
    s = sorted(values)
    return {
        "n": len(s),
        "mean": statistics.fmean(s),
        "std": statistics.pstdev(s),
        "min": float(s[0]),
        "p10": _percentile(s, 0.1),
        "median": _percentile(s, 0.5),
        "p90": _percentile(s, 0.9),
        "max": float(s[-1]),
    }


def length_stats(texts: list[str]) -> dict[str, dict | float]:
    """Characters and whitespace-separated words per text, and the fraction of empty texts."""
    return {
        "chars": describe([float(len(t)) for t in texts]),
        "words": describe([float(len(t.split())) for t in texts]),
        "empty_fraction": (sum(not t.strip() for t in texts) / len(texts)) if texts else 0.0,
    }


def reference_metrics(hyps: list[str], refs: list[str]) -> dict[str, float]:
    """BLEU, ROUGE-L F1 and exact match together (the report's reference columns)."""
    return {
        "bleu": bleu(hyps, refs),
        "rougeL_f1": rouge_l(hyps, refs)["f1"],
        "exact_match": exact_match(hyps, refs),
        "n": len(hyps),
    }
