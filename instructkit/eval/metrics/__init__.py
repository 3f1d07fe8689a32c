"""Eval metrics, one module each, discovered here: adding a metric is ``NAME.py`` plus its test.

Each module registers a ``Metric`` (``instructkit/eval/base.py``) that says what it needs (a reward
model, the judge, preference sets, ...) and supplies its results, report.md section and plots.
``instructkit eval`` runs every metric whose needs are met, or the ones named with ``--metrics``.

The reference-metric and length functions (``bleu``, ``rouge_l``, ...) live in ``eval/text.py`` and
stay importable from here.
"""

from __future__ import annotations

import importlib
import pkgutil

from instructkit.eval.base import METRICS, NEEDS, Metric
from instructkit.eval.text import (  # noqa: F401  (the public names of the old eval.metrics module)
    bleu,
    describe,
    exact_match,
    lcs_length,
    length_stats,
    normalise,
    reference_metrics,
    rouge_l,
)


def all_metrics() -> dict[str, type[Metric]]:
    """Every registered metric by name, in run and report order (imports this package's modules once)."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    return dict(sorted(METRICS.items(), key=lambda kv: (kv[1].order, kv[0])))


def print_metrics() -> None:
    """``instructkit eval --list-metrics``: every metric, what it needs and what it does."""
    from instructkit.cli.common import print_table

    rows = []
    for name, cls in all_metrics().items():
        needs = ", ".join(f"{n} ({NEEDS[n]})" if NEEDS[n].startswith("--") else n for n in sorted(cls.needs))
        uses = ", ".join(sorted(cls.uses))
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows.append((name, needs or "-", uses or "-", doc))
    print_table(
        "eval metrics (run when their needs are met, or pick with --metrics)",
        rows,
        ("metric", "needs", "uses when present", ""),
    )
