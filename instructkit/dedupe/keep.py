"""Keeper policies: which record of a duplicate cluster survives (``--keep``)."""

from __future__ import annotations

import math

import numpy as np

from instructkit.errors import ConfigError


def parse_keep(spec: str) -> tuple[str, str | None]:
    """``first`` | ``longest`` | ``highest:<meta key>`` -> ``(policy, meta key or None)``.

    A dotted key (``highest:scores.quality``) reads a nested value of ``meta``.
    """
    if spec in ("first", "longest"):
        return spec, None
    if spec.startswith("highest:") and spec[len("highest:") :].strip():
        return "highest", spec[len("highest:") :].strip()
    raise ConfigError(
        f"unknown --keep {spec!r}", hint="use first, longest or highest:<meta key> (e.g. highest:quality)"
    )


def meta_value(record: dict, key: str) -> float:
    """The numeric ``meta`` value at a dotted ``key``; -inf when missing or not a number."""
    value = record.get("meta") or {}
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return -math.inf
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return -math.inf
    return float(value)


def priority(members: np.ndarray, policy: str, lengths: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """``members`` sorted best-first under ``policy``; ties go to the earlier record (input order).

    Args:
        members: Record indices of one cluster.
        policy: ``first``, ``longest`` or ``highest``.
        lengths: Characters of the compared text, per record.
        values: The meta value per record (``highest`` only).
    """
    members = np.sort(np.asarray(members))
    if policy == "first":
        return members
    score = lengths[members] if policy == "longest" else values[members]
    return members[np.lexsort((members, -score.astype(np.float64)))]
