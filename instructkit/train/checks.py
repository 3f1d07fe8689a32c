"""Pre-flight checks on the tokenized SFT examples, before any training step runs.

Assistant-only loss fails silently in three common ways, the most reported SFT bugs in TRL and
LLaMA-Factory issue trackers:

1. The chat template has no ``{% generation %}`` markers, so the assistant mask is empty (all labels
   -100, a loss of NaN or 0) or a library quietly swaps in another template.
2. The end-of-turn token sits outside the assistant mask, so the model is never trained to stop:
   the loss looks healthy and the model rambles at inference.
3. The pad token equals the end-of-turn token, so the collator masks the end-of-turn label with the
   padding and, again, the model never learns to stop.

``check_tokenizer`` catches 1 and 3 from the tokenizer alone; ``preflight_sft`` tokenizes every
example exactly as TRL does (``apply_chat_template(..., return_assistant_tokens_mask=True)``) and
checks 1 and 2 per example, then applies the truncation policy for ``max_length``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from instructkit.errors import ConfigError, InputError

_GENERATION = re.compile(r"{%-?\s*generation\s*-?%}")
OVERLONG_POLICIES = ("truncate", "drop", "error")


@dataclass
class Preflight:
    """What the pre-flight pass found: counts for the manifest and the summary table."""

    examples: int = 0
    kept: int = 0
    tokens: int = 0
    assistant_tokens: int = 0
    max_tokens: int = 0
    truncated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "examples": self.examples,
            "kept": self.kept,
            "tokens": self.tokens,
            "assistant_tokens": self.assistant_tokens,
            "max_tokens": self.max_tokens,
            "truncated": self.truncated,
            "dropped": dict(self.dropped),
        }


def has_generation_markers(template: str | None) -> bool:
    """Whether a Jinja chat template marks assistant content with ``{% generation %}``."""
    return bool(template) and bool(_GENERATION.search(template))


def end_of_turn_id(tokenizer) -> int:
    """The id of the end-of-turn token (the tokenizer's eos, as TRL uses it)."""
    if tokenizer.eos_token_id is None:
        raise ConfigError(
            "the tokenizer has no eos (end-of-turn) token",
            hint="use --chat-template chatml, which sets <|im_end|> as end of turn",
        )
    return tokenizer.eos_token_id


def check_tokenizer(tokenizer, *, model: str = "the model") -> None:
    """Fail when the template lacks generation markers, or the pad token is missing or is end-of-turn.

    Raises:
        ConfigError: naming the problem and the option that fixes it.
    """
    if not tokenizer.chat_template:
        raise ConfigError(f"{model} has no chat template", hint="a base model needs one: pass --chat-template chatml")
    if not has_generation_markers(tokenizer.chat_template):
        raise ConfigError(
            f"the chat template of {model} has no {{% generation %}} markers, so assistant-only loss cannot "
            "tell the response tokens from the prompt",
            hint="pass --chat-template training (TRL's variant for known families such as Qwen, Llama 3, Gemma), "
            "--chat-template chatml, or a Jinja file with {% generation %}...{% endgeneration %}",
        )
    eot = end_of_turn_id(tokenizer)
    if tokenizer.pad_token_id is None:
        raise ConfigError(
            f"the tokenizer of {model} has no pad token",
            hint="add a dedicated pad token (not the end-of-turn token) to the tokenizer",
        )
    if tokenizer.pad_token_id == eot:
        raise ConfigError(
            f"the pad token of {model} is the end-of-turn token {tokenizer.eos_token!r} (id {eot}): padding "
            "would mask the end-of-turn label and the model would never learn to stop",
            hint="give the tokenizer a distinct pad token (e.g. <|pad|> or an unused reserved token)",
        )


def _spans(mask: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of 1s in ``mask`` as ``(start, end)`` half-open intervals."""
    spans, start = [], None
    for i, bit in enumerate(mask):
        if bit and start is None:
            start = i
        elif not bit and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(mask)))
    return spans


def tokenize_example(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """``(input_ids, assistant_mask)`` of one conversation, the way TRL's SFTTrainer tokenizes it."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    return list(out["input_ids"]), list(out["assistant_masks"])


def preflight_sft(
    records: list[dict], tokenizer, *, max_length: int, overlong: str = "truncate", model: str = "the model"
) -> tuple[list[dict], Preflight]:
    """Tokenize every record, check its assistant mask, and apply the truncation policy.

    Args:
        records: ``sft`` records (``messages``).
        tokenizer: The tokenizer with the chat template used for training.
        max_length: Longest sequence in tokens.
        overlong: ``truncate`` keeps the first ``max_length`` tokens (TRL's keep_start) and drops an
            example only when no assistant token survives; ``drop`` drops every overlong example;
            ``error`` refuses them.
        model: The model name for messages.

    Returns:
        The records to train on, and the counts.

    Raises:
        ConfigError: a tokenizer or template problem (see the module docstring).
        InputError: an example with an empty assistant mask, or overlong under ``overlong=error``.
    """
    if overlong not in OVERLONG_POLICIES:
        raise ConfigError(f"overlong must be one of {', '.join(OVERLONG_POLICIES)}, got {overlong!r}")
    check_tokenizer(tokenizer, model=model)
    eot = end_of_turn_id(tokenizer)
    report = Preflight()
    kept: list[dict] = []
    for rec in records:
        report.examples += 1
        if any(_empty_answer(m) for m in rec["messages"]):  # it would teach the model to stop at once
            report.dropped["empty_assistant_turn"] = report.dropped.get("empty_assistant_turn", 0) + 1
            continue
        ids, mask = tokenize_example(tokenizer, training_messages(rec["messages"]))
        rid = rec.get("id")
        spans = _spans(mask)
        if not spans:
            raise InputError(
                f"record {rid}: the assistant mask is empty (no token would be trained on)",
                hint="the chat template's {% generation %} block renders no assistant tokens; fix the template "
                "or pass --chat-template chatml",
            )
        for start, end in spans:
            if eot not in ids[start:end]:
                raise InputError(
                    f"record {rid}: an assistant turn's mask does not include the end-of-turn token "
                    f"{tokenizer.eos_token!r}, so the model would never learn to stop",
                    hint="move the end-of-turn token inside {% generation %}...{% endgeneration %} in the "
                    "template, or pass --chat-template chatml",
                )
        if len(ids) > max_length:
            if overlong == "error":
                raise InputError(
                    f"record {rid} has {len(ids)} tokens, over max_length {max_length}",
                    hint="raise --max-length, or set overlong=truncate or overlong=drop",
                )
            if overlong == "drop":
                report.dropped["overlong"] = report.dropped.get("overlong", 0) + 1
                continue
            if not any(mask[:max_length]):
                report.dropped["no_response_within_max_length"] = (
                    report.dropped.get("no_response_within_max_length", 0) + 1
                )
                continue
            report.truncated += 1
            ids, mask = ids[:max_length], mask[:max_length]
        report.kept += 1
        report.tokens += len(ids)
        report.assistant_tokens += sum(mask)
        report.max_tokens = max(report.max_tokens, len(ids))
        kept.append(rec)
    if not kept:
        raise InputError(
            f"no example is left to train on ({report.dropped})", hint="raise --max-length or set overlong=truncate"
        )
    return kept, report


def _empty_answer(m: dict) -> bool:
    """An assistant turn with no text (blank) and no tool calls."""
    return m.get("role") == "assistant" and not (m.get("content") or "").strip() and not m.get("tool_calls")


def training_messages(messages: list[dict]) -> list[dict]:
    """Messages reduced to what a chat template reads: role, content (None -> ""), tool_calls if any."""
    out = []
    for m in messages:
        msg = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            msg["tool_calls"] = m["tool_calls"]
        out.append(msg)
    return out


# --- choosing a template and a pad token (what LLaMA-Factory does by model family) -------------------

# Pad candidates, most specific first: dedicated pad tokens, then end-of-text tokens that chat
# templates do not emit (SmolLM2 and Qwen2.5 ship <|endoftext|> next to their <|im_end|> end of turn;
# Llama 3.1 reserves <|finetune_right_pad_id|>), then the unknown token.
PAD_CANDIDATES = (
    "<|pad|>",
    "<pad>",
    "[PAD]",
    "<|finetune_right_pad_id|>",
    "<|fim_pad|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
    "<unk>",
)
_PROBE = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "U1"},
    {"role": "assistant", "content": "A1"},
    {"role": "user", "content": "U2"},
    {"role": "assistant", "content": "A2"},
]


