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

The one loop hands each rule the records that survived the earlier rules together (``check_batch``);
they are sorted by length and scored ``batch_size`` at a time, right-padded with an attention mask, so
every real token keeps its position and context and the scores equal one-at-a-time ``score`` (float
rounding, under 1e-4). ``check`` scores one record unpadded (the reference).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import field
from typing import Literal

from instructkit.errors import ConfigError
from instructkit.filters._text import detail
from instructkit.records import prompt_of, response_of, text_of
from instructkit.stage import Drop, Filter, register


def _load(path: str, kind: str, device: str):
    """Tokenizer, model on ``device`` in eval mode, and the device name (loaded by instructkit.models)."""
    from instructkit import models
    from instructkit.errors import InputError

    try:
        tok = models.load_tokenizer(path)
        if kind == "causal":
            model = models.load_causal_lm(path, device=device)
        else:  # the score head as saved (a reward model has 1 label; _value reads the last of several)
            model = models.load_sequence_classifier(path, device=device, num_labels=None)
    except InputError as exc:  # the model is named in the filter config: a config problem here
        why = exc.message.removeprefix("cannot load model: ")
        raise ConfigError(f"cannot load model {path!r}: {why}", file=exc.file, hint=exc.hint) from None
    models.sync_pad_token(model, tok)
    return tok, model, str(model.device)


