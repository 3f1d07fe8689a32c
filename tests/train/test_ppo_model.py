"""PPO on the tiny model: padding and post-EOS masking in real rollouts, the forward pass that scores them,
the invariants of the first update (ratio 1, KL 0 to an identical reference), checkpoints and resume."""

from __future__ import annotations

import pytest
import torch
from test_rlhf_helpers import digits, prompt_records


@pytest.fixture(scope="module")
def parts(tiny_model):
    from instructkit.train.common import load_causal_lm, load_tokenizer

    return load_tokenizer(tiny_model), lambda: load_causal_lm(tiny_model, dtype="float32")


def _boost_eos(model, eos_id: int, amount: float = 4.0):
    """Make EOS likely (about 1 in 10 tokens) so sampled completions stop at varied lengths."""

    def hook(_module, _inputs, output):
        output[..., eos_id] += amount
        return output

    return model.get_output_embeddings().register_forward_hook(hook)


def test_rollout_masks_tokens_after_eos_and_scores_match_unpadded(parts):
    from instructkit.train.ppo.rollout import encode_prompts, generate
    from instructkit.train.ppo.value import PolicyWithValue

    tok, load = parts
    model = load()
    handle = _boost_eos(model, tok.eos_token_id)
    torch.manual_seed(0)
    recs = prompt_records(12)
    ids = encode_prompts(tok, [r["prompt"] for r in recs], 256)
    assert len({len(x) for x in ids}) > 1, "prompts of different lengths exercise left padding"
    roll = generate(model, tok, ids, max_new_tokens=16, temperature=1.0, top_k=0, top_p=1.0)
    mask, resp = roll.response_mask, roll.response
    assert roll.has_eos.any(), "some completions stop early: the post-EOS path is exercised"
    for i in range(len(recs)):
        n = int(mask[i].sum())
        if roll.has_eos[i]:
            assert int(resp[i, n - 1]) == tok.eos_token_id  # the EOS itself is a real (scored) token
            assert (resp[i, : n - 1] != tok.eos_token_id).all()
            assert (resp[i, n:] == tok.pad_token_id).all() and (mask[i, n:] == 0).all()
        else:
            assert n == resp.shape[1]  # truncated: every token counts
        assert roll.completions[i] == tok.decode(resp[i, :n], skip_special_tokens=True)
    # Scoring the padded batch gives each completion the log-probs it has alone, without padding.
    pv = PolicyWithValue(model).eval()
    full, attn, pos = roll.full()
    with torch.no_grad():
        batch = pv(full, attn, pos, resp.shape[1])
        for i in (0, 5, 11):
            n = int(mask[i].sum())
            alone = torch.tensor([ids[i] + resp[i, :n].tolist()])
            single = pv(alone, torch.ones_like(alone), torch.arange(alone.shape[1])[None], n)
            torch.testing.assert_close(batch["logprobs"][i, :n], single["logprobs"][0], atol=2e-4, rtol=0)
            torch.testing.assert_close(batch["values"][i, :n], single["values"][0], atol=2e-4, rtol=0)
    handle.remove()


def test_first_update_starts_at_ratio_one_and_zero_kl(parts, tmp_path):
    from instructkit.train.ppo.config import PPOConfig
    from instructkit.train.ppo.trainer import PPOTrainer

    tok, load = parts
    cfg = PPOConfig(
        max_steps=2, batch_size=8, mini_batch_size=4, ppo_epochs=2, max_new_tokens=6, learning_rate=1e-3, save_steps=0
    )
    trainer = PPOTrainer(
        cfg, policy=load(), ref_model=load(), tokenizer=tok, sources=[digits], records=prompt_records(16)
    )
    batch = trainer.rollout(trainer.batch_indices(0))
    m = batch["mask"]
    assert batch["stats"]["objective/kl"] == pytest.approx(0.0, abs=1e-5)  # policy == reference
    with torch.no_grad():
        again = trainer.model(batch["ids"], batch["attn"], batch["pos"], batch["n"], cfg.temperature)
    torch.testing.assert_close(again["logprobs"] * m, batch["old_logprobs"] * m)  # pi / pi_old = 1 before any step
    # Whitened advantages: mean 0, std 1 over real tokens.
    adv = batch["advantages"][m.bool()]
    assert float(adv.mean()) == pytest.approx(0.0, abs=1e-5) and float(adv.std()) == pytest.approx(1.0, abs=1e-3)
    before = [p.detach().clone() for p in trainer.unwrapped.policy.parameters()]
    stats = trainer.update(batch)
    assert {"loss/policy", "loss/value", "policy/clipfrac", "policy/approx_kl"} <= set(stats)
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.unwrapped.policy.parameters(), strict=True))
    # The reference is frozen: its weights are still those of a fresh load.
    assert all(torch.equal(r, f) for r, f in zip(trainer.ref_model.parameters(), load().parameters(), strict=True))


def test_prompt_batches_cover_the_data_and_are_a_function_of_the_step(parts):
    from instructkit.train.ppo.config import PPOConfig
    from instructkit.train.ppo.trainer import PPOTrainer

    tok, load = parts
    cfg = PPOConfig(max_steps=1, batch_size=4, mini_batch_size=4, max_new_tokens=4, save_steps=0)
    trainer = PPOTrainer(
        cfg, policy=load(), ref_model=load(), tokenizer=tok, sources=[digits], records=prompt_records(10)
    )
    epoch0 = trainer.batch_indices(0) + trainer.batch_indices(1) + trainer.batch_indices(2)[:2]
    assert sorted(epoch0) == list(range(10))  # every prompt once per pass
    assert trainer.batch_indices(7) == trainer.batch_indices(7)
