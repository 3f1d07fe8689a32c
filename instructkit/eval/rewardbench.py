"""Reward-model scores and pairwise accuracy on preference sets.

A reward model here is a sequence-classification model with one output (``num_labels=1``), the
kind ``instructkit reward`` and TRL's RewardTrainer write: the score of a conversation is the logit
at its last token, rendered with the reward model's chat template.

Pairwise accuracy counts a preference pair as correct only when the chosen response scores
*strictly* higher than the rejected one, as RewardBench does (Lambert et al. 2024, "RewardBench:
Evaluating Reward Models for Language Modeling"): a tie is wrong, so a constant model scores 0,
not 0.5.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from instructkit.errors import ConfigError
from instructkit.records import prompt_of


def check_reward_model(model_dir: str | Path, *, trust_remote_code: bool = False) -> None:
    """Raise unless ``model_dir``'s config declares exactly one output (reads config.json only).

    Checked before loading: loading with ``num_labels=1`` would silently re-initialise another head.
    """
    from transformers import AutoConfig

    from instructkit.errors import InputError

    try:
        labels = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code).num_labels
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read the reward model's config: {str(exc).splitlines()[0]}", file=str(model_dir)
        ) from None
    if labels != 1:
        raise ConfigError(
            f"a reward model has one output, this one has {labels}",
            file=str(model_dir),
            hint="pass a model written by: instructkit reward (a causal LM is not a reward model)",
        )


class RewardScorer:
    """Scores conversations with a reward model directory (safetensors only).

    Args:
        model_dir: A sequence-classification model with one label (a ``reward`` stage output).
        batch_size: Conversations per forward pass.
        trust_remote_code: Allow the model's own code.
        device: Default: cuda when available.
    """

    def __init__(
        self, model_dir: str | Path, *, batch_size: int = 8, trust_remote_code: bool = False, device: str | None = None
    ):
        from instructkit.generation import pick_device
        from instructkit.train.common import load_sequence_classifier, load_tokenizer

        self.model_dir = str(model_dir)
        self.batch_size = batch_size
        check_reward_model(model_dir, trust_remote_code=trust_remote_code)
        self.tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
        self.model = load_sequence_classifier(model_dir, trust_remote_code=trust_remote_code, dtype="float32")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:  # needed to find each row's last real token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.tokenizer.padding_side = "right"
        self.model.to(pick_device(device)).eval()

    def _text(self, conversation: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(conversation, tokenize=False)
        return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in conversation)

    def score(self, conversations: list[list[dict]], *, advance: Callable[[int], None] | None = None) -> list[float]:
        """One scalar reward per conversation (prompt plus assistant reply).

        Identical conversations are scored once, so they get exactly equal scores: padding in a
        batch changes float results in the last digits, which would break exact ties (a tie is
        wrong for RewardBench accuracy and half a win for win rates).

        ``advance(n)`` (a progress bar's) is called after each batch with the number of
        conversations it scored, duplicates included, so the calls add up to ``len(conversations)``.
        """
        import torch

        max_len = getattr(self.model.config, "max_position_embeddings", None)
        texts = [self._text(c) for c in conversations]
        copies = Counter(texts)
        unique = list(copies)
        found: dict[str, float] = {}
        for start in range(0, len(unique), self.batch_size):
            batch = unique[start : start + self.batch_size]
            enc = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
                truncation=max_len is not None,
                max_length=max_len,
            ).to(self.model.device)
            with torch.no_grad():
                logits = self.model(**enc).logits
            found.update((t, float(v)) for t, v in zip(batch, logits[:, 0], strict=True))
            if advance is not None:
                advance(sum(copies[t] for t in batch))
        return [found[t] for t in texts]

    def score_replies(
        self, prompts: list[list[dict]], replies: list[str], *, advance: Callable[[int], None] | None = None
    ) -> list[float]:
        """Rewards of ``replies`` to ``prompts`` (``advance``: see ``score``)."""
        return self.score(
            [p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, replies, strict=True)], advance=advance
        )


def pairwise_accuracy(chosen: list[float], rejected: list[float]) -> dict:
    """RewardBench accuracy: the fraction of pairs with ``chosen > rejected`` strictly (ties are wrong)."""
    if len(chosen) != len(rejected):
        raise ConfigError(f"{len(chosen)} chosen scores but {len(rejected)} rejected scores")
    n = len(chosen)
    correct = sum(c > r for c, r in zip(chosen, rejected, strict=True))
    ties = sum(c == r for c, r in zip(chosen, rejected, strict=True))
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    return {
        "n": n,
        "accuracy": correct / n if n else None,
        "correct": correct,
        "ties": ties,
        "mean_margin": sum(margins) / n if n else None,
    }


def preference_accuracy(
    scorer: RewardScorer, records: list[dict], *, advance: Callable[[int], None] | None = None
) -> dict:
    """Score the chosen and rejected side of each ``preference`` record; RewardBench accuracy.

    ``advance``: see ``RewardScorer.score`` (the calls add up to ``2 * len(records)``).
    """
    prompts = [prompt_of(r) for r in records]
    # One call for both sides: identical chosen and rejected conversations get the same score.
    both = scorer.score(
        [p + r["chosen"] for p, r in zip(prompts, records, strict=True)]
        + [p + r["rejected"] for p, r in zip(prompts, records, strict=True)],
        advance=advance,
    )
    chosen, rejected = both[: len(records)], both[len(records) :]
    result = pairwise_accuracy(chosen, rejected)
    result["chosen_scores"], result["rejected_scores"] = chosen, rejected
    return result
