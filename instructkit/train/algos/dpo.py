"""``--algo dpo``: Direct Preference Optimization (Rafailov et al. 2023, arXiv:2305.18290), TRL's
``DPOTrainer``, on ``preference`` sets, with its loss variants (IPO, robust, APO, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.train.algos import register
from instructkit.train.algos._trl import OfflineAlgorithm, OfflineParams

# Loss names of the stable TRL 1.16 DPOConfig, checked before TRL sees them.
DPO_LOSSES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)


@dataclass(kw_only=True)
class DPOParams(OfflineParams):
    LOSSES = DPO_LOSSES

    loss_type: list[str] = field(
        default_factory=lambda: ["sigmoid"],
        metadata={"help": f"DPO loss(es): {', '.join(DPO_LOSSES)}; several are summed with loss_weights."},
    )
    loss_weights: list[float] | None = field(default=None, metadata={"help": "Weights when several losses are given."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Robust DPO / EXO label smoothing."})
    truncation_mode: str = field(
        default="keep_start", metadata={"help": "keep_start or keep_end when over max_length."}
    )
    use_weighting: bool = field(default=False, metadata={"help": "WPO weighting."})


@register
class DPO(OfflineAlgorithm):
    name = "dpo"
    params = DPOParams
    kinds = frozenset({"preference"})
    config_name, trainer_name = "DPOConfig", "DPOTrainer"

    def rows(self, records: list[dict]) -> list[dict]:
        from instructkit.train.data import preference_rows

        return preference_rows(records)

    def config_kwargs(self, p: DPOParams) -> dict[str, Any]:
        return {
            **super().config_kwargs(p),
            "loss_type": list(p.loss_type),
            "loss_weights": p.loss_weights,
            "label_smoothing": p.label_smoothing,
            "truncation_mode": p.truncation_mode,
            "use_weighting": p.use_weighting,
            "padding_free": False,
            "ld_alpha": None,
        }
