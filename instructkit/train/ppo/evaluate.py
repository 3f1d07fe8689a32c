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
def evaluate_policy(
    policy,
    tokenizer,
    records: list[dict],
    sources: list[Callable],
    *,
    ref_fn=None,
    max_new_tokens: int = 16,
    max_prompt_length: int = 256,
    temperature: float = 1.0,
    batch_size: int = 16,
    weights: list[float] | None = None,
) -> dict[str, float]:
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
        chunk = records[i : i + batch_size]
        prompts = [prompt_of(r) for r in chunk]
        ids = encode_prompts(tokenizer, prompts, max_prompt_length)
        roll = generate(
            policy, tokenizer, ids, max_new_tokens=max_new_tokens, temperature=temperature, top_k=0, top_p=1.0
        )
        total, _ = score(sources, weights, prompts, roll.completions)
        rewards.append(total)
        lengths.append(roll.response_mask.sum(1).float().cpu())
        if ref_fn is not None:
            full_ids, attn, pos = roll.full()
            n = roll.response.shape[1]
            out = policy(
                input_ids=full_ids, attention_mask=attn, position_ids=pos, use_cache=False, logits_to_keep=n + 1
            )
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


@torch.no_grad()
def sequence_logprob(model, tokenizer, prompt: list[dict], reply: list[dict]) -> float:
    """Sum of log pi(reply tokens | prompt) with the chat template (the reply's tokens are the part of the
    templated conversation after the templated prompt with its generation header)."""
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + reply, tokenize=False)
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    device = next(model.parameters()).device
    x = torch.tensor([ids], device=device)
    logits = model(input_ids=x, use_cache=False).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(1, x[0, 1:].unsqueeze(-1)).squeeze(-1)
    return float(logp[len(head_ids) - 1 :].sum())


def preference_margins(policy, ref, tokenizer, records: list[dict], *, beta: float) -> dict[str, float]:
    """Held-out pair metrics of a DPO-style policy (Rafailov et al. 2023):

    - ``logp_margin``: mean of log pi(chosen) - log pi(rejected) (the policy's own preference);
    - ``reward_margin``: mean implicit reward margin beta * [(log pi - log pi_ref)(chosen) - (same)(rejected)];
    - ``reward_accuracy``: share of pairs whose implicit reward margin is positive.
    """
    policy.eval()
    ref.eval()
    logp_m, rew_m = [], []
    for r in records:
        pc, pr = (sequence_logprob(policy, tokenizer, r["prompt"], r[s]) for s in ("chosen", "rejected"))
        rc, rr = (sequence_logprob(ref, tokenizer, r["prompt"], r[s]) for s in ("chosen", "rejected"))
        logp_m.append(pc - pr)
        rew_m.append(beta * ((pc - rc) - (pr - rr)))
    n = max(1, len(records))
    return {
        "logp_margin": sum(logp_m) / n,
        "reward_margin": sum(rew_m) / n,
        "reward_accuracy": sum(m > 0 for m in rew_m) / n,
        "pairs": len(records),
    }
