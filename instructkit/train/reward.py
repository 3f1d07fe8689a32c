"""Reward model training: ``preference`` sets with TRL's ``RewardTrainer`` (``objective: pairwise``), or
``feedback`` sets with a pointwise or listwise objective (reward_objectives.py).

The Bradley-Terry pairwise loss ``-log sigmoid(r(x, y_c) - r(x, y_r) [- margin])`` (Bradley and Terry
1952; Ouyang et al. 2022, InstructGPT, section 3.5; margins as in Llama 2, Touvron et al. 2023)
trains a sequence-classification head with one output. Held-out pairwise accuracy and mean margin are
computed by us after training, pair by pair, on the exact held-out records (not averaged per batch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError, InputError
from instructkit.train.checks import training_messages
from instructkit.train.common import (
    FineTuneParams,
    load_sequence_classifier,
    peft_config,
    trainer_config_dict,
    trainer_kwargs,
)
from instructkit.train.data import MARGIN_POLICIES, drop_identical_pairs, preference_dataset
from instructkit.train.output import save_final, world_size
from instructkit.train.reward_objectives import OBJECTIVES, group_split, items_of, train_on_feedback
from instructkit.train.runner import Run, Task, Trained, as_result, fit, run_training, summary_rows


@dataclass(kw_only=True)
class RewardParams(FineTuneParams):
    """Parameters of ``instructkit reward`` (YAML keys; ``--set key=value`` overrides)."""

    objective: str = field(
        default="pairwise",
        metadata={
            "help": "pairwise (Bradley-Terry on 'preference' pairs), pointwise (regression on the normalised "
            "rating of each response of a 'feedback' set; calibrated z-scores with annotate-import --calibrate) "
            "or listwise (all K-choose-2 pairs of one item's ranking in one batch element, InstructGPT; a "
            "'feedback' set). Items stay whole on one side of the held-out split."
        },
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (AdamW).", "flags": ("--lr",)})
    eval_split: float = field(default=0.1, metadata={"help": "Fraction of pairs held out for accuracy and margin."})
    margins: str = field(
        default="none",
        metadata={
            "help": "none (plain Bradley-Terry) or meta (use meta.margin / meta.annotate.margin, e.g. rating "
            "differences from annotate-import, inside the loss)."
        },
    )
    margin_scale: float = field(default=1.0, metadata={"help": "Multiplier applied to meta margins."})
    center_rewards_coefficient: float | None = field(
        default=None, metadata={"help": "Weight of the mean-zero reward penalty (Eisenstein et al. 2023); None: off."}
    )

    def __post_init__(self) -> None:
        if self.margins not in MARGIN_POLICIES:
            raise ConfigError(f"margins must be one of {', '.join(MARGIN_POLICIES)}, got {self.margins!r}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.objective != "pairwise" and self.margins != "none":
            raise ConfigError(f"margins apply to the pairwise objective only, not {self.objective}")
        super().__post_init__()


def reward_config(params: RewardParams, output_dir: Path, *, has_eval: bool):
    """The ``trl.RewardConfig`` with every knob that changes results set explicitly."""
    from trl import RewardConfig

    return RewardConfig(
        **trainer_kwargs(params, output_dir, has_eval=has_eval),
        max_length=params.max_length,
        pad_to_multiple_of=None,
        center_rewards_coefficient=params.center_rewards_coefficient,
        disable_dropout=True,
        activation_offloading=False,
        dataset_num_proc=None,
        model_init_kwargs=None,
    )


def score_pairs(
    model, tokenizer, records: list[dict], *, batch_size: int = 8, max_length: int | None = None
) -> list[tuple[float, float]]:
    """``(reward(chosen), reward(rejected))`` for each preference record, via the chat template."""
    import torch

    texts = []
    for r in records:
        prompt = training_messages(r["prompt"])
        for side in ("chosen", "rejected"):
            texts.append(tokenizer.apply_chat_template(prompt + training_messages(r[side]), tokenize=False))
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size * 2):
            batch = tokenizer(
                texts[i : i + batch_size * 2],
                return_tensors="pt",
                padding=True,
                truncation=max_length is not None,
                max_length=max_length,
                add_special_tokens=False,
            )
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            scores.extend(logits[:, 0].float().tolist())
    return [(scores[2 * i], scores[2 * i + 1]) for i in range(len(records))]


def pair_metrics(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """Pairwise accuracy (ties count as wrong) and mean margin ``r_c - r_r``."""
    if not pairs:
        return {}
    return {
        "accuracy": sum(c > r for c, r in pairs) / len(pairs),
        "mean_margin": sum(c - r for c, r in pairs) / len(pairs),
        "pairs": len(pairs),
    }


class Reward(Task):
    """A reward model. pairwise: Bradley-Terry with TRL's ``RewardTrainer``, then our pair-by-pair held-out
    metrics; pointwise and listwise: our objectives on ``feedback`` items (reward_objectives.py)."""

    stage = title = "reward"

    def __init__(self, objective: str = "pairwise"):
        self.objective = objective
        self.kinds = frozenset({"preference"} if objective == "pairwise" else {"feedback"})
        self.items: tuple[list[dict], list[dict]] = ([], [])

    def check_tokenizer(self, tokenizer, model: str, p: RewardParams) -> None:
        if tokenizer.pad_token_id is None:
            raise ConfigError(
                f"the tokenizer of {model} has no pad token",
                hint="the reward head reads the last non-pad token: add a distinct pad token",
            )
        if not tokenizer.chat_template:
            raise ConfigError(f"{model} has no chat template", hint="pass --chat-template chatml")

    def prepare(self, run: Run) -> None:
        # Re-split by prompt: the pairs of one item (all-pairs binarisation, edits of one answer) or the
        # records of one prompt must not sit on both sides, or held-out accuracy measures memory.
        p = run.params
        records, identical = drop_identical_pairs(run.train + run.eval)  # chosen == rejected: no preference
        run.train, run.eval = group_split(records, p.eval_split, p.seed)
        if self.objective == "pairwise":
            run.data = {
                "objective": "pairwise",
                "train_pairs": len(run.train),
                "eval_pairs": len(run.eval),
                "dropped": {"identical_pair": identical},
            }
            return
        train = items_of(run.train, self.objective)
        try:
            held = items_of(run.eval, self.objective) if run.eval else []
        except InputError:  # the held-out items have nothing to compare: train, and say so
            held = []
        self.items = (train, held)
        run.data = {
            "objective": self.objective,
            "train_items": len(train),
            "train_responses": sum(len(it["responses"]) for it in train),
            "eval_items": len(held),
            "dropped": {"identical_pair": identical},
        }

    def extra(self, run: Run) -> dict[str, Any]:
        return {**super().extra(run), "objective": self.objective}

    def train(self, run: Run) -> Trained:
        if self.objective != "pairwise":
            metrics, config, history = train_on_feedback(run, *self.items)
            return Trained(metrics, config, history)
        from trl import RewardTrainer

        p, tokenizer = run.params, run.tokenizer
        train_ds = preference_dataset(run.train, margins=p.margins, margin_scale=p.margin_scale)
        rm = load_sequence_classifier(run.model, trust_remote_code=p.trust_remote_code, dtype=p.dtype)
        if len(tokenizer) > rm.get_input_embeddings().weight.shape[0]:
            rm.resize_token_embeddings(len(tokenizer))
        rm.config.pad_token_id = tokenizer.pad_token_id
        config = reward_config(p, run.outdir.checkpoints, has_eval=bool(run.eval))
        trainer = RewardTrainer(
            model=rm,
            args=config,
            train_dataset=train_ds,
            eval_dataset=preference_dataset(run.eval, margins="none") if run.eval else None,
            processing_class=tokenizer,
            peft_config=peft_config(p, "SEQ_CLS"),
            callbacks=run.callbacks,
        )
        metrics = fit(trainer, run, description="reward")
        final = save_final(trainer, run.outdir.model, tokenizer, merge_lora=p.lora and p.merge_lora)
        if run.eval and world_size() == 1:
            held = pair_metrics(
                score_pairs(final, tokenizer, run.eval, batch_size=p.batch_size, max_length=p.max_length)
            )
            metrics.update({f"heldout_{k}": v for k, v in held.items()})
        elif run.eval:  # several processes: TRL's batch-averaged eval metrics, gathered across ranks
            ev = trainer.evaluate()
            metrics.update(
                heldout_accuracy=ev.get("eval_accuracy"),
                heldout_mean_margin=ev.get("eval_margin"),
                heldout_pairs=len(run.eval),
            )
        return Trained(metrics, trainer_config_dict(config), trainer.state.log_history)

    def summary(self, result: dict[str, Any]) -> dict[str, Any]:
        rows = summary_rows(
            result["metrics"],
            [
                ("steps", "global_step"),
                ("train loss", "train_loss"),
                ("held-out items", "heldout_items"),
                ("held-out pairs", "heldout_pairs"),
                ("held-out accuracy", "heldout_accuracy"),
                ("held-out mean margin", "heldout_mean_margin"),
                ("held-out Spearman", "heldout_spearman"),
                ("held-out Kendall tau", "heldout_kendall"),
                ("held-out RMSE (sd units)", "heldout_rmse"),
            ],
        )
        if "held-out accuracy" not in rows and "held-out Spearman" not in rows:
            rows["held-out accuracy"] = "not measured (no held-out split: eval_split 0)"
        return rows


def run(inputs: list[str], out: Path, params: RewardParams):
    """The ``reward`` stage (registry entry): train, then the summary rows of the end-of-stage table."""
    task = Reward(params.objective)
    return as_result(task, run_training(task, inputs, out, params))


def run_reward(
    inputs: list[str | Path],
    *,
    out: str | Path,
    params: RewardParams,
    model: str | None = None,
    force: bool | None = None,
    resume: bool | None = None,
    callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train a reward model on the ``preference`` sets ``inputs``; write it at ``out`` (Python API).

    ``model``, ``force`` and ``resume`` override the fields of ``params``.

    Returns:
        ``{"path", "metrics", "manifest"}``; metrics hold ``heldout_accuracy`` and ``heldout_mean_margin``
        when ``eval_split > 0``.
    """
    given = {"model": model, "force": force, "resume": resume}
    params = dataclasses.replace(params, **{k: v for k, v in given.items() if v is not None})
    return run_training(Reward(params.objective), inputs, out, params, callbacks=callbacks)
