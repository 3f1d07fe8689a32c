"""The eval metric family: the ``Metric`` hooks, what a metric may need, and the shared context.

A metric is one class in ``instructkit/eval/metrics/NAME.py``, registered with
``@register_metric("NAME")``; the package is scanned (``metrics.all_metrics``), so adding a metric is
that file and its test. A metric declares what it ``needs`` (all must be there for it to run by
default) and what it ``uses`` when present, and fills in hooks:

- ``per_model(ctx, name, model, tokenizer)``: while each model's weights are loaded (needs ``model``);
- ``compute(ctx)``: after every model generated; writes ``ctx.results[model][key]`` (report.json's
  ``results``), ``ctx.sections[key]`` (top-level report.json keys) and ``ctx.files`` (extra JSON files);
- ``markdown(report)``: its report.md section, from report.json alone;
- ``plots(ctx, save)``: PNG plots, ``save(fig, "name.png")``;
- ``headline(report)``: a few rows for the end-of-stage table.

Expensive shared work is done once, on first use, by the context: the reward model is loaded once
(``ctx.scorer()``), generations are scored once (``ctx.rewards()``) and each preference set's pairs
once (``ctx.preference_result(set)``), whichever metrics ask.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from instructkit import stage

# What a metric can need, and where it comes from (--list-metrics shows these).
NEEDS: dict[str, str] = {
    "model": "each model's weights (logits), while it is loaded",
    "generations": "each model's greedy reply to every prompt",
    "conversations": "sft sets in --data (whole conversations)",
    "references": "sft sets in --data (the last assistant turn is the reference)",
    "preferences": "preference sets in --data (chosen and rejected replies)",
    "reference_model": "--reference",
    "reward_model": "--reward-model",
    "judge": "--judge-url",
    "lm_eval": "--lm-eval TASKS",
}


class Metric:
    """Base of eval metrics. Subclasses set ``needs``/``uses``/``order`` and override hooks."""

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    uses: ClassVar[frozenset[str]] = frozenset()
    order: ClassVar[int] = 50  # run and report order (shared resources are lazy: any order works)

    def per_model(self, ctx: EvalContext, name: str, model: Any, tokenizer: Any) -> None:
        """Called once per model while its weights are in memory (for ``needs = {"model", ...}``)."""

    def compute(self, ctx: EvalContext) -> None:
        """Called once, after every model generated."""

    def markdown(self, report: dict) -> list[str]:
        """This metric's lines of report.md (from report.json alone)."""
        return []

    def plots(self, ctx: EvalContext, save: Callable[[Any, str], None]) -> None:
        """Draw PNG plots; ``save(fig, "name.png")`` writes and closes each one."""

    def headline(self, report: dict) -> dict[str, str]:
        """A few rows for the end-of-stage table."""
        return {}


METRICS: dict[str, type[Metric]] = {}


def register_metric(name: str) -> Callable[[type[Metric]], type[Metric]]:
    """Class decorator: register a metric under ``name`` (the key of ``--metrics``)."""

    def wrap(cls: type[Metric]) -> type[Metric]:
        unknown = (cls.needs | cls.uses) - NEEDS.keys()
        if unknown:  # pragma: no cover - a metric author's mistake
            raise ValueError(f"metric {name!r} needs unknown {sorted(unknown)}; known: {', '.join(NEEDS)}")
        cls.name = name
        METRICS[name] = cls
        return cls

    return wrap


