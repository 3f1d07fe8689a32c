"""Records -> ``datasets.Dataset`` in the shapes TRL's trainers read (DESIGN.md section 2).

- sft: language-modelling, conversational: ``{"messages": [...]}``.
- reward: preference with an explicit prompt, conversational: ``{"prompt", "chosen", "rejected"}``
  plus an optional ``margin`` column (RewardTrainer subtracts it inside the Bradley-Terry loss,
  ``-log sigmoid(r_c - r_r - margin)``, as in Llama 2, Touvron et al. 2023, section 3.2.2).
"""

from __future__ import annotations

from instructkit.errors import ConfigError, InputError
from instructkit.train.checks import training_messages

MARGIN_POLICIES = ("none", "meta")


def sft_dataset(records: list[dict]):
    """A ``datasets.Dataset`` with one ``messages`` column (role, content[, tool_calls])."""
    from datasets import Dataset

    return Dataset.from_list([{"messages": training_messages(r["messages"])} for r in records])


def _side(msgs: list[dict]) -> list[tuple]:
    return [(m.get("role"), (m.get("content") or "").strip(), m.get("tool_calls")) for m in msgs]


def drop_identical_pairs(records: list[dict]) -> tuple[list[dict], int]:
    """``(records without the pairs whose chosen and rejected are the same, how many were dropped)``.

    Such a pair carries no preference: its Bradley-Terry / DPO loss is a constant (log 2) with a zero
    gradient on what separates answers, so it only dilutes the batch. Compared by role, content (stripped
    of surrounding whitespace) and tool calls; records of other kinds pass through.
    """
    kept = [r for r in records if "chosen" not in r or _side(r["chosen"]) != _side(r.get("rejected") or [])]
    if records and not kept:
        raise InputError(
            f"every one of the {len(records)} preference pairs has chosen == rejected: nothing to learn from",
            hint="check the binarisation (annotate-import --binarize) or the columns mapped at ingest",
        )
    return kept, len(records) - len(kept)


def margin_of(record: dict) -> float | None:
    """The preference margin a record carries: ``meta.margin``, or ``meta.annotate.margin`` (annotate-import
    binarisation: a rating difference, a Borda difference or a vote share), else None."""
    meta = record.get("meta") or {}
    for value in (meta.get("margin"), (meta.get("annotate") or {}).get("margin")):
        if value is not None:
            try:
                return float(value)
            except (TypeError, ValueError):
                raise InputError(f"record {record.get('id')}: meta margin {value!r} is not a number") from None
    return None


def preference_rows(records: list[dict], *, margins: str = "none", margin_scale: float = 1.0) -> list[dict]:
    """Rows ``{"prompt", "chosen", "rejected"[, "margin"]}`` for RewardTrainer.

    Args:
        records: ``preference`` records.
        margins: ``none`` (plain Bradley-Terry) or ``meta`` (use each record's margin times
            ``margin_scale``; a record without one gets 0).
        margin_scale: Multiplier from the margin's unit (rating points, vote share) to reward units.

    Raises:
        ConfigError: ``margins=meta`` but no record carries a margin.
    """
    if margins not in MARGIN_POLICIES:
        raise ConfigError(f"margins must be one of {', '.join(MARGIN_POLICIES)}, got {margins!r}")
    rows = []
    found = 0
    for r in records:
        row = {
            "prompt": training_messages(r["prompt"]),
            "chosen": training_messages(r["chosen"]),
            "rejected": training_messages(r["rejected"]),
        }
        if margins == "meta":
            m = margin_of(r)
            found += m is not None
            row["margin"] = (m or 0.0) * margin_scale
        rows.append(row)
    if margins == "meta" and not found:
        raise ConfigError(
            "margins=meta but no record carries meta.margin or meta.annotate.margin",
            hint="use margins=none, or binarise ratings with annotate-import --binarize",
        )
    return rows


def preference_dataset(records: list[dict], *, margins: str = "none", margin_scale: float = 1.0):
    """A ``datasets.Dataset`` of :func:`preference_rows`."""
    from datasets import Dataset

    return Dataset.from_list(preference_rows(records, margins=margins, margin_scale=margin_scale))