def _render(tok, messages: list[dict], template: str | None = None) -> str | None:
    try:
        return tok.apply_chat_template(messages, tokenize=False, chat_template=template)
    except Exception:  # a template that raises on a probe (e.g. no system role) tells us nothing
        return None


def chatml_template(default_system: str | None = None) -> str:
    """Our ChatML template with generation markers, optionally injecting a default system turn."""
    import json

    from instructkit.train.tiny import CHATML_TEMPLATE

    if not default_system:
        return CHATML_TEMPLATE
    literal = json.dumps("<|im_start|>system\n" + default_system + "<|im_end|>\n", ensure_ascii=False)
    return "{% if messages and messages[0]['role'] != 'system' %}{{ " + literal + " }}{% endif %}" + CHATML_TEMPLATE


def _default_system(tok) -> str | None:
    """The system prompt a ChatML template injects when the conversation has none (SmolLM2's)."""
    text = _render(tok, [{"role": "user", "content": "U"}]) or ""
    head = "<|im_start|>system\n"
    if text.startswith(head) and "<|im_end|>" in text:
        return text[len(head) : text.index("<|im_end|>")]
    return None


def choose_chat_template(tok, *, model: str = "the model") -> str:
    """Give ``tok`` a template with ``{% generation %}`` markers, chosen by template family; returns the choice.

    In order: the model's own template when it has the markers (``model``); TRL's training variant of a
    family TRL knows, Qwen, Llama 3, Gemma, Phi ... (``training``); for a ChatML model (the template
    emits ``<|im_start|>``/``<|im_end|>``, both in the vocabulary) our ChatML template, keeping a default
    system prompt the original injects (``chatml``), checked to render a conversation exactly as the
    original does (else ``chatml (renders differently from the model's own)``).

    Raises:
        ConfigError: no template, or a family with no safe choice (pass --chat-template).
    """
    own = tok.chat_template
    if not own:
        raise ConfigError(f"{model} has no chat template", hint="a base model needs one: pass --chat-template chatml")
    if has_generation_markers(own):
        return "model"
    from trl import get_training_chat_template

    try:
        patched = get_training_chat_template(tok)
    except ValueError:  # not a family TRL knows
        patched = None
    if patched and has_generation_markers(patched):
        tok.chat_template = patched
        return "training"
    vocab = tok.get_vocab()
    if "<|im_start|>" in own and "<|im_end|>" in own and "<|im_start|>" in vocab and "<|im_end|>" in vocab:
        ours = chatml_template(_default_system(tok))
        same = all(_render(tok, _PROBE[i:]) == _render(tok, _PROBE[i:], ours) for i in (0, 1))
        tok.chat_template = ours
        tok.eos_token = "<|im_end|>"
        return "chatml" if same else "chatml (renders differently from the model's own)"
    raise ConfigError(
        f"the chat template of {model} has no {{% generation %}} markers and is neither a family TRL has a "
        "training variant for nor ChatML",
        hint="pass --chat-template chatml or a Jinja file with {% generation %}...{% endgeneration %}",
    )


