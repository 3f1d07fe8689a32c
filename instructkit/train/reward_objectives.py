"""Reward models trained on ``feedback`` records directly: pointwise (ratings) and listwise (rankings).

- pointwise: regression of ``r(x, y)`` on the response's normalised rating, ``mean (r - z)^2``. The rating
  is the item's aggregated score (``meta.annotate.scores`` from annotate-import: the mean rating, or with
  ``--calibrate`` the mean of per-annotator z-scores, Graham et al. 2013), then standardised over the
  training set so the loss is in standard-deviation units. Reward models fitted to absolute scores in the
  style of SteerLM (Dong et al. 2023) and UltraRM's regression baselines.
- listwise: all C(K, 2) ordered pairs of one item's ranking in one batch element, ``-1/C * sum log
  sigmoid(r_w - r_l)`` (InstructGPT, Ouyang et al. 2022, section 3.5: "we train on all comparisons from
  each prompt as a single batch element", which avoids overfitting to a prompt seen K-choose-2 times).
  Tied responses give no pair. The order is the item's aggregated score (Borda for rankings, mean rating).

Each item (one prompt with all its responses) stays whole on one side of the train/held-out split. Held-out
metrics: Spearman and Kendall (tau-b) correlation of reward and score (pooled over responses for
pointwise; per item, then averaged, for listwise), and within-item pairwise accuracy for both.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from typing import Any

from instructkit.errors import ConfigError, InputError
from instructkit.rankstats import kendall, spearman  # noqa: F401 (re-exported)
from instructkit.train.checks import training_messages

OBJECTIVES = ("pairwise", "pointwise", "listwise")


# --- targets ----------------------------------------------------------------------------------


def response_scores(record: dict) -> list[float | None]:
    """One score per response of a feedback record: ``meta.annotate.scores`` (annotate-import's aggregate),
    else the mean of its rating judgments (``value`` or the mean of ``ratings``), else Borda from rankings."""
    n = len(record["responses"])
    scores = ((record.get("meta") or {}).get("annotate") or {}).get("scores")
    if scores is not None and len(scores) == n:
        return [None if s is None else float(s) for s in scores]
    per: dict[int, list[float]] = {}
    for j in record.get("judgments") or []:
        if j.get("excluded"):
            continue
        if j.get("type") == "rating" and j.get("response") is not None:
            value = j.get("value")
            if value is None and j.get("ratings"):
                value = sum(j["ratings"].values()) / len(j["ratings"])
            if value is not None:
                per.setdefault(j["response"], []).append(float(value))
        elif j.get("type") == "ranking" and len(j.get("order") or []) > 1:
            m = len(j["order"])
            for pos, i in enumerate(j["order"]):
                per.setdefault(i, []).append((m - 1 - pos) / (m - 1))
    return [sum(per[i]) / len(per[i]) if per.get(i) else None for i in range(n)]


def items_of(records: list[dict], objective: str) -> list[dict]:
    """``[{"id", "prompt", "responses": [text], "scores": [float]}]``: the scored responses of each record.

    Raises:
        InputError: no record has two scored responses (listwise) or one (pointwise).
    """
    need = 2 if objective == "listwise" else 1
    items = []
    for r in records:
        scored = [
            (resp["content"], s) for resp, s in zip(r["responses"], response_scores(r), strict=True) if s is not None
        ]
        if objective == "listwise" and len({s for _, s in scored}) < 2:
            continue  # a single response or all tied: no comparison to learn from
        if len(scored) >= need:
            items.append(
                {
                    "id": r["id"],
                    "prompt": r["prompt"],
                    "responses": [t for t, _ in scored],
                    "scores": [s for _, s in scored],
                }
            )
    if not items:
        raise InputError(
            f"reward --objective {objective}: no feedback record has {'two differently' if need == 2 else 'a'} "
            "scored response",
            hint="pass the feedback set of annotate-import (OUT/feedback) of a rating or ranking export",
        )
    return items


def standardise(items: list[dict]) -> tuple[float, float]:
    """Mean and standard deviation of the training scores (the pointwise target's unit)."""
    values = [s for it in items for s in it["scores"]]
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))
    return mean, sd if sd > 0 else 1.0


