"""``--algo kto``: Kahneman-Tversky Optimization (Ethayarajh et al. 2024, arXiv:2402.01306), TRL's
``KTOTrainer``, on preference pairs (each gives a desirable and an undesirable row) or on unpaired
``prompt`` + ``completion`` + ``label`` records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import InputError
from instructkit.train.algos import register
from instructkit.train.algos._trl import OfflineAlgorithm, OfflineParams, messages

KTO_LOSSES = ("kto", "apo_zero_unpaired")


@dataclass(kw_only=True)
class KTOParams(OfflineParams):
    LOSSES = KTO_LOSSES

    beta: float = field(default=0.1, metadata={"help": "Deviation from the reference."})
    loss_type: str = field(default="kto", metadata={"help": f"One of {', '.join(KTO_LOSSES)}."})
    desirable_weight: float = field(default=1.0, metadata={"help": "Weight of desirable (label true) examples."})
    undesirable_weight: float = field(default=1.0, metadata={"help": "Weight of undesirable (label false) examples."})


def unpaired_rows(records: list[dict]) -> list[dict]:
    """KTO rows ``prompt``, ``completion``, ``label``: a preference pair gives a desirable and an undesirable
    row; a ``prompt`` record with ``completion`` and ``label`` (ingest's unpaired form) gives one."""
    rows = []
    for r in records:
        if "chosen" in r:
            rows.append({"prompt": messages(r["prompt"]), "completion": messages(r["chosen"]), "label": True})
            rows.append({"prompt": messages(r["prompt"]), "completion": messages(r["rejected"]), "label": False})
        elif "completion" in r and "label" in r:
            rows.append(
                {"prompt": messages(r["prompt"]), "completion": messages(r["completion"]), "label": bool(r["label"])}
            )
        else:
            raise InputError(
                f"kto: record {r.get('id')} is a prompt without 'completion' and 'label'",
                hint="pass preference sets or unpaired sets (prompt, completion, label)",
            )
    return rows


@register
class KTO(OfflineAlgorithm):
    name = "kto"
    params = KTOParams
    kinds = frozenset({"preference", "prompt"})
    config_name, trainer_name = "KTOConfig", "KTOTrainer"

    def rows(self, records: list[dict]) -> list[dict]:
        return unpaired_rows(records)

    def config_kwargs(self, p: KTOParams) -> dict[str, Any]:
        return {
            **super().config_kwargs(p),
            "loss_type": p.loss_type,
            "desirable_weight": p.desirable_weight,
            "undesirable_weight": p.undesirable_weight,
        }
