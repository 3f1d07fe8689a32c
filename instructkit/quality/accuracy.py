"""Accuracy: measured only against something that knows the answer; otherwise "not measured".

Three sources, each used when present:

- gold answers in the records (``meta.gold``, ``meta.answer``, ``meta.reference``, ``meta.extra.gold``,
  ``meta.extra.answer``, or the field named by ``gold_field``): exact match of the normalised response,
  and "contains" (the normalised gold appears in the response: the final number of a GSM8K answer).
- a reference set (``reference``): records matched by normalised prompt; exact match and token F1
  (SQuAD's, Rajpurkar et al. 2016) of the response against the reference response.
- a reward model (``reward_model``, a ``reward`` stage output): the distribution of response scores and,
  for preference records, the share of pairs where the model scores chosen above rejected (its agreement
  with the labels; a low value on human labels points at noisy labels or a weak model).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from instructkit.filters._text import norm
from instructkit.quality.common import Item, item_of


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 over normalised words."""
    p, r = norm(prediction).split(), norm(reference).split()
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def gold_counts(items: list[Item]) -> tuple[int, int, int]:
    """``(records with a gold answer, exact matches, contains)``; chunks' counts add up."""
    pairs = [(norm(it.response), norm(it.gold)) for it in items if it.gold is not None]
    return (
        len(pairs),
        sum(r == g for r, g in pairs),
        sum(bool(g) and f" {g} " in f" {r} " for r, g in pairs),
    )


def gold(counts: tuple[int, int, int]) -> dict | None:
    """The gold section from ``gold_counts`` (summed over the chunks)."""
    n, exact, contains = counts
    if not n:
        return None
    return {"records": n, "exact_match": round(exact / n, 4), "contains": round(contains / n, 4)}


def reference(items: list[Item], path: str, gold_field: str | None) -> dict:
    from instructkit.shards import ShardSet

    refs: dict[str, str] = {}
    for record in ShardSet(path):
        ref = item_of(record, gold_field=gold_field)
        refs.setdefault(ref.prompt_key, ref.response)
    matched = [(it.response, refs[it.prompt_key]) for it in items if it.prompt_key in refs]
    n = len(matched)
    return {
        "set": str(path),
        "matched": n,
        "exact_match": round(sum(norm(a) == norm(b) for a, b in matched) / n, 4) if n else None,
        "token_f1": round(sum(token_f1(a, b) for a, b in matched) / n, 4) if n else None,
    }


def _quantiles(values: list[float]) -> dict:
    import numpy as np

    if not values:
        return {}
    q = np.quantile(np.asarray(values, dtype=np.float64), [0.1, 0.5, 0.9])
    return {"mean": round(float(np.mean(values)), 4), "p10": round(float(q[0]), 4), "p50": round(float(q[1]), 4),
            "p90": round(float(q[2]), 4)}  # fmt: skip


def reward(path: str | Path, model: str, *, batch_size: int) -> dict:
    """Reward-model scores of the set's responses (and of rejected answers), read in a second pass."""
    from instructkit.filters.model_based import RewardFilter, RewardParams
    from instructkit.shards import ShardSet

    rule = RewardFilter(RewardParams(model=model, batch_size=batch_size))
    chosen: list[float] = []
    wins = pairs = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal wins, pairs
        good = rule.scores(batch)
        chosen.extend(good)
        with_rejected = [(i, r) for i, r in enumerate(batch) if "rejected" in r]
        if with_rejected:
            bad = rule.scores([{"prompt": r["prompt"], "chosen": r["rejected"]} for _, r in with_rejected])
            pairs += len(bad)
            wins += sum(good[i] > b for (i, _), b in zip(with_rejected, bad, strict=True))
        batch.clear()

    for record in ShardSet(path):
        if "messages" in record or "chosen" in record or record.get("label") is True:
            if "completion" in record:
                record = {"prompt": record["prompt"], "chosen": record["completion"]}
            batch.append(record)
        if len(batch) >= 256:
            flush()
    if batch:
        flush()
    return {
        "model": model,
        "scored": len(chosen),
        "scores": _quantiles(chosen),
        "pairs": pairs,
        "chosen_preferred": round(wins / pairs, 4) if pairs else None,
    }


def measure(items: list[Item], path: str | Path, p, *, gold_counts: tuple[int, int, int]) -> dict:
    """The accuracy section of quality.json; ``measured`` is False when nothing knows the answers."""
    out: dict = {"gold": gold(gold_counts), "reference": None, "reward": None}
    if p.reference:
        out["reference"] = reference(items, p.reference, p.gold_field)
    if p.reward_model:
        out["reward"] = reward(path, p.reward_model, batch_size=p.batch_size)
    out["measured"] = any(out[k] for k in ("gold", "reference", "reward"))
    if not out["measured"]:
        out["note"] = "not measured: no gold field, no reference set (--reference), no reward model (--reward-model)"
    return out