def choose_pad_token(tok) -> str | None:
    """When the pad token is missing or is the end-of-turn token, switch to a distinct existing token.

    A candidate (``PAD_CANDIDATES``) must be in the vocabulary, differ from eos and bos, and never appear
    in a rendered conversation, so padding cannot hide a token the model must learn. Returns the reason
    of the change (None: the tokenizer's own pad was kept or nothing safe exists; ``check_tokenizer``
    then says what to do).
    """
    eos = tok.eos_token_id
    if tok.pad_token_id is not None and tok.pad_token_id != eos:
        return None
    rendered = set()
    text = _render(tok, _PROBE[1:])
    if text is not None:
        rendered = set(tok(text, add_special_tokens=True)["input_ids"])
    vocab = tok.get_vocab()
    for cand in PAD_CANDIDATES:
        tid = vocab.get(cand)
        if tid is None or tid in (eos, tok.bos_token_id) or tid in rendered:
            continue
        before = "none" if tok.pad_token_id is None else f"the end-of-turn token {tok.eos_token!r}"
        tok.pad_token = cand
        return f"was {before}"
    return None


def prepare_tokenizer(tok, *, chat_template: str | None, model: str, markers: bool) -> dict:
    """The tokenizer choices of a training run, applied to ``tok`` and returned for the manifest/summary.

    Args:
        tok: The loaded tokenizer (an explicit ``--chat-template`` already installed).
        chat_template: The requested template: None/``auto`` chooses (see ``choose_chat_template``)
            when ``markers`` is needed, ``model`` keeps the model's own, anything else was explicit.
        model: The model name for messages.
        markers: Whether the stage needs ``{% generation %}`` markers (assistant-only SFT loss).
    """
    if chat_template in (None, "auto"):
        choice = choose_chat_template(tok, model=model) if markers else "model"
    else:
        choice = chat_template
    reason = choose_pad_token(tok)
    return {
        "chat_template": choice,
        "pad_token": tok.pad_token,
        "pad_token_id": tok.pad_token_id,
        "pad_token_choice": f"chosen ({reason})" if reason else "the tokenizer's own",
    }
