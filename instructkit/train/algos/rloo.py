"""``--algo rloo``: REINFORCE Leave-One-Out (Ahmadian et al. 2024, arXiv:2402.14740), TRL's
``RLOOTrainer``: each completion's baseline is the mean reward of the other completions of its prompt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.train.algos import register
from instructkit.train.algos._trl import OnlineAlgorithm, OnlineParams


@dataclass(kw_only=True)
class RLOOParams(OnlineParams):
    normalize_advantages: bool = field(default=False, metadata={"help": "Whiten the leave-one-out advantages."})


@register
class RLOO(OnlineAlgorithm):
    name = "rloo"
    params = RLOOParams
    config_name, trainer_name = "RLOOConfig", "RLOOTrainer"

    def config_kwargs(self, p: RLOOParams) -> dict[str, Any]:
        return {**super().config_kwargs(p), "normalize_advantages": p.normalize_advantages}
