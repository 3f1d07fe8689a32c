"""What the TRL-backed algorithms share: one trainer run, and the online / offline families.

- online (``grpo``, ``rloo``): prompts in, completions sampled and scored by a reward model and/or reward
  functions (TRL's signature); TRL's reference is the initial policy.
- offline (``dpo``, ``kto``): preferences in; the reference is a frozen copy of the policy (or
  ``--ref-model``), or the base with adapters disabled under LoRA.

Every knob that changes results is a Params field passed explicitly to the TRL config (its defaults
move inside 1.x); the manifest records our params and TRL's resolved config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from instructkit.errors import ConfigError
from instructkit.train.algos.base import REWARD_REFUSED, REWARD_REQUIRED, Algorithm
from instructkit.train.common import (
    load_causal_lm,
    load_sequence_classifier,
    load_tokenizer,
    peft_config,
    trainer_config_dict,
    trainer_kwargs,
)
from instructkit.train.params import HFTrainerParams
from instructkit.train.rlhf import RLHFParams
from instructkit.train.runner import Run, Trained, fit

# TRL's per-step log names whose last value is kept in the metrics as ``last_<name>``.
LAST_LOGGED = (
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


def _h(text: str) -> dict:
    return {"help": text}


def last_logged(history: list[dict]) -> dict[str, float]:
    """The last logged value of each ``LAST_LOGGED`` entry, as ``last_<key>``."""
    out: dict[str, float] = {}
    for entry in history:
        for k in LAST_LOGGED:
            if k in entry:
                out[f"last_{k}"] = entry[k]
    return out


def messages(msgs: list[dict]) -> list[dict]:
    from instructkit.train.checks import training_messages

    return training_messages(msgs)


class TRLAlgorithm(Algorithm):
    """One run of a TRL trainer: rows -> ``trl.<config_name>`` -> ``trl.<trainer_name>`` -> save."""

    config_name: ClassVar[str]
    trainer_name: ClassVar[str]

    def rows(self, records: list[dict]) -> list[dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def config_kwargs(self, p: Any) -> dict[str, Any]:
        """The algorithm's keys of its TRL config (they override the shared ones)."""
        return {}

    def trainer_kwargs(self, run: Run) -> dict[str, Any]:
        """More keyword arguments of the TRL trainer (reward functions, reference model)."""
        return {}

    def before_train(self, run: Run, model: Any) -> dict[str, Any]:
        return {}

    def after_train(self, run: Run, trainer: Any, final: Any) -> dict[str, Any]:
        return {}

    def prepare(self, run: Run) -> None:
        self.train_rows = self.rows(run.train)
        self.eval_rows = self.rows(run.eval) if run.eval else None
        run.data = {"train_records": len(run.train), "eval_records": len(run.eval), "train_rows": len(self.train_rows)}

    def train(self, run: Run) -> Trained:
        import trl
        from datasets import Dataset

        p, tokenizer = run.params, run.tokenizer
        model = load_causal_lm(run.model, trust_remote_code=p.trust_remote_code, dtype=p.dtype)
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        kw = trainer_kwargs(p, run.outdir.checkpoints, has_eval=self.eval_rows is not None)
        kw.update(disable_dropout=True, model_init_kwargs=None, **self.config_kwargs(p))
        try:
            config = getattr(trl, self.config_name)(**kw)
        except ValueError as exc:  # TRL's own consistency checks (e.g. batch size vs num_generations)
            raise ConfigError(f"{self.name}: {str(exc).splitlines()[0]}", hint="fix the value with --set") from None
        trainer = getattr(trl, self.trainer_name)(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(self.train_rows),
            eval_dataset=Dataset.from_list(self.eval_rows) if self.eval_rows is not None else None,
            processing_class=tokenizer,
            peft_config=peft_config(p, "CAUSAL_LM"),
            callbacks=run.callbacks,
            **self.trainer_kwargs(run),
        )
        start = self.before_train(run, model)
        metrics = {**fit(trainer, run, description=self.name), **start}
        metrics.update(last_logged(trainer.state.log_history))
        final = trainer.model
        if p.lora and p.merge_lora:
            final = final.merge_and_unload()
        metrics.update(self.after_train(run, trainer, final))
        final.save_pretrained(run.outdir.model, safe_serialization=True)
        tokenizer.save_pretrained(run.outdir.model)
        return Trained(metrics, trainer_config_dict(config), trainer.state.log_history)


# --- online: GRPO, RLOO ----------------------------------------------------------------------


