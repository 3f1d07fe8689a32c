"""Our own PPO for language models (TRL 1.x has none): rollouts, KL-shaped rewards, GAE, clipped losses.

One file per job: ``config`` (every knob), ``rollout`` (generate, EOS/truncation masks), ``rewards``
(reward model, reward functions, running normalisation), ``kl`` (per-token penalty and controllers),
``gae`` (advantages), ``losses`` (clipped policy/value losses, entropy), ``value`` (the value head),
``critic`` (a separate value model, ``critic=separate``),
``trainer`` (the loop, checkpoints, resume), ``evaluate`` (held-out reward and KL of any model).

References: Schulman et al. 2017 (PPO, arXiv:1707.06347), Schulman et al. 2016 (GAE, arXiv:1506.02438),
Ziegler et al. 2019 (fine-tuning LMs from human preferences, arXiv:1909.08593), Ouyang et al. 2022
(InstructGPT, arXiv:2203.02155).
"""
