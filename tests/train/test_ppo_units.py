"""PPO pieces on hand-computed cases: GAE, the clipped objectives, the KL penalty and its controller,
masking of padding and of tokens after EOS, reward normalisation and reward-function loading."""

from __future__ import annotations

import math

import pytest
import torch

from instructkit.errors import ConfigError
from instructkit.train.ppo.gae import gae, masked_mean, whiten
from instructkit.train.ppo.kl import AdaptiveKLController, FixedKLController, per_token_kl, shaped_rewards
from instructkit.train.ppo.losses import entropy_from_logits, policy_loss, value_loss
from instructkit.train.ppo.rewards import RunningMoments, load_reward_fn, score
from instructkit.train.ppo.rollout import completion_mask, left_pad


def test_gae_hand_computed_trajectory():
    # Row 0: r = [0, 0, 1], V = [0.5, 0.5, 0.5], gamma = 1, lam = 0.5, all tokens real.
    #   t=2: delta = 1 + 0 - 0.5 = 0.5                 A2 = 0.5
    #   t=1: delta = 0 + 0.5 - 0.5 = 0                 A1 = 0 + 0.5 * 0.5  = 0.25
    #   t=0: delta = 0 + 0.5 - 0.5 = 0                 A0 = 0 + 0.5 * 0.25 = 0.125
    #   returns = A + V = [0.625, 0.75, 1.0]
    # Row 1: r = [0.2, 1.0, 7.0], V = [1.0, 0.5, 3.0], mask = [1, 1, 0] (the 7.0 and 3.0 are after EOS).
    #   t=1: delta = 1.0 + 0 - 0.5 = 0.5 (V after the last real token is 0)    A1 = 0.5
    #   t=0: delta = 0.2 + 0.5 - 1.0 = -0.3                                    A0 = -0.3 + 0.5 * 0.5 = -0.05
    #   returns = [0.95, 1.0, 0]
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.2, 1.0, 7.0]])
    values = torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.5, 3.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    torch.testing.assert_close(adv, torch.tensor([[0.125, 0.25, 0.5], [-0.05, 0.5, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.625, 0.75, 1.0], [0.95, 1.0, 0.0]]))


def test_gae_discount_and_lambda_one_is_monte_carlo():
    # gamma = 0.5, lam = 1, V = 0: A_t is the discounted return. r = [1, 2]:
    #   A1 = 2;  A0 = 1 + 0.5 * 2 = 2.
    adv, ret = gae(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2), torch.ones(1, 2), gamma=0.5, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([[2.0, 2.0]]))
    # lam = 0 is one-step TD: A_t = r_t + gamma V_{t+1} - V_t. V = [1, 3]:
    #   A1 = 2 + 0 - 3 = -1;  A0 = 1 + 0.5 * 3 - 1 = 1.5
    adv, _ = gae(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 3.0]]), torch.ones(1, 2), gamma=0.5, lam=0.0)
    torch.testing.assert_close(adv, torch.tensor([[1.5, -1.0]]))


def test_whiten_ignores_masked_positions():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 0]])
    out = whiten(x, mask)
    # mean 2, unbiased var ((1)^2 + (1)^2) / 1 = 2 -> std sqrt(2); the 100 is ignored and zeroed.
    torch.testing.assert_close(out, torch.tensor([[-1 / math.sqrt(2), 1 / math.sqrt(2), 0.0]]), atol=1e-5, rtol=0)
    assert float(masked_mean(x, mask)) == 2.0


def test_clipped_policy_objective_hand_computed():
    # eps = 0.2, old log-prob 0, so r = exp(logp):
    #   tok0 r=1.5 A=+1: -1.5 vs clipped -1.2 -> max -1.2   (clipped term active)
    #   tok1 r=0.5 A=-1: +0.5 vs clipped +0.8 -> max +0.8   (clipped term active)
    #   tok2 r=1.1 A=+1: -1.1 vs clipped -1.1 -> -1.1       (inside the trust region)
    #   tok3 r=0.5 A=+1: -0.5 vs clipped -0.8 -> max -0.5   (pessimistic bound keeps the unclipped term)
    #   tok4 masked (padding): huge numbers that must not count
    #   loss = (-1.2 + 0.8 - 1.1 - 0.5) / 4 = -0.5; clip fraction = 2 / 4
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.5, 50.0]])).requires_grad_()
    old = torch.zeros(1, 5)
    adv = torch.tensor([[1.0, -1.0, 1.0, 1.0, 1e6]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    loss, stats = policy_loss(logp, old, adv, mask, cliprange=0.2)
    assert float(loss.detach()) == pytest.approx(-0.5)
    assert float(stats["clipfrac"]) == pytest.approx(0.5)
    loss.backward()
    # Clipped tokens and padding get no gradient; the others get -A * r / 4.
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, -1.1 / 4, -0.5 / 4, 0.0]]))


