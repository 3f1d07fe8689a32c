"""Model-based rules (optional): perplexity under a causal LM, a reward-model score, and IFD.

- ``perplexity``: exp of the mean token loss of the response alone (``on: response``) or of the whole
  conversation (``on: conversation``) under a local causal LM; Wenzek et al. 2020 (CCNet) filtered web
  text by perplexity under a model of clean text. High perplexity flags garbled text, very low flags
  boilerplate.
- ``reward``: the score of a sequence-classification reward model (a ``reward`` stage output) on the
  prompt and response; drops responses below ``min_score``.
- ``ifd``: instruction-following difficulty, Li et al. 2024 ("From Quantity to Quality", Cherry LLM):
  ``loss(answer | question) / loss(answer)``. Near or above 1 the question does not help predict the
  answer (misaligned pair); the paper drops IFD > 1 and prefers high IFD below it.

Texts are rendered with the tokenizer's chat template when it has one (``template: true``), else as
``prompt + "\\n\\n" + answer``. torch and transformers are imported when a rule is built, never at
module import, and each worker process loads its own copy of the model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Literal

from instructkit.errors import ConfigError
from instructkit.filters._text import detail
from instructkit.records import prompt_of, response_of, text_of
from instructkit.stage import Drop, Filter, register


def _load(path: str, kind: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    cls = AutoModelForCausalLM if kind == "causal" else AutoModelForSequenceClassification
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = cls.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load model {path!r}: {exc}",
            hint="give a local model directory (save_pretrained), e.g. from instructkit model tiny",
        ) from None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if getattr(model.config, "pad_token_id", None) is None and tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
    return tok, model.to(device).eval(), device


@dataclasses.dataclass(kw_only=True)
class _ModelParams:
    model: str = field(default="", metadata={"help": "Local model directory (save_pretrained) or hub id."})
    max_length: int = field(default=1024, metadata={"help": "Tokens per text; longer prompts are cut on the left."})
    template: bool = field(default=True, metadata={"help": "Render with the tokenizer's chat template if it has one."})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, or auto (cuda when available)."})


class _ModelRule(Filter):
    kind = "causal"

    def __init__(self, params: _ModelParams):
        super().__init__(params)
        self.tok, self.model, self.device = _load(params.model, self.kind, params.device)

    @staticmethod
    def validate(params: _ModelParams) -> None:
        if not params.model:
            raise ConfigError(
                "a model-based rule needs 'model' (a model directory)",
                hint="for example: ifd: {model: out/tiny, max_ifd: 1.0}",
            )

    def _prefix(self, record: dict) -> str:
        msgs = prompt_of(record)
        if self.params.template and getattr(self.tok, "chat_template", None):
            return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return text_of(msgs) + "\n\n"

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def answer_loss(self, prefix: str | None, answer: str) -> float:
        """Mean token loss of ``answer`` after ``prefix`` (None: after the BOS token only, if any)."""
        import torch

        bos = [self.tok.bos_token_id] if self.tok.bos_token_id is not None else []
        a_ids = self._ids(answer)[: self.params.max_length - 1]
        p_ids = bos + (self._ids(prefix) if prefix else [])
        p_ids = p_ids[-max(1, self.params.max_length - len(a_ids)) :]
        if not p_ids:  # no BOS and no prefix: the first answer token cannot be predicted
            p_ids, a_ids = a_ids[:1], a_ids[1:]
        if not a_ids:
            return float("nan")
        ids = torch.tensor([p_ids + a_ids], device=self.device)
        labels = ids.clone()
        labels[0, : len(p_ids)] = -100
        with torch.no_grad():
            return float(self.model(input_ids=ids, labels=labels).loss)


@dataclasses.dataclass(kw_only=True)
class PerplexityParams(_ModelParams):
    on: Literal["response", "conversation"] = field(
        default="response",
        metadata={"help": "response: the answer alone; conversation: the whole rendered conversation."},
    )
    max_perplexity: float | None = field(default=None, metadata={"help": "Drop above this perplexity; null: no bound."})
    min_perplexity: float | None = field(default=None, metadata={"help": "Drop below this perplexity; null: no bound."})


@register("filter", "perplexity")
class PerplexityFilter(_ModelRule):
    """Drops responses whose perplexity under a local causal LM is out of bounds (optional, needs a model)."""

    Params = PerplexityParams

    def score(self, record: dict) -> float:
        if self.params.on == "response":
            return math.exp(self.answer_loss(None, response_of(record)))
        return math.exp(self.answer_loss(None, self._prefix(record) + response_of(record)))

    def check(self, record: dict) -> Drop | None:
        p = self.params
        ppl = self.score(record)
        if math.isnan(ppl):
            return None
        if p.max_perplexity is not None and ppl > p.max_perplexity:
            return Drop("perplexity.max", detail("perplexity", round(ppl, 3), p.max_perplexity, model=p.model))
        if p.min_perplexity is not None and ppl < p.min_perplexity:
            return Drop("perplexity.min", detail("perplexity", round(ppl, 3), p.min_perplexity, model=p.model))
        return None


@dataclasses.dataclass(kw_only=True)
class RewardParams(_ModelParams):
    min_score: float | None = field(default=None, metadata={"help": "Drop responses scoring below this; null: none."})


@register("filter", "reward")
class RewardFilter(_ModelRule):
    """Drops responses a reward model (sequence classification, e.g. a reward stage output) scores too low."""

    Params = RewardParams
    kind = "classifier"

    def score(self, record: dict) -> float:
        import torch

        msgs = prompt_of(record) + [{"role": "assistant", "content": response_of(record)}]
        if self.params.template and getattr(self.tok, "chat_template", None):
            text = self.tok.apply_chat_template(msgs, tokenize=False)
        else:
            text = text_of(msgs[:-1]) + "\n\n" + msgs[-1]["content"]
        ids = self._ids(text)[-self.params.max_length :]
        with torch.no_grad():
            logits = self.model(input_ids=torch.tensor([ids], device=self.device)).logits[0]
        # A reward model has one label (its score); with more, the last label's logit is taken.
        return float(logits[0] if logits.numel() == 1 else logits[-1])

    def check(self, record: dict) -> Drop | None:
        p = self.params
        if p.min_score is None:
            return None
        s = self.score(record)
        if s < p.min_score:
            return Drop("reward.min_score", detail("reward", round(s, 4), p.min_score, model=p.model))
        return None


@dataclasses.dataclass(kw_only=True)
class IFDParams(_ModelParams):
    max_ifd: float | None = field(
        default=1.0,
        metadata={"help": "Drop when loss(answer|question)/loss(answer) exceeds this (Cherry LLM: 1.0); null: none."},
    )
    min_ifd: float | None = field(
        default=None,
        metadata={"help": "Drop when IFD is below this (too easy: the question gives the answer away); null: none."},
    )


@register("filter", "ifd")
class IFDFilter(_ModelRule):
    """Instruction-following difficulty, loss(answer|question)/loss(answer) (Li et al. 2024) (needs a model)."""

    Params = IFDParams

    def score(self, record: dict) -> float:
        answer = response_of(record)
        conditioned = self.answer_loss(self._prefix(record), answer)
        direct = self.answer_loss(None, answer)
        return conditioned / direct if direct > 0 else float("nan")

    def check(self, record: dict) -> Drop | None:
        p = self.params
        ifd = self.score(record)
        if math.isnan(ifd):
            return None
        if p.max_ifd is not None and ifd > p.max_ifd:
            return Drop("ifd.max", detail("ifd", round(ifd, 4), p.max_ifd, model=p.model))
        if p.min_ifd is not None and ifd < p.min_ifd:
            return Drop("ifd.min", detail("ifd", round(ifd, 4), p.min_ifd, model=p.model))
        return None