def check_vllm() -> None:
    """Refuse ``use_vllm`` where vLLM cannot run: not installed, or no CUDA GPU (vLLM has no CPU path in TRL)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "use_vllm needs vLLM, which is not installed",
            hint="pip install vllm (a CUDA build matching your torch) on a GPU machine, or drop use_vllm",
        )
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("use_vllm needs a CUDA GPU; none is visible here", hint="drop use_vllm on this machine")


@dataclass(kw_only=True)
class OnlineParams(RLHFParams, HFTrainerParams):
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
    lora_dropout: float = field(default=0.0, metadata=_h("LoRA dropout."))
    use_vllm: bool = field(
        default=False,
        metadata=_h("Generate completions with vLLM (a CUDA GPU and `pip install vllm`; refused otherwise)."),
    )
    vllm_mode: str = field(
        default="colocate",
        metadata=_h("colocate (vLLM in the training process, sharing the GPU) or server (a running `trl vllm-serve`)."),
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata=_h("Share of GPU memory vLLM may take in colocate mode.")
    )

    def __post_init__(self) -> None:
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError(f"vllm_mode must be colocate or server, got {self.vllm_mode!r}")
        super().__post_init__()


def prompt_rows(records: list[dict]) -> list[dict]:
    """Prompt-only rows for GRPO/RLOO: ``prompt`` (messages) and ``id`` (passed to reward functions)."""
    from instructkit.records import prompt_of

    return [{"prompt": messages(prompt_of(r)), "id": r["id"]} for r in records]


class OnlineAlgorithm(TRLAlgorithm):
    """Sample completions of the prompts, score them with the reward sources, update the policy."""

    kinds = frozenset({"prompt", "sft", "preference"})
    reward = REWARD_REQUIRED
    summary_keys = ("global_step", "last_reward", "last_kl", "last_entropy", "train_loss")

    def rows(self, records: list[dict]) -> list[dict]:
        return prompt_rows(records)

    def check(self, p: OnlineParams) -> None:
        super().check(p)
        if p.use_vllm:
            check_vllm()

    def config_kwargs(self, p: OnlineParams) -> dict[str, Any]:
        return dict(
            remove_unused_columns=False,  # keep the records' columns: reward functions receive them
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
            use_vllm=p.use_vllm,
            vllm_mode=p.vllm_mode,
            vllm_gpu_memory_utilization=p.vllm_gpu_memory_utilization,
            log_completions=False,
            shuffle_dataset=True,
            pad_to_multiple_of=None,
            sync_ref_model=False,
            generation_kwargs=None,
        )

    def trainer_kwargs(self, run: Run) -> dict[str, Any]:
        from instructkit.train.ppo.rewards import load_reward_fn

        p = run.params
        funcs, procs = [], []
        if p.reward_model:
            rm_tok = load_tokenizer(p.reward_model, trust_remote_code=p.trust_remote_code)
            rm = load_sequence_classifier(p.reward_model, trust_remote_code=p.trust_remote_code)
            rm.config.pad_token_id = rm_tok.pad_token_id
            funcs.append(rm)
            procs.append(rm_tok)
        for spec in p.reward_fn:
            funcs.append(load_reward_fn(spec))
            procs.append(None)
        return {"reward_funcs": funcs, "reward_processing_classes": procs}


# --- offline: DPO, KTO -----------------------------------------------------------------------


@dataclass(kw_only=True)
class OfflineParams(RLHFParams, HFTrainerParams):
    """Shared knobs of DPO and KTO (TRL names)."""

    learning_rate: float = field(default=1e-6, metadata=_h("Peak learning rate (AdamW)."))
    logging_steps: int = field(default=1, metadata=_h("Log every N optimizer steps (1: every step)."))
    beta: float = field(default=0.1, metadata=_h("Deviation from the reference (tau for ipo)."))
    precompute_ref_log_probs: bool = field(default=False, metadata=_h("Score the data with the reference first."))


class OfflineAlgorithm(TRLAlgorithm):
    """Learn from preferences against a frozen reference; held-out log-prob and reward margins."""

    reward = REWARD_REFUSED
    accepts_ref_model = True
    summary_keys = (
        "global_step",
        "last_rewards/margins",
        "last_rewards/accuracies",
        "train_loss",
        "heldout_start_logp_margin",
        "heldout_logp_margin",
        "heldout_reward_margin",
        "heldout_reward_accuracy",
    )

    def config_kwargs(self, p: OfflineParams) -> dict[str, Any]:
        return dict(
            max_length=p.max_length,
            pad_to_multiple_of=None,
            beta=p.beta,
            dataset_num_proc=None,
            precompute_ref_log_probs=p.precompute_ref_log_probs,
            sync_ref_model=False,
            activation_offloading=False,
        )

    def trainer_kwargs(self, run: Run) -> dict[str, Any]:
        p = run.params
        ref = None
        if p.ref_model:
            ref = load_causal_lm(p.ref_model, trust_remote_code=p.trust_remote_code, dtype=p.dtype)
        return {"ref_model": ref}

    def prepare(self, run: Run) -> None:
        from instructkit.train.data import drop_identical_pairs

        # chosen == rejected carries no preference (DPO's loss there is log 2 whatever the model does)
        run.train, identical = drop_identical_pairs(run.train)
        run.eval, identical_eval = drop_identical_pairs(run.eval)
        super().prepare(run)
        run.data["dropped"] = {"identical_pair": identical + identical_eval}

    def _pairs_eval(self, run: Run) -> bool:
        return bool(run.eval) and all("chosen" in r for r in run.eval)

    def before_train(self, run: Run, model: Any) -> dict[str, Any]:
        from instructkit.train.ppo.evaluate import preference_margins

        if not self._pairs_eval(run) or run.outdir.resume:
            return {}
        start = preference_margins(model, model, run.tokenizer, run.eval, beta=run.params.beta)
        return {"heldout_start_logp_margin": start["logp_margin"]}

    def after_train(self, run: Run, trainer: Any, final: Any) -> dict[str, Any]:
        from instructkit.train.ppo.evaluate import preference_margins

        if not self._pairs_eval(run):
            return {}
        ref = trainer.ref_model if trainer.ref_model is not None else load_causal_lm(run.model)
        margins = preference_margins(final, ref, run.tokenizer, run.eval, beta=run.params.beta)
        return {f"heldout_{k}": v for k, v in margins.items()}
