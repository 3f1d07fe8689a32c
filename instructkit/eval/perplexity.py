"""Negative log-likelihood and perplexity of a causal LM on the assistant turns of ``sft`` records.

Each conversation is rendered with the tokenizer's chat template; only tokens that belong to
assistant turns are scored (the prompt is given, not predicted), as in SFT with
``assistant_only_loss``. The assistant tokens are found with the template's ``{% generation %}``
markers (``return_assistant_tokens_mask``) when it has them, otherwise by rendering each prefix of
the conversation and taking the tokens an assistant turn adds.

Perplexity is ``exp(total NLL / total scored tokens)`` over the whole set (token-weighted, like
``exp(eval_loss)`` of a Trainer), in nats per token. Conversations longer than the model's context
are truncated on the right (the start of a conversation is kept).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from instructkit.errors import RecordError


def _assistant_mask_by_prefix(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    ids: list[int] = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    mask = [0] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = (
            tokenizer.apply_chat_template(messages[:i], tokenize=True, add_generation_prompt=True, return_dict=True)[
                "input_ids"
            ]
            if i
            else []
        )
        upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=True, return_dict=True)["input_ids"]
        for j in range(len(before), min(len(upto), len(ids))):
            mask[j] = 1
    return ids, mask


def assistant_tokens(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of a rendered conversation and a 0/1 mask of the assistant tokens."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if not template:
        raise RecordError(
            "the tokenizer has no chat template: cannot find the assistant tokens",
            hint="perplexity needs a chat model (or a template set at training time)",
        )
    if "{% generation %}" in template or "{%- generation %}" in template:
        enc = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        return list(enc["input_ids"]), list(enc["assistant_masks"])
    return _assistant_mask_by_prefix(tokenizer, messages)


def token_nll(
    model,
    tokenizer,
    conversations: list[list[dict]],
    *,
    batch_size: int = 8,
    advance: Callable[[int], None] | None = None,
) -> list[tuple[float, int]]:
    """Summed NLL (nats) and scored-token count per conversation.

    ``advance(n)`` (a progress bar's) is called after each batch with the batch's conversations.
    """
    import torch

    max_len = getattr(model.config, "max_position_embeddings", None) or 10**9
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = []
    for conv in conversations:
        ids, mask = assistant_tokens(tokenizer, conv)
        encoded.append((ids[:max_len], mask[:max_len]))
    results: list[tuple[float, int]] = []
    device = model.device
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels_mask = torch.zeros((len(batch), width), dtype=torch.bool)
        for row, (ids, mask) in enumerate(batch):  # right padding: positions start at 0 for every row
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            labels_mask[row, : len(ids)] = torch.tensor(mask, dtype=torch.bool)
        input_ids, attention, labels_mask = input_ids.to(device), attention.to(device), labels_mask.to(device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)  # position t predicts token t+1
        target = input_ids[:, 1:]
        nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        scored = labels_mask[:, 1:]
        for row in range(len(batch)):
            results.append((float(nll[row][scored[row]].sum()), int(scored[row].sum())))
        if advance is not None:
            advance(len(batch))
    return results


def perplexity(
    model,
    tokenizer,
    conversations: list[list[dict]],
    *,
    batch_size: int = 8,
    advance: Callable[[int], None] | None = None,
) -> dict:
    """Token-weighted NLL per token, perplexity, scored tokens and conversations (``advance``: see token_nll)."""
    per = token_nll(model, tokenizer, conversations, batch_size=batch_size, advance=advance)
    total = sum(n for n, _ in per)
    tokens = sum(t for _, t in per)
    if tokens == 0:
        return {"nll": None, "perplexity": None, "tokens": 0, "records": len(per)}
    nll = total / tokens
    return {"nll": nll, "perplexity": math.exp(nll), "tokens": tokens, "records": len(per)}