def texts_of(item: dict, tokenizer) -> list[str]:
    prompt = training_messages(item["prompt"])
    return [
        tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": t}], tokenize=False)
        for t in item["responses"]
    ]


# --- rank statistics ---------------------------------------------------------------------------


def heldout_metrics(items: list[dict], rewards: list[list[float]], objective: str, unit: tuple[float, float]):
    """The held-out metrics that fit the objective (see the module docstring)."""
    right = total = 0
    for it, rs in zip(items, rewards, strict=True):
        for a, b in itertools.combinations(range(len(rs)), 2):
            if it["scores"][a] != it["scores"][b]:
                total += 1
                right += (rs[a] - rs[b]) * (it["scores"][a] - it["scores"][b]) > 0
    out: dict[str, Any] = {"items": len(items), "responses": sum(len(r) for r in rewards)}
    if total:
        out["accuracy"] = right / total
        out["pairs"] = total
    if objective == "pointwise":
        ys = [s for it in items for s in it["scores"]]
        xs = [r for rs in rewards for r in rs]
        out["spearman"], out["kendall"] = spearman(xs, ys), kendall(xs, ys)
        mean, sd = unit
        out["rmse"] = math.sqrt(sum((x - (y - mean) / sd) ** 2 for x, y in zip(xs, ys, strict=True)) / len(xs))
    else:
        rho = [spearman(rs, it["scores"]) for it, rs in zip(items, rewards, strict=True)]
        tau = [kendall(rs, it["scores"]) for it, rs in zip(items, rewards, strict=True)]
        rho, tau = [x for x in rho if x is not None], [x for x in tau if x is not None]
        out["spearman"] = sum(rho) / len(rho) if rho else None
        out["kendall"] = sum(tau) / len(tau) if tau else None
    return out


# --- training ----------------------------------------------------------------------------------


class ItemCollator:
    """Tokenises every response of a batch of items into one padded batch; ``group`` says whose it is."""

    def __init__(self, tokenizer, max_length: int, unit: tuple[float, float]):
        self.tokenizer, self.max_length, self.unit = tokenizer, max_length, unit

    def __call__(self, items: list[dict]) -> dict:
        import torch

        texts, targets, groups = [], [], []
        mean, sd = self.unit
        for g, it in enumerate(items):
            texts += texts_of(it, self.tokenizer)
            targets += [(s - mean) / sd for s in it["scores"]]
            groups += [g] * len(it["responses"])
        batch = self.tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=False,
        )
        batch["targets"] = torch.tensor(targets, dtype=torch.float32)
        batch["group"] = torch.tensor(groups, dtype=torch.long)
        return dict(batch)


def objective_loss(rewards, targets, group, objective: str):
    """Pointwise MSE, or the InstructGPT listwise loss averaged per item then over the batch."""
    import torch
    import torch.nn.functional as F

    if objective == "pointwise":
        return F.mse_loss(rewards, targets)
    losses = []
    for g in torch.unique(group):
        r, t = rewards[group == g], targets[group == g]
        better = t[:, None] > t[None, :]  # better[a, b]: a should score above b
        if better.any():
            diff = r[:, None] - r[None, :]
            losses.append(-F.logsigmoid(diff[better]).mean())
    return torch.stack(losses).mean() if losses else rewards.sum() * 0.0


def trainer_class(objective: str):
    """A ``transformers.Trainer`` whose loss is :func:`objective_loss` on the score head's output."""
    from transformers import Trainer

    class ObjectiveTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            targets, group = inputs.pop("targets"), inputs.pop("group")
            outputs = model(**inputs)
            loss = objective_loss(outputs.logits[:, 0].float(), targets, group, objective)
            return (loss, outputs) if return_outputs else loss

    return ObjectiveTrainer


