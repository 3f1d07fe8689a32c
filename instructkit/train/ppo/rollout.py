"""Rollouts: prompts -> token ids -> sampled completions with masks for EOS and truncation.

Completions are left-aligned in a ``[B, T]`` tensor. A completion's real tokens run up to and
including its first EOS; whatever ``generate`` put after that (padding, or more tokens in a batch
that kept going) is masked out of every loss, reward and statistic. A completion that reaches
``max_new_tokens`` without EOS is *truncated*: all its tokens count, and it can be penalised
(``missing_eos_penalty``, as TRL's former PPO trainer did).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from instructkit.errors import ConfigError


def prompt_texts(tokenizer, prompts: list[list[dict]]) -> list[str]:
    """Chat-formatted prompt strings ending with the assistant header (the generation prompt)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "the policy's tokenizer has no chat template",
            hint="run sft with --chat-template chatml first, or use an instruct model",
        )
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


def encode_prompts(tokenizer, prompts: list[list[dict]], max_prompt_length: int) -> list[list[int]]:
    """Token ids of each chat-formatted prompt; long prompts keep their last ``max_prompt_length`` tokens
    (the end holds the question and the assistant header the completion must follow)."""
    texts = prompt_texts(tokenizer, prompts)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [x[-max_prompt_length:] for x in ids]


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``input_ids`` and ``attention_mask`` (decoder-only generation needs left padding)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s) :] = 1
    return ids, mask


def completion_mask(tokens: torch.Tensor, eos_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of real completion tokens (through the first EOS inclusive) and whether each row has an EOS.

    >>> completion_mask(torch.tensor([[5, 2, 0, 0], [5, 6, 7, 8]]), [2])
    (tensor([[1, 1, 0, 0],
            [1, 1, 1, 1]]), tensor([ True, False]))
    """
    is_eos = torch.zeros_like(tokens, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= tokens == e
    has_eos = is_eos.any(1)
    T = tokens.shape[1]
    first = torch.where(has_eos, is_eos.float().argmax(1), torch.full_like(has_eos, T - 1, dtype=torch.long))
    mask = (torch.arange(T).unsqueeze(0) <= first.unsqueeze(1)).long()
    return mask, has_eos


def eos_ids_of(tokenizer, model) -> list[int]:
    """End-of-sequence ids: the generation config's (may be a list) plus the tokenizer's."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ConfigError("the policy has no EOS token", hint="set eos_token in the tokenizer config")
    return ids


@dataclass
class Rollout:
    """One batch of sampled completions (everything on the policy's device)."""

    query: torch.Tensor  # [B, P] left-padded prompt ids
    query_mask: torch.Tensor  # [B, P]
    response: torch.Tensor  # [B, T] completion ids, left-aligned
    response_mask: torch.Tensor  # [B, T] 1 through the first EOS
    has_eos: torch.Tensor  # [B] bool
    completions: list[str]  # decoded real tokens, special tokens skipped

    def full(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prompt + completion ids, attention mask and position ids for a scoring forward pass."""
        ids = torch.cat([self.query, self.response], 1)
        attn = torch.cat([self.query_mask, self.response_mask], 1)
        pos = (attn.cumsum(1) - 1).clamp(min=0)
        return ids, attn, pos


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompt_ids: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    do_sample: bool = True,
) -> Rollout:
    """Sample one completion per prompt with ``model.generate`` (an unwrapped causal LM or peft model)."""
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = eos_ids_of(tokenizer, model)
    query, query_mask = left_pad(prompt_ids, pad_id)
    query, query_mask = query.to(device), query_mask.to(device)
    # Every sampling knob is explicit: a model's generation_config (e.g. top_k=20, repetition_penalty)
    # would otherwise fill them, and the log-probs PPO computes would not be those of the sampler.
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_k": top_k, "top_p": top_p}
        if do_sample
        else {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
    )
    sampling.update(repetition_penalty=1.0, no_repeat_ngram_size=0)
    out = model.generate(
        input_ids=query,
        attention_mask=query_mask,
        max_new_tokens=max_new_tokens,
        min_new_tokens=1,
        pad_token_id=pad_id,
        eos_token_id=eos,
        **sampling,
    )
    response = out[:, query.shape[1] :]
    mask, has_eos = completion_mask(response.cpu(), eos)
    response = torch.where(mask.to(device).bool(), response, torch.full_like(response, pad_id))
    texts = tokenizer.batch_decode(
        [r[: int(m.sum())] for r, m in zip(response.cpu(), mask, strict=True)], skip_special_tokens=True
    )
    return Rollout(query, query_mask, response, mask.to(device), has_eos.to(device), texts)
