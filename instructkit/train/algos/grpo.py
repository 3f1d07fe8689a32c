"""``--algo grpo``: Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath, arXiv:2402.03300),
TRL's ``GRPOTrainer``: advantages are rewards normalised within each prompt's group of completions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.algos import register
from instructkit.train.algos._trl import OnlineAlgorithm, OnlineParams

# Loss names of the stable TRL 1.16 GRPOConfig, checked before TRL sees them.
GRPO_LOSSES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALES = ("group", "batch", "none")


@dataclass(kw_only=True)
class GRPOParams(OnlineParams):
    LOSSES = GRPO_LOSSES

    loss_type: str = field(default="dapo", metadata={"help": f"One of {', '.join(GRPO_LOSSES)}."})
    scale_rewards: str = field(default="group", metadata={"help": "group, batch or none (Dr. GRPO)."})

    def __post_init__(self) -> None:
        if self.scale_rewards not in SCALES:
            raise ConfigError(f"scale_rewards must be one of {', '.join(SCALES)}, got {self.scale_rewards!r}")
        super().__post_init__()


@register
class GRPO(OnlineAlgorithm):
    name = "grpo"
    params = GRPOParams
    config_name, trainer_name = "GRPOConfig", "GRPOTrainer"

    def config_kwargs(self, p: GRPOParams) -> dict[str, Any]:
        return {**super().config_kwargs(p), "loss_type": p.loss_type, "scale_rewards": p.scale_rewards}