def test_clipped_value_loss_hand_computed():
    # V_old = 0, V = 0.5, R = 1, c = 0.2: clipped V = 0.2; (0.5-1)^2 = 0.25, (0.2-1)^2 = 0.64 -> 0.5 * 0.64
    # second token V = 0.1 (inside the clip): both 0.81 -> 0.5 * 0.81; mean = (0.32 + 0.405) / 2
    loss, stats = value_loss(
        torch.tensor([[0.5, 0.1]]), torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2), cliprange_value=0.2
    )
    assert float(loss) == pytest.approx((0.32 + 0.405) / 2)
    assert float(stats["vf_clipfrac"]) == pytest.approx(0.5)


def test_entropy_of_uniform_and_peaked():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]])
    ent = entropy_from_logits(logits)
    assert float(ent[0, 0]) == pytest.approx(math.log(4))
    assert float(ent[0, 1]) == pytest.approx(0.0, abs=1e-6)


def test_kl_penalty_and_score_on_last_real_token():
    # log pi = [-1, -2, -0.5], log pi_ref = [-1.5, -1, -0.5], mask [1, 1, 0]:
    #   KL_t = [0.5, -1.0, 0]; beta = 0.1 -> -beta KL = [-0.05, 0.1, 0]; score 2.0 lands on t=1 (the EOS).
    logp = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -0.5]])
    mask = torch.tensor([[1, 1, 0]])
    kl = per_token_kl(logp, ref, mask)
    torch.testing.assert_close(kl, torch.tensor([[0.5, -1.0, 0.0]]))
    rewards = shaped_rewards(torch.tensor([2.0]), kl, mask, 0.1)
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 2.1, 0.0]]))


def test_adaptive_kl_controller_ziegler():
    # beta = 0.1, target 6, horizon 10,000, 100 samples: KL 9 -> e = clip(0.5) = 0.2 -> beta * (1 + 0.002)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    ctl.update(9.0, 100)
    assert ctl.value == pytest.approx(0.1002)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    ctl.update(4.5, 100)  # e = -0.25 -> clipped to -0.2
    assert ctl.value == pytest.approx(0.0998)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    ctl.update(6.6, 1000)  # e = 0.1 -> beta * 1.01
    assert ctl.value == pytest.approx(0.101)
    fixed = FixedKLController(0.3)
    fixed.update(100.0, 1000)
    assert fixed.value == 0.3


def test_completion_mask_eos_truncation_and_padding():
    eos, pad = 2, 0
    tokens = torch.tensor(
        [
            [5, 6, 2, 0, 0],  # EOS at 2, then padding
            [2, 7, 7, 7, 7],  # EOS first: only the EOS token is real; what follows is masked
            [5, 6, 7, 8, 9],  # truncated (no EOS): every token is real
            [5, 2, 9, 2, 9],  # tokens after the first EOS are masked even if they are not padding
        ]
    )
    mask, has_eos = completion_mask(tokens, [eos])
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert has_eos.tolist() == [True, True, False, True]
    # Several EOS ids (a generation config may list two): the first of any of them ends the completion.
    mask, _ = completion_mask(torch.tensor([[5, 3, 2, 0]]), [2, 3])
    assert mask.tolist() == [[1, 1, 0, 0]]
    ids, attn = left_pad([[4, 5, 6], [7]], pad)
    assert ids.tolist() == [[4, 5, 6], [0, 0, 7]] and attn.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_running_moments_match_the_concatenation():
    torch.manual_seed(0)
    parts = [torch.randn(5) * 3 + 1, torch.randn(7), torch.randn(3) * 0.1 - 2]
    m = RunningMoments()
    for p in parts:
        m.update(p)
    allx = torch.cat(parts)
    assert m.count == 15
    assert m.mean == pytest.approx(float(allx.mean()), abs=1e-5)
    assert m.var == pytest.approx(float(allx.var(unbiased=False)), abs=1e-5)
    z = m.normalise(allx)
    assert float(z.mean()) == pytest.approx(0.0, abs=1e-5) and float(z.std(unbiased=False)) == pytest.approx(
        1.0, abs=1e-4
    )


def test_reward_fn_loading_and_weighted_sum(tmp_path):
    f = tmp_path / "rw.py"
    f.write_text(
        "def has_yes(prompts, completions, **kw):\n"
        "    return [1.0 if 'yes' in c[0]['content'] else 0.0 for c in completions]\n"
        "def abstain(prompts, completions, **kw):\n    return [None] * len(completions)\n"
    )
    yes = load_reward_fn(f"{f}:has_yes")
    none = load_reward_fn(f"{f}:abstain")
    total, means = score([yes, none], [2.0, 1.0], [[{"role": "user", "content": "q"}]] * 2, ["yes!", "no"])
    assert total.tolist() == [2.0, 0.0] and means["has_yes"] == 0.5
    assert load_reward_fn("math:sqrt") is math.sqrt
    for bad in ("nocolon", "no_such_module_xyz:f", f"{f}:missing", f"{tmp_path}/absent.py:f"):
        with pytest.raises(ConfigError):
            load_reward_fn(bad)
