"""Sequence scores for PPO: a reward model and/or Python reward functions, and running normalisation.

A reward function has the signature of TRL's GRPO/RLOO reward functions, so one function serves
every online algorithm here::

    def f(prompts, completions, **kwargs) -> list[float | None]

``prompts`` are message lists and ``completions`` are ``[{"role": "assistant", "content": text}]``
lists (TRL's conversational form); ``kwargs`` holds the records' other columns (``id``, ``meta``...)
plus ``completion_ids``. ``None`` means "no opinion" and counts as 0 in the weighted sum.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from instructkit.errors import ConfigError


def load_reward_fn(spec: str) -> Callable:
    """``package.module:function`` or ``path/to/file.py:function`` -> the callable."""
    if ":" not in spec:
        raise ConfigError(f"--reward-fn {spec!r} is not module:function", hint="e.g. --reward-fn my_rewards:brevity")
    module_name, func_name = spec.rsplit(":", 1)
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if not path.is_file():
                raise ConfigError(f"reward function file not found: {module_name}", file=module_name)
            name = f"instructkit_reward_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module  # picklable for dataloader workers
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import {module_name!r} for --reward-fn: {exc}",
            hint="put the module on PYTHONPATH or pass a path like rewards.py:my_fn",
        ) from None
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ConfigError(f"{module_name!r} has no function {func_name!r}", hint=f"--reward-fn {spec}")
    return fn


class RewardModelScorer:
    """Scores prompt + completion with a sequence-classification model (a ``reward`` stage output),
    formatted exactly as TRL's RewardTrainer and GRPOTrainer format them: the chat template applied to
    the prompt messages plus the assistant reply."""

    def __init__(
        self, path: str, *, device, dtype=torch.float32, trust_remote_code: bool = False, batch_size: int = 16
    ):
        from instructkit.train.common import load_sequence_classifier, load_tokenizer

        self.__name__ = f"reward_model:{Path(path).name}"
        arch = _architectures(path)
        if arch is not None and not any("SequenceClassification" in a for a in arch):
            # A causal LM dir would load with a freshly initialised (random) score head: silent garbage.
            raise ConfigError(
                f"{path} is not a reward model (architectures: {', '.join(arch)})",
                hint="pass the output of `instructkit reward`",
            )
        self.tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        self.model = load_sequence_classifier(path, trust_remote_code=trust_remote_code, dtype=dtype).to(device).eval()
        if self.model.config.num_labels != 1:
            raise ConfigError(
                f"reward model {path!r} has num_labels={self.model.config.num_labels}, expected 1",
                hint="train it with `instructkit reward`",
            )
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, prompts, completions, **_) -> list[float]:
        texts = [
            self.tokenizer.apply_chat_template(p + c, tokenize=False) for p, c in zip(prompts, completions, strict=True)
        ]
        scores: list[float] = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[i : i + self.batch_size],
                return_tensors="pt",
                padding=True,
                padding_side="right",
                add_special_tokens=False,
            ).to(self.device)
            scores.extend(self.model(**enc).logits[:, 0].float().tolist())
        return scores


def _architectures(path: str) -> list[str] | None:
    """``architectures`` from a local model dir's config.json (None for hub ids or when absent)."""
    import json

    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return None
    return json.loads(cfg.read_text("utf-8")).get("architectures") or None


def score(
    sources: list[Callable], weights: list[float] | None, prompts: list[list[dict]], completions: list[str], **columns
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of every source's scores, ``[B]``, and each source's mean for logging."""
    if weights is not None and len(weights) != len(sources):
        raise ConfigError(f"reward_weights has {len(weights)} values for {len(sources)} reward sources")
    wrapped = [[{"role": "assistant", "content": c}] for c in completions]
    total = torch.zeros(len(completions))
    means: dict[str, float] = {}
    for i, fn in enumerate(sources):
        values = fn(prompts=prompts, completions=wrapped, **columns)
        if len(values) != len(completions):
            raise ConfigError(
                f"reward source {getattr(fn, '__name__', i)!r} returned {len(values)} scores "
                f"for {len(completions)} completions"
            )
        vals = torch.tensor([math.nan if v is None else float(v) for v in values])
        means[getattr(fn, "__name__", f"fn{i}")] = float(torch.nanmean(vals)) if not vals.isnan().all() else 0.0
        total += (weights[i] if weights else 1.0) * torch.nan_to_num(vals, nan=0.0)
    return total, means


class RunningMoments:
    """Running mean and std of scores over all rollouts so far (Chan et al. parallel update), used to
    normalise rewards so the KL coefficient and value scale mean the same thing across reward sources."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 0

    def update(self, x: torch.Tensor) -> None:
        n = x.numel()
        if n == 0:
            return
        b_mean, b_var = float(x.mean()), float(x.var(unbiased=False))
        total = self.count + n
        delta = b_mean - self.mean
        m2 = self.var * self.count + b_var * n + delta**2 * self.count * n / total
        self.mean += delta * n / total
        self.var = m2 / total
        self.count = total

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / math.sqrt(self.var + 1e-8)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]
