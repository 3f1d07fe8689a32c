"""Held-out evaluation of any policy: mean reward of sampled completions and their KL to a reference.

Used by the PPO trainer (start and end of training) and by the tests of every algorithm, so PPO,
GRPO, RLOO and DPO outputs are measured the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from instructkit.records import prompt_of
from instructkit.train.ppo.kl import per_token_kl
from instructkit.train.ppo.rewards import score
from instructkit.train.ppo.rollout import encode_prompts, generate
from instructkit.train.ppo.value import reference_logprobs


@torch.no_grad()
def evaluate_policy(policy, tokenizer, records: list[dict], sources: list[Callable], *, ref_fn=None,
                    max_new_tokens: int = 16, max_prompt_length: int = 256, temperature: float = 1.0,
                    batch_size: int = 16, weights: list[float] | None = None) -> dict[str, float]:
    """Mean reward and mean sequence KL(policy || reference) over one sampled completion per prompt.

    Args:
        policy: A causal LM (plain or peft).
        tokenizer: Its tokenizer (with a chat template).
        records: Records with prompts (any kind ``prompt_of`` understands).
        sources: Reward functions / reward-model scorers.
        ref_fn: ``(ids, attn, pos, n_response) -> logprobs`` of the reference; None skips the KL.
        max_new_tokens, max_prompt_length, temperature: Sampling settings (as in training).
        batch_size: Prompts per generate call.
        weights: Weight per reward source.
    """
    policy.eval()
    rewards, kls, lengths = [], [], []
    for i in range(0, len(records), batch_size):
        chunk = records[i:i + batch_size]
        prompts = [prompt_of(r) for r in chunk]
        ids = encode_prompts(tokenizer, prompts, max_prompt_length)
        roll = generate(policy, tokenizer, ids, max_new_tokens=max_new_tokens, temperature=temperature,
                        top_k=0, top_p=1.0)
        total, _ = score(sources, weights, prompts, roll.completions)
        rewards.append(total)
        lengths.append(roll.response_mask.sum(1).float().cpu())
        if ref_fn is not None:
            full_ids, attn, pos = roll.full()
            n = roll.response.shape[1]
            out = policy(input_ids=full_ids, attention_mask=attn, position_ids=pos, use_cache=False,
                         logits_to_keep=n + 1)
            logits = out.logits[:, :-1].float() / temperature
            logp = torch.gather(torch.log_softmax(logits, -1), 2, full_ids[:, -n:].unsqueeze(-1)).squeeze(-1)
            ref = ref_fn(full_ids, attn, pos, n)
            kls.append(per_token_kl(logp, ref, roll.response_mask).sum(1).cpu())
    result = {"reward": float(torch.cat(rewards).mean()), "length": float(torch.cat(lengths).mean())}
    if kls:
        result["kl"] = float(torch.cat(kls).mean())
    return result


def reference_fn(ref_model, temperature: float = 1.0):
    """A ``ref_fn`` for :func:`evaluate_policy` from a frozen causal LM."""
    def fn(ids, attn, pos, n):
        return reference_logprobs(ref_model, ids, attn, pos, n, temperature)
    return fn