@dataclasses.dataclass(kw_only=True)
class _ModelParams:
    model: str = field(default="", metadata={"help": "Local model directory (save_pretrained) or hub id."})
    max_length: int = field(default=1024, metadata={"help": "Tokens per text; longer prompts are cut on the left."})
    template: bool = field(default=True, metadata={"help": "Render with the tokenizer's chat template if it has one."})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, or auto (cuda when available)."})
    batch_size: int = field(
        default=16,
        metadata={
            "help": "Texts per forward pass (padded); lower it if memory runs out (logits are batch x len x vocab)."
        },
    )


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
        if params.batch_size < 1:
            raise ConfigError(
                f"batch_size must be at least 1, got {params.batch_size}", hint="for example: batch_size: 16"
            )

    def score(self, record: dict) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def scores(self, records: list[dict]) -> list[float]:  # pragma: no cover - interface
        raise NotImplementedError

    def verdict(self, value: float) -> Drop | None:  # pragma: no cover - interface
        raise NotImplementedError

    def check(self, record: dict) -> Drop | None:
        return self.verdict(self.score(record))

    def check_batch(self, records: list[dict]) -> list[Drop | None]:
        return [self.verdict(v) for v in self.scores(records)]

    def _chunks(self, seqs: list[list[int]]):
        """Indices of ``seqs`` sorted by length, ``batch_size`` at a time (little padding per batch)."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), self.params.batch_size):
            yield order[start : start + self.params.batch_size]

    def _padded(self, seqs: list[list[int]]):
        """Right-padded ``input_ids`` and ``attention_mask`` tensors for ``seqs``."""
        import torch

        width = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[row, : len(s)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _prefix(self, record: dict) -> str:
        msgs = prompt_of(record)
        if self.params.template and getattr(self.tok, "chat_template", None):
            return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return text_of(msgs) + "\n\n"

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _pair(self, prefix: str | None, answer: str) -> tuple[list[int], list[int]]:
        """Prefix and answer token ids, cut to ``max_length`` (answer kept, prefix cut on the left)."""
        bos = [self.tok.bos_token_id] if self.tok.bos_token_id is not None else []
        a_ids = self._ids(answer)[: self.params.max_length - 1]
        p_ids = bos + (self._ids(prefix) if prefix else [])
        p_ids = p_ids[-max(1, self.params.max_length - len(a_ids)) :]
        if not p_ids:  # no BOS and no prefix: the first answer token cannot be predicted
            p_ids, a_ids = a_ids[:1], a_ids[1:]
        return p_ids, a_ids

    def answer_loss(self, prefix: str | None, answer: str) -> float:
        """Mean token loss of ``answer`` after ``prefix`` (None: after the BOS token only, if any)."""
        import torch

        p_ids, a_ids = self._pair(prefix, answer)
        if not a_ids:
            return float("nan")
        ids = torch.tensor([p_ids + a_ids], device=self.device)
        labels = ids.clone()
        labels[0, : len(p_ids)] = -100
        with torch.no_grad():
            return float(self.model(input_ids=ids, labels=labels).loss)

    def answer_losses(self, pairs: list[tuple[str | None, str]]) -> list[float]:
        """``[answer_loss(p, a) for p, a in pairs]`` with ``batch_size`` pairs per padded forward pass."""
        import torch

        cut = [self._pair(p, a) for p, a in pairs]
        out = [float("nan")] * len(pairs)
        todo = [i for i, (_, a) in enumerate(cut) if a]
        seqs = [cut[i][0] + cut[i][1] for i in todo]
        # Only positions that predict an answer token need logits (batch x positions x vocab floats is
        # the memory peak: 16 x 1024 x 150k floats = 10 GB); models that take logits_to_keep get only
        # the tail from the earliest answer start on.
        trim = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        for chunk in self._chunks(seqs):
            batch = [seqs[k] for k in chunk]
            starts = [len(cut[todo[k]][0]) for k in chunk]  # index of the first answer token per row
            ids, _ = self._padded(batch)
            width = ids.shape[1]
            keep = width - min(starts) + 1  # logits of positions min(starts)-1 .. width-1
            # No attention mask: attention is causal and padding is on the right, so a real token never
            # sees a pad, and the mask-free causal kernel is faster (SDPA with a mask took 40% of the
            # time on CPU). Pad positions' logits are never read.
            with torch.no_grad():
                kwargs = {"logits_to_keep": keep} if trim else {}
                logits = self.model(input_ids=ids, **kwargs).logits.float()
            offset = width - logits.shape[1]  # logits[:, j] belongs to position offset + j
            for row, (k, start) in enumerate(zip(chunk, starts, strict=True)):
                end = len(batch[row])
                pred = logits[row, start - 1 - offset : end - 1 - offset]  # position t predicts token t+1
                target = ids[row, start:end]
                out[todo[k]] = float(torch.nn.functional.cross_entropy(pred, target))
        return out


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

    def _text(self, record: dict) -> str:
        if self.params.on == "response":
            return response_of(record)
        return self._prefix(record) + response_of(record)

    def score(self, record: dict) -> float:
        return math.exp(self.answer_loss(None, self._text(record)))

    def scores(self, records: list[dict]) -> list[float]:
        return [math.exp(v) for v in self.answer_losses([(None, self._text(r)) for r in records])]

    def verdict(self, ppl: float) -> Drop | None:
        p = self.params
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

    def _seq(self, record: dict) -> list[int]:
        msgs = prompt_of(record) + [{"role": "assistant", "content": response_of(record)}]
        if self.params.template and getattr(self.tok, "chat_template", None):
            text = self.tok.apply_chat_template(msgs, tokenize=False)
        else:
            text = text_of(msgs[:-1]) + "\n\n" + msgs[-1]["content"]
        return self._ids(text)[-self.params.max_length :]

    @staticmethod
    def _value(logits) -> float:
        # A reward model has one label (its score); with more, the last label's logit is taken.
        return float(logits[0] if logits.numel() == 1 else logits[-1])

    def score(self, record: dict) -> float:
        import torch

        with torch.no_grad():
            logits = self.model(input_ids=torch.tensor([self._seq(record)], device=self.device)).logits[0]
        return self._value(logits)

    def scores(self, records: list[dict]) -> list[float]:
        """Scores in padded batches. The model pools the last non-pad token of each row (the same token
        unpadded, as padding is on the right); without a pad token id it cannot, so rows go one by one."""
        import torch

        if getattr(self.model.config, "pad_token_id", None) is None:
            return [self.score(r) for r in records]
        seqs = [self._seq(r) for r in records]
        out = [0.0] * len(seqs)
        for chunk in self._chunks(seqs):
            ids, mask = self._padded([seqs[k] for k in chunk])
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            for row, k in enumerate(chunk):
                out[k] = self._value(logits[row])
        return out

    def check(self, record: dict) -> Drop | None:
        return None if self.params.min_score is None else self.verdict(self.score(record))

    def check_batch(self, records: list[dict]) -> list[Drop | None]:
        if self.params.min_score is None:
            return [None] * len(records)
        return [self.verdict(v) for v in self.scores(records)]

    def verdict(self, s: float) -> Drop | None:
        p = self.params
        if p.min_score is not None and s < p.min_score:
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

    def scores(self, records: list[dict]) -> list[float]:
        answers = [response_of(r) for r in records]
        pairs = [(self._prefix(r), a) for r, a in zip(records, answers, strict=True)] + [(None, a) for a in answers]
        losses = self.answer_losses(pairs)  # one pass over both kinds: sorting by length pads less
        n = len(records)
        return [c / d if d > 0 else float("nan") for c, d in zip(losses[:n], losses[n:], strict=True)]

    def verdict(self, ifd: float) -> Drop | None:
        p = self.params
        if math.isnan(ifd):
            return None
        if p.max_ifd is not None and ifd > p.max_ifd:
            return Drop("ifd.max", detail("ifd", round(ifd, 4), p.max_ifd, model=p.model))
        if p.min_ifd is not None and ifd < p.min_ifd:
            return Drop("ifd.min", detail("ifd", round(ifd, 4), p.min_ifd, model=p.model))
        return None


def uses_models(rules: list[dict]) -> bool:
    """Whether a resolved rule list (``[{NAME: PARAMS}]``) holds a model-based rule: under ``--executor
    ray`` such a chain runs on Ray actors that load the models once each (``executors.rayactors``)."""
    from instructkit.filters import rules as registered

    known = registered()
    return any(isinstance(known.get(name), type) and issubclass(known[name], _ModelRule) for r in rules for name in r)