def score_items(model, tokenizer, items: list[dict], *, batch_size: int, max_length: int) -> list[list[float]]:
    """The reward of every response of every item, in order."""
    import torch

    flat = [t for it in items for t in texts_of(it, tokenizer)]
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    with torch.no_grad():
        for i in range(0, len(flat), batch_size):
            batch = tokenizer(
                flat[i : i + batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_length,
                add_special_tokens=False,
            )
            scores += model(**{k: v.to(device) for k, v in batch.items()}).logits[:, 0].float().tolist()
    out, k = [], 0
    for it in items:
        out.append(scores[k : k + len(it["responses"])])
        k += len(it["responses"])
    return out


def prompt_key(record: dict) -> str:
    """What ties records to one item: annotate-import's ``feedback_id``, else the prompt itself."""
    fid = ((record.get("meta") or {}).get("annotate") or {}).get("feedback_id")
    if fid:
        return str(fid)
    return json.dumps(record.get("prompt"), sort_keys=True, ensure_ascii=False)


def group_split(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A deterministic train/held-out split that never separates records of one prompt (the pairs of one
    ranking would otherwise leak it into the held-out accuracy); about ``fraction`` of the records held out."""
    if fraction <= 0:
        return records, []
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(prompt_key(r), []).append(i)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    want = max(1, round(len(records) * fraction))
    held: set[int] = set()
    for k in keys:
        if len(held) >= want:
            break
        held.update(groups[k])
    if len(held) >= len(records):
        raise ConfigError(
            f"eval_split {fraction} leaves no training prompt out of {len(groups)}",
            hint="lower --eval-split or add data",
        )
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]


def train_on_feedback(run, train_items: list[dict], eval_items: list[dict]) -> tuple[dict, dict, list]:
    """Train a one-output sequence classifier with the pointwise or listwise objective.

    Returns:
        ``(metrics, trainer config, log history)``; metrics hold ``heldout_*`` when ``eval_items``.
    """
    from transformers import TrainingArguments

    from instructkit.train.common import load_sequence_classifier, peft_config, trainer_kwargs
    from instructkit.train.output import save_final, trainer_config_dict
    from instructkit.train.runner import fit

    p, tokenizer = run.params, run.tokenizer
    unit = standardise(train_items) if p.objective == "pointwise" else (0.0, 1.0)
    rm = load_sequence_classifier(run.model, trust_remote_code=p.trust_remote_code, dtype=p.dtype)
    if len(tokenizer) > rm.get_input_embeddings().weight.shape[0]:
        rm.resize_token_embeddings(len(tokenizer))
    rm.config.pad_token_id = tokenizer.pad_token_id
    lora = peft_config(p, "SEQ_CLS")
    if lora is not None:
        from peft import get_peft_model

        rm = get_peft_model(rm, lora)
    kw = trainer_kwargs(p, run.outdir.checkpoints, has_eval=False)
    kw["remove_unused_columns"] = False  # the collator's targets and groups are not model inputs
    args = TrainingArguments(**kw)
    trainer = trainer_class(p.objective)(
        model=rm,
        args=args,
        train_dataset=train_items,
        data_collator=ItemCollator(tokenizer, p.max_length, unit),
        processing_class=tokenizer,
        callbacks=run.callbacks,
    )
    metrics = fit(trainer, run, description=f"reward ({p.objective})")
    final = save_final(trainer, run.outdir.model, tokenizer, merge_lora=p.lora and p.merge_lora)
    if p.objective == "pointwise":
        metrics["target_mean"], metrics["target_sd"] = unit
    if eval_items:
        rewards = score_items(final, tokenizer, eval_items, batch_size=p.batch_size, max_length=p.max_length)
        held = heldout_metrics(eval_items, rewards, p.objective, unit)
        metrics.update({f"heldout_{k}": v for k, v in held.items()})
    return metrics, trainer_config_dict(args), trainer.state.log_history
