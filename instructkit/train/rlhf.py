"""``instructkit rlhf``: dispatch on ``--algo`` and the TRL-backed algorithms.

- ``ppo``: ours (``instructkit.train.ppo``): TRL 1.x has no PPO.
- ``grpo`` / ``rloo``: TRL ``GRPOTrainer`` (Shao et al. 2024, DeepSeekMath) / ``RLOOTrainer`` (Ahmadian et
  al. 2024), online, with the same reward sources as PPO (a ``reward`` stage output and/or reward functions).
- ``dpo`` / ``kto``: TRL ``DPOTrainer`` (Rafailov et al. 2023) / ``KTOTrainer`` (Ethayarajh et al. 2024),
  offline on ``preference`` sets (KTO also on unpaired ``prompt`` + ``completion`` + ``label`` records).
  The reference model is handled as TRL does: a frozen copy of the policy (or ``--ref-model``), or the
  base with adapters disabled under LoRA.

Every knob that changes results is a field of a params dataclass below and is passed explicitly to the
TRL config (its defaults move inside 1.x); the manifest records our params and TRL's resolved config.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError, InputError
from instructkit.train.common import (
    OutputDir,
    TrainParams,
    device_info,
    load_causal_lm,
    load_records,
    load_sequence_classifier,
    load_tokenizer,
    peft_config,
    quiet_libraries,
    seed_everything,
    split_records,
    trainer_config_dict,
    trainer_kwargs,
    use_our_progress,
    write_model_manifest,
)

ALGOS = ("ppo", "grpo", "rloo", "dpo", "kto")
# Loss names of the stable TRL 1.16 configs (trl/trainer/*_config.py), checked before TRL sees them.
DPO_LOSSES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)
KTO_LOSSES = ("kto", "apo_zero_unpaired")
GRPO_LOSSES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")


def _h(text: str) -> dict:
    return {"help": text}


@dataclass(kw_only=True)
class OnlineParams(TrainParams):
    """Shared knobs of GRPO and RLOO (TRL names). ``batch_size`` counts completions per device."""

    learning_rate: float = field(default=1e-6, metadata=_h("Peak learning rate (AdamW)."))
    logging_steps: int = field(default=1, metadata=_h("Log every N optimizer steps (1: every step)."))
    num_generations: int = field(default=4, metadata=_h("Completions per prompt (the group)."))
    max_completion_length: int = field(default=64, metadata=_h("Completion token limit."))
    steps_per_generation: int = field(default=1, metadata=_h("Optimizer steps per generation batch."))
    num_iterations: int = field(default=1, metadata=_h("Updates per generation batch (mu)."))
    temperature: float = field(default=1.0, metadata=_h("Sampling temperature."))
    top_p: float = field(default=1.0, metadata=_h("Nucleus sampling (1.0 = off)."))
    top_k: int = field(default=0, metadata=_h("Top-k sampling (0 = off)."))
    repetition_penalty: float = field(default=1.0, metadata=_h("Repetition penalty (1.0 = off)."))
    beta: float = field(default=0.04, metadata=_h("KL coefficient to the reference (0 = no reference model)."))
    epsilon: float = field(default=0.2, metadata=_h("Clip epsilon of the policy ratio."))
    mask_truncated_completions: bool = field(default=False, metadata=_h("Drop completions without EOS from the loss."))
    reward_weights: list[float] | None = field(default=None, metadata=_h("Weight per reward source; None = 1 each."))
    chat_template: str | None = field(default=None, metadata=_h("None: the policy's; chatml; or a Jinja file."))
    merge_lora: bool = field(default=True, metadata=_h("With lora: save a merged full model."))
    lora_dropout: float = field(default=0.0, metadata=_h("LoRA dropout."))


@dataclass(kw_only=True)
class GRPOParams(OnlineParams):
    loss_type: str = field(default="dapo", metadata=_h(f"One of {', '.join(GRPO_LOSSES)}."))
    scale_rewards: str = field(default="group", metadata=_h("group, batch or none (Dr. GRPO)."))

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("loss_type", self.loss_type, GRPO_LOSSES)
        _check_choice("scale_rewards", self.scale_rewards, ("group", "batch", "none"))


@dataclass(kw_only=True)
class RLOOParams(OnlineParams):
    normalize_advantages: bool = field(default=False, metadata=_h("Whiten the leave-one-out advantages."))


@dataclass(kw_only=True)
class DPOParams(TrainParams):
    learning_rate: float = field(default=1e-6, metadata=_h("Peak learning rate (AdamW)."))
    logging_steps: int = field(default=1, metadata=_h("Log every N optimizer steps (1: every step)."))
    beta: float = field(default=0.1, metadata=_h("Deviation from the reference (tau for ipo)."))
    loss_type: list[str] = field(
        default_factory=lambda: ["sigmoid"],
        metadata=_h(f"DPO loss(es): {', '.join(DPO_LOSSES)}; several are summed with loss_weights."),
    )
    loss_weights: list[float] | None = field(default=None, metadata=_h("Weights when several losses are given."))
    label_smoothing: float = field(default=0.0, metadata=_h("Robust DPO / EXO label smoothing."))
    truncation_mode: str = field(default="keep_start", metadata=_h("keep_start or keep_end when over max_length."))
    use_weighting: bool = field(default=False, metadata=_h("WPO weighting."))
    precompute_ref_log_probs: bool = field(default=False, metadata=_h("Score the data with the reference first."))
    chat_template: str | None = field(default=None, metadata=_h("None: the policy's; chatml; or a Jinja file."))
    merge_lora: bool = field(default=True, metadata=_h("With lora: save a merged full model."))

    def __post_init__(self) -> None:
        super().__post_init__()
        for loss in self.loss_type:
            _check_choice("loss_type", loss, DPO_LOSSES)


@dataclass(kw_only=True)
class KTOParams(TrainParams):
    learning_rate: float = field(default=1e-6, metadata=_h("Peak learning rate (AdamW)."))
    logging_steps: int = field(default=1, metadata=_h("Log every N optimizer steps (1: every step)."))
    beta: float = field(default=0.1, metadata=_h("Deviation from the reference."))
    loss_type: str = field(default="kto", metadata=_h(f"One of {', '.join(KTO_LOSSES)}."))
    desirable_weight: float = field(default=1.0, metadata=_h("Weight of desirable (label true) examples."))
    undesirable_weight: float = field(default=1.0, metadata=_h("Weight of undesirable (label false) examples."))
    precompute_ref_log_probs: bool = field(default=False, metadata=_h("Score the data with the reference first."))
    chat_template: str | None = field(default=None, metadata=_h("None: the policy's; chatml; or a Jinja file."))
    merge_lora: bool = field(default=True, metadata=_h("With lora: save a merged full model."))

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("loss_type", self.loss_type, KTO_LOSSES)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def params_class(algo: str) -> type:
    """The params dataclass of an algorithm (its fields are the valid YAML / --set keys)."""
    from instructkit.train.ppo.config import PPOConfig

    classes = {"ppo": PPOConfig, "grpo": GRPOParams, "rloo": RLOOParams, "dpo": DPOParams, "kto": KTOParams}
    if algo not in classes:
        raise ConfigError(f"unknown --algo {algo!r}", hint=f"use one of {', '.join(ALGOS)}")
    return classes[algo]


# --- data --------------------------------------------------------------------------------------


def _messages(msgs: list[dict]) -> list[dict]:
    from instructkit.train.checks import training_messages

    return training_messages(msgs)


def prompt_rows(records: list[dict]) -> list[dict]:
    """Prompt-only rows for GRPO/RLOO: ``prompt`` (messages) and ``id`` (passed to reward functions)."""
    from instructkit.records import prompt_of

    return [{"prompt": _messages(prompt_of(r)), "id": r["id"]} for r in records]


def unpaired_rows(records: list[dict]) -> list[dict]:
    """KTO rows ``prompt``, ``completion``, ``label``: a preference pair gives a desirable and an undesirable
    row; a ``prompt`` record with ``completion`` and ``label`` (ingest's unpaired form) gives one."""
    rows = []
    for r in records:
        if "chosen" in r:
            rows.append({"prompt": _messages(r["prompt"]), "completion": _messages(r["chosen"]), "label": True})
            rows.append({"prompt": _messages(r["prompt"]), "completion": _messages(r["rejected"]), "label": False})
        elif "completion" in r and "label" in r:
            rows.append(
                {"prompt": _messages(r["prompt"]), "completion": _messages(r["completion"]), "label": bool(r["label"])}
            )
        else:
            raise InputError(
                f"kto: record {r.get('id')} is a prompt without 'completion' and 'label'",
                hint="pass preference sets or unpaired sets (prompt, completion, label)",
            )
    return rows


# Per-step values worth surfacing in the summary and manifest metrics (TRL's log names).
SUMMARY_KEYS = (
    "reward",
    "reward_std",
    "kl",
    "entropy",
    "clip_ratio/region_mean",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "loss",
)


def last_logged(history: list[dict]) -> dict[str, float]:
    """The last logged value of each ``SUMMARY_KEYS`` entry, as ``last_<key>``."""
    out: dict[str, float] = {}
    for entry in history:
        for k in SUMMARY_KEYS:
            if k in entry:
                out[f"last_{k}"] = entry[k]
    return out


# --- the TRL runs --------------------------------------------------------------------------------


def _trl_config(algo: str, p, output_dir: Path, has_eval: bool):
    import trl

    kw = trainer_kwargs(p, output_dir, has_eval=has_eval)
    common = dict(disable_dropout=True, model_init_kwargs=None)
    if algo in ("grpo", "rloo"):
        kw["remove_unused_columns"] = False  # keep the records' columns: reward functions receive them
        online = dict(
            num_generations=p.num_generations,
            max_completion_length=p.max_completion_length,
            steps_per_generation=p.steps_per_generation,
            generation_batch_size=None,
            num_iterations=p.num_iterations,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=p.top_k,
            min_p=None,
            repetition_penalty=p.repetition_penalty,
            beta=p.beta,
            epsilon=p.epsilon,
            reward_weights=p.reward_weights,
            mask_truncated_completions=p.mask_truncated_completions,
            use_vllm=False,
            log_completions=False,
            shuffle_dataset=True,
            pad_to_multiple_of=None,
            sync_ref_model=False,
            generation_kwargs=None,
        )
        if algo == "grpo":
            return trl.GRPOConfig(**kw, **common, **online, loss_type=p.loss_type, scale_rewards=p.scale_rewards)
        return trl.RLOOConfig(**kw, **common, **online, normalize_advantages=p.normalize_advantages)
    offline = dict(
        max_length=p.max_length,
        pad_to_multiple_of=None,
        beta=p.beta,
        dataset_num_proc=None,
        precompute_ref_log_probs=p.precompute_ref_log_probs,
        sync_ref_model=False,
        activation_offloading=False,
    )
    if algo == "dpo":
        return trl.DPOConfig(
            **kw,
            **common,
            **offline,
            loss_type=list(p.loss_type),
            loss_weights=p.loss_weights,
            label_smoothing=p.label_smoothing,
            truncation_mode=p.truncation_mode,
            use_weighting=p.use_weighting,
            padding_free=False,
            ld_alpha=None,
        )
    return trl.KTOConfig(
        **kw,
        **common,
        **offline,
        loss_type=p.loss_type,
        desirable_weight=p.desirable_weight,
        undesirable_weight=p.undesirable_weight,
    )


def run_rlhf(
    inputs: list[str | Path],
    *,
    algo: str,
    policy: str,
    out: str | Path,
    params: Any,
    reward_model: str | None = None,
    reward_fns: list[str] = (),
    ref_model: str | None = None,
    force: bool = False,
    resume: bool = False,
    callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train ``policy`` with ``algo`` on the shard sets ``inputs``; write a HF model dir plus manifest at ``out``.

    Returns:
        ``{"path", "metrics", "manifest"}``.
    """
    if algo == "ppo":
        from instructkit.train.ppo.run import run_ppo

        return run_ppo(
            inputs,
            policy=policy,
            out=out,
            cfg=params,
            reward_model=reward_model,
            reward_fns=reward_fns,
            ref_model=ref_model,
            force=force,
            resume=resume,
        )
    started = time.time()
    online = algo in ("grpo", "rloo")
    if online and not (reward_model or reward_fns):
        raise ConfigError(f"{algo} needs a reward: --reward-model RM and/or --reward-fn module:function")
    if not online and (reward_model or reward_fns):
        raise ConfigError(f"{algo} learns from preferences, not rewards: drop --reward-model/--reward-fn")
    if online and ref_model:
        raise ConfigError(f"{algo}: TRL's reference is the initial policy; --ref-model is only for ppo, dpo and kto")
    kinds = (
        {"prompt", "sft", "preference"} if online else ({"preference"} if algo == "dpo" else {"preference", "prompt"})
    )
    records, sets = load_records(inputs, kinds, stage=f"rlhf --algo {algo}")
    outdir = OutputDir(out, force=force, resume=resume)
    quiet_libraries()
    seed_everything(params.seed)
    tokenizer = load_tokenizer(policy, trust_remote_code=params.trust_remote_code, chat_template=params.chat_template)
    if not tokenizer.chat_template:
        raise ConfigError(f"{policy} has no chat template", hint="pass --set chat_template=chatml")
    train_recs, eval_recs = split_records(records, params.eval_split, params.seed)

    import trl
    from datasets import Dataset

    from instructkit.train.data import preference_rows

    if online:
        train_ds = Dataset.from_list(prompt_rows(train_recs))
        eval_ds = Dataset.from_list(prompt_rows(eval_recs)) if eval_recs else None
    elif algo == "dpo":
        train_ds = Dataset.from_list(preference_rows(train_recs))
        eval_ds = Dataset.from_list(preference_rows(eval_recs)) if eval_recs else None
    else:
        train_ds = Dataset.from_list(unpaired_rows(train_recs))
        eval_ds = Dataset.from_list(unpaired_rows(eval_recs)) if eval_recs else None
    model = load_causal_lm(policy, trust_remote_code=params.trust_remote_code, dtype=params.dtype)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    outdir.start()
    try:
        try:
            config = _trl_config(algo, params, outdir.checkpoints, has_eval=eval_ds is not None)
        except ValueError as exc:  # TRL's own consistency checks (e.g. batch size vs num_generations)
            raise ConfigError(f"{algo}: {str(exc).splitlines()[0]}", hint="fix the value with --set") from None
        common = dict(
            model=model,
            args=config,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config(params, "CAUSAL_LM"),
            callbacks=list(callbacks),
        )
        if online:
            from instructkit.train.ppo.rewards import load_reward_fn

            funcs, procs = [], []
            if reward_model:
                rm_tok = load_tokenizer(reward_model, trust_remote_code=params.trust_remote_code)
                rm = load_sequence_classifier(reward_model, trust_remote_code=params.trust_remote_code)
                rm.config.pad_token_id = rm_tok.pad_token_id
                funcs.append(rm)
                procs.append(rm_tok)
            for spec in reward_fns:
                funcs.append(load_reward_fn(spec))
                procs.append(None)
            cls = trl.GRPOTrainer if algo == "grpo" else trl.RLOOTrainer
            trainer = cls(reward_funcs=funcs, reward_processing_classes=procs, **common)
        else:
            ref = (
                load_causal_lm(ref_model, trust_remote_code=params.trust_remote_code, dtype=params.dtype)
                if ref_model
                else None
            )
            cls = trl.DPOTrainer if algo == "dpo" else trl.KTOTrainer
            trainer = cls(ref_model=ref, **common)
        use_our_progress(trainer, description=algo)
        from instructkit.train.ppo.evaluate import preference_margins

        pairs_eval = algo in ("dpo", "kto") and eval_recs and all("chosen" in r for r in eval_recs)
        if pairs_eval and not outdir.resume:
            start = preference_margins(model, model, tokenizer, eval_recs, beta=params.beta)
            metrics_start = {"heldout_start_logp_margin": start["logp_margin"]}
        else:
            metrics_start = {}
        result = trainer.train(resume_from_checkpoint=outdir.resume_from())
        metrics = {**dict(result.metrics), **metrics_start}
        metrics["global_step"] = trainer.state.global_step
        metrics.update(last_logged(trainer.state.log_history))
        final = trainer.model
        if params.lora and params.merge_lora:
            final = final.merge_and_unload()
        if pairs_eval:
            ref_for_eval = trainer.ref_model if trainer.ref_model is not None else load_causal_lm(policy)
            metrics.update(
                {
                    f"heldout_{k}": v
                    for k, v in preference_margins(final, ref_for_eval, tokenizer, eval_recs, beta=params.beta).items()
                }
            )
        final.save_pretrained(outdir.model, safe_serialization=True)
        tokenizer.save_pretrained(outdir.model)
        write_model_manifest(
            outdir.model,
            stage=f"rlhf-{algo}",
            inputs=sets,
            metrics=metrics,
            started=started,
            config={"params": params, "trainer": trainer_config_dict(config)},
            log_history=trainer.state.log_history,
            extra={
                "algo": algo,
                "policy": str(policy),
                "reward_model": reward_model,
                "reward_fns": list(reward_fns),
                "ref_model": ref_model or "policy (TRL)",
                "device": device_info(),
                "resumed_from": outdir.resume_from(),
                "data": {"train_records": len(train_recs), "eval_records": len(eval_recs), "train_rows": len(train_ds)},
            },
        )
        path = outdir.commit(keep_checkpoints=params.keep_checkpoints)
    except BaseException:
        outdir.abandon()
        raise
    return {"path": path, "metrics": metrics, "manifest": path / "manifest.json"}