@dataclass
class EvalContext:
    """What metrics read and write during one evaluation.

    Attributes:
        params: The ``EvalParams``.
        items: Prompts to generate for (``runner.Item``: set, id, prompt, reference).
        conversations: sft conversations by set (perplexity).
        preferences: preference records by set.
        names: Model labels, in report column order (the reference included).
        paths: Their paths or hub ids.
        reference: The reference model's label, or None.
        texts: Generations by model label, aligned with ``items``.
        manifests: Each model's manifest.json (``{}`` when it has none).
        results: report.json ``results``: per model label, a dict of metric keys.
        sections: Top-level report.json keys (``reward_model``, ``judge``, ...).
        files: Extra JSON files written into the report directory (``judgments.json``).
        say: Status-line callback.
    """

    params: Any
    items: list
    conversations: dict[str, list]
    preferences: dict[str, list]
    names: list[str]
    paths: list[str]
    reference: str | None
    texts: dict[str, list[str]] = field(default_factory=dict)
    manifests: dict[str, dict] = field(default_factory=dict)
    results: dict[str, dict] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    say: Callable[[str], None] = lambda msg: None
    _scorer: Any = None
    _rewards: dict[str, list[float]] | None = None
    _pref: dict[str, dict] = field(default_factory=dict)

    def scorer(self):
        """The reward model (``RewardScorer``), loaded on first use."""
        if self._scorer is None:
            from instructkit.eval.rewardbench import RewardScorer

            p = self.params
            self.say(f"reward model {p.reward_model}")
            self._scorer = RewardScorer(
                p.reward_model, batch_size=p.batch_size, trust_remote_code=p.trust_remote_code, device=p.device
            )
        return self._scorer

    def rewards(self) -> dict[str, list[float]]:
        """The reward of every generation, by model label (scored once)."""
        if self._rewards is None:
            n = len(self.items)
            with stage.progress_bar("reward: scoring generations", len(self.names) * n) as advance:
                # One call for all models: the same reply to the same prompt gets exactly the same score.
                flat = self.scorer().score_replies(
                    [it.prompt for _ in self.names for it in self.items],
                    [t for name in self.names for t in self.texts[name]],
                    advance=advance,
                )
            self._rewards = {name: flat[i * n : (i + 1) * n] for i, name in enumerate(self.names)}
        return self._rewards

    def preference_result(self, set_name: str) -> dict:
        """RewardBench accuracy of one preference set, with ``chosen_scores``/``rejected_scores`` (scored once)."""
        if set_name not in self._pref:
            from instructkit.eval.rewardbench import preference_accuracy

            records = self.preferences[set_name]
            with stage.progress_bar(f"reward: preference pairs of {set_name}", 2 * len(records)) as advance:
                self._pref[set_name] = preference_accuracy(self.scorer(), records, advance=advance)
        return self._pref[set_name]

    def reward_section(self) -> dict:
        """report.json's ``reward_model`` section (created with the reward model's path)."""
        return self.sections.setdefault("reward_model", {"path": str(self.params.reward_model)})

    def release_scorer(self) -> None:
        """Free the reward model (before the judge or lm-eval load anything else)."""
        if self._scorer is not None:
            self._scorer = None
            free_memory()


def free_memory() -> None:
    """Collect garbage and return cached GPU memory (between models: one in memory at a time)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is there whenever a model was loaded
        pass


# --- report.md helpers shared by the metrics -------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: ``-`` for None, floats to ``digits`` places."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ci(section: dict | None) -> str:
    """``0.625 [0.400, 0.800]`` from ``{"win_rate", "ci"}``; ``-`` when missing."""
    if not section or section.get("win_rate") is None:
        return "-"
    lo, hi = section["ci"]
    interval = f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""
    return f"{section['win_rate']:.3f}{interval}"


def model_table(title: str, report: dict, rows: list[tuple[str, list[str]]]) -> list[str]:
    """A ``## title`` table with one column per model (the reference marked); nothing without rows."""
    if not rows:
        return []
    cols = [f"{n} (reference)" if n == report["reference"] else n for n in report["models"]]
    lines = [f"## {title}", "", "| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return lines + [""]


def model_cells(report: dict, key: str) -> list[dict]:
    """``results[name][key]`` for every model in column order (``{}`` where absent)."""
    return [report["results"][n].get(key) or {} for n in report["models"]]
