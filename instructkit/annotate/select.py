"""Choosing what to annotate: spend a budget of tasks on the items reward models cannot separate.

Annotation is the expensive step of the loop, and a pair the current reward model already orders with
a wide margin teaches it little. ``annotate-export --select N --by ...`` scores every item (a prompt
with its candidate responses) with one or more reward models and exports tasks only for the best
items, in score order, until ``N`` tasks are spent (an item costs its template's task count: one
per pair for pairwise, one per response for rating and edit, one for ranking).

Scores (higher = annotate first), for an item with rewards ``r_m(i)`` of response ``i`` under model ``m``:

- ``uncertainty``: the Bradley-Terry variance ``4 p (1 - p)`` of the closest pair, ``p = sigmoid(r(i) -
  r(j))``, averaged over the reward models: 1 when two candidates tie, near 0 when every pair is far
  apart (uncertainty sampling, Lewis & Gale 1994; for preference data, e.g. Muldrew et al. 2024).
- ``disagreement``: over candidate pairs, how evenly the reward models split on which response is
  better (``1 - |mean sign(r_m(i) - r_m(j))|``; 0 when all agree), for the pair they split on most,
  ties broken by uncertainty (query by committee, Seung et al. 1992). Needs two reward models or more.
- ``random``: a seeded shuffle, the control; with reward models given, their uncertainty is still
  recorded so the two choices can be compared.

The export manifest's ``selection`` holds the method, budget, reward models, tasks spent, the chosen
record ids in order and every item's score (a task's key starts with its record id).
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

from instructkit.errors import ConfigError

METHODS = ("disagreement", "uncertainty", "random")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def uncertainty(rewards: list[list[float]]) -> float:
    """Mean over reward models of the Bradley-Terry variance of the closest pair (1: a tie)."""
    per_model = []
    for r in rewards:
        closest = min(abs(a - b) for a, b in itertools.combinations(r, 2))
        p = _sigmoid(closest)
        per_model.append(4 * p * (1 - p))
    return sum(per_model) / len(per_model)


def disagreement(rewards: list[list[float]]) -> float:
    """How evenly the reward models split on the pair they disagree on most (0: all agree; 1: half and half)."""
    n = len(rewards[0])
    worst = 0.0
    for i, j in itertools.combinations(range(n), 2):
        signs = [int(r[i] > r[j]) - int(r[i] < r[j]) for r in rewards]
        worst = max(worst, 1 - abs(sum(signs)) / len(signs))
    return worst


def item_score(rewards: list[list[float]], by: str) -> float:
    """The selection score of one item from its rewards (``rewards[m][i]``: model m, response i)."""
    if by == "uncertainty" or by == "random":
        return uncertainty(rewards)
    if by == "disagreement":
        if len(rewards) < 2:
            raise ConfigError("--by disagreement needs two reward models or more", hint="repeat --reward-model")
        return disagreement(rewards) + 1e-3 * uncertainty(rewards)
    raise ConfigError(f"unknown selection method {by!r}", hint=f"use one of {', '.join(METHODS)}")


def reward_table(items: list[dict], reward_models: list[str], *, batch_size: int = 8) -> list[list[list[float]]]:
    """``table[item][model][response]``: every response of every item scored by every reward model."""
    from instructkit.eval.rewardbench import RewardScorer

    prompts = [it["prompt"] for it in items for _ in it["responses"]]
    replies = [r["content"] for it in items for r in it["responses"]]
    per_model = []
    for path in reward_models:
        scorer = RewardScorer(path, batch_size=batch_size)
        per_model.append(scorer.score_replies(prompts, replies))
        del scorer
    table, k = [], 0
    for it in items:
        n = len(it["responses"])
        table.append([scores[k : k + n] for scores in per_model])
        k += n
    return table


def choose(
    costs: list[int], scores: list[float | None], *, by: str, budget: int, seed: int = 0
) -> tuple[list[int], int]:
    """Item indices to export, best first, while their task costs fit in ``budget``; and the tasks spent."""
    order = list(range(len(costs)))
    if by == "random":
        random.Random(seed).shuffle(order)
    else:
        order.sort(key=lambda i: (-(scores[i] if scores[i] is not None else -1.0), i))
    chosen, spent = [], 0
    for i in order:
        if costs[i] and spent + costs[i] <= budget:
            chosen.append(i)
            spent += costs[i]
    return chosen, spent


def select_records(records: list[dict], template: Any, p: Any) -> tuple[list[dict], dict]:
    """The records to export under ``p.select`` tasks chosen ``p.by``, and the manifest's ``selection``."""
    from instructkit.annotate.export import MIN_RESPONSES, item_of, task_units

    models = list(p.reward_model or [])
    if p.by != "random" and not models:
        raise ConfigError(f"--by {p.by} needs a reward model", hint="pass --reward-model RM (a reward stage output)")
    items = [item_of(r) for r in records]
    need = max(2, MIN_RESPONSES[template.name])
    costs = [len(task_units(template, it, random.Random(0))) if len(it["responses"]) >= need else 0 for it in items]
    scorable = [i for i, c in enumerate(costs) if c]
    scores: list[float | None] = [None] * len(items)
    if models:
        table = reward_table([items[i] for i in scorable], models)
        for i, rewards in zip(scorable, table, strict=True):
            scores[i] = item_score(rewards, p.by)
    chosen, spent = choose(costs, scores, by=p.by, budget=p.select, seed=p.seed)
    selection = {
        "by": p.by,
        "budget": p.select,
        "tasks": spent,
        "reward_models": models,
        "chosen": [items[i]["id"] for i in chosen],
        "scores": {items[i]["id"]: None if scores[i] is None else round(scores[i], 6) for i in scorable},
    }
    return [records[i] for i in chosen], selection
