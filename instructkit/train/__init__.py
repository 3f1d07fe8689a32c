"""Training: the tiny offline model, sft, reward and rlhf (TRL stable trainers; PPO is ours)."""
