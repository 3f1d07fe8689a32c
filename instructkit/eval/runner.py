"""The ``eval`` stage: load the sets, run each model once, run the enabled metrics, write the report.

Order of work (one model in memory at a time, then the reward model, then the judge):

1. Read the sets: ``sft`` records give perplexity conversations, prompts (everything before the last
   assistant turn) and references (the last assistant turn); ``prompt``/``feedback`` give prompts;
   ``preference`` gives prompts and pairs for reward-model metrics.
2. Pick the metrics (``eval/metrics/``, one module each): those named by ``metrics``, else every one
   whose needs (``eval/base.py``: a reward model, the judge, preference sets, ...) are met.
3. Each model (and the reference) is loaded once: metrics that need its weights run (perplexity),
   then batched seeded greedy generation on every prompt.
4. Every metric computes from the generations; the reward model and the judge are loaded or called
   on first use and shared (each generation and each preference pair is scored once).
5. ``report.json``, ``report.md`` (each metric's section), ``generations.jsonl`` and plots, written
   atomically.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from instructkit import stage
from instructkit.errors import ConfigError, InputError
from instructkit.registry import Result

if TYPE_CHECKING:
    from instructkit.eval.base import Metric


def _h(text: str, **more) -> dict:
    return {"help": text, **more}


@dataclass(kw_only=True)
class EvalParams:
    """Every knob of ``instructkit eval`` (flags, ``--set``/YAML keys, recipe params); see docs/eval.md.

    The ``--data`` sets are the stage's inputs, not a field.
    """

    model: list[str] = field(
        metadata=_h(
            "Model directory or hub id to evaluate (repeatable: every model gets a column in the report)",
            flags=("-m",),
        )
    )
    reference: str | None = field(
        default=None,
        metadata=_h("Reference model: win rates and pairwise judging compare each model with it", flags=("-r",)),
    )
    reward_model: str | None = field(
        default=None,
        metadata=_h(
            "Reward model (one-output sequence classifier, e.g. from 'instructkit reward') that scores "
            "generations and preference pairs"
        ),
    )
    metrics: list[str] = field(
        default_factory=list,
        metadata=_h("Metrics to run (default: every metric whose needs are met; see --list-metrics)"),
    )
    max_new_tokens: int = field(default=128, metadata=_h("Generation length cap per prompt (tokens)"))
    batch_size: int = field(default=8, metadata=_h("Batch size for generation, perplexity and reward scoring"))
    seed: int = field(default=0, metadata=_h("Seed for the bootstrap intervals and the judge (generation is greedy)"))
    max_examples: int | None = field(default=None, metadata=_h("Use at most this many records of each --data set"))
    n_boot: int = field(default=1000, metadata=_h("Bootstrap resamples for 95% intervals"))
    tie_margin: float = field(default=0.0, metadata=_h("Reward differences up to this count as ties in win rates"))
    judge_url: str | None = field(
        default=None,
        metadata={
            **_h(
                "The judge (MT-Bench grading and both-order pairwise): an OpenAI-compatible server URL, or a "
                "local model directory run in this process"
            ),
            "flags": ("--judge",),
        },
    )
    judge_mode: Literal["auto", "generate", "logprobs"] = field(
        default="auto",
        metadata=_h(
            "generate: the judge writes an explanation and [[rating]] (MT-Bench); logprobs: the rating or verdict "
            "is read from its next-token probabilities after 'Rating: [[' (G-Eval style; local judges only, "
            "never unparseable); auto: logprobs for a local directory, generate for a URL"
        ),
    )
    judge_model: str | None = field(
        default=None, metadata=_h("The judge's model name on that server (default: the only one it lists)")
    )
    judge_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata=_h("Environment variable holding the judge's API key (read at request time, never written)"),
    )
    judge_max_requests: int | None = field(default=None, metadata=_h("Request budget for the judge (retries count)"))
    judge_max_new_tokens: int = field(default=512, metadata=_h("Judgment length (tokens)"))
    lm_eval: list[str] = field(
        default_factory=list,
        metadata=_h("lm-evaluation-harness tasks to run on each model (needs: pip install lm-eval)"),
    )
    lm_eval_include: str | None = field(default=None, metadata=_h("Directory of local lm-eval task files (offline)"))
    trust_remote_code: bool = field(
        default=False, metadata=_h("Allow models' own Python code (off: it runs arbitrary code)")
    )
    device: str | None = field(default=None, metadata=_h("cpu, cuda or cuda:N (default: cuda when available)"))
    force: bool = field(default=False, metadata=_h("Replace an existing report directory", record=False))

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "batch_size", "n_boot", "judge_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_examples", "judge_max_requests"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.tie_margin < 0:
            raise ConfigError(f"tie_margin must be >= 0, got {self.tie_margin}")


@dataclass
class Item:
    """One prompt to generate for."""

    set: str
    id: str
    prompt: list[dict]
    reference: str | None


def _check(p: EvalParams) -> None:
    if not p.model:
        raise ConfigError("no --model given", hint="pass at least one model directory: --model out/sft")
    from instructkit.generation import is_url

    if p.judge_mode == "logprobs" and p.judge_url and is_url(p.judge_url):
        raise ConfigError(
            "--judge-mode logprobs needs a local judge model directory, not a URL",
            hint="use --judge-mode generate for a server, or --judge DIR",
        )
    if p.judge_model and not p.judge_url:
        raise ConfigError("--judge-model given without --judge-url", hint="add --judge-url http://host:port")
    if p.lm_eval and importlib.util.find_spec("lm_eval") is None:
        raise ConfigError(
            "--lm-eval needs lm-evaluation-harness, which is not installed",
            hint="install the extra: pip install 'lm-eval>=0.4' (then lm-eval tasks run offline "
            "with --lm-eval-include DIR of local task files)",
        )
    local_judge = [p.judge_url] if p.judge_url and not is_url(p.judge_url) else []
    for path in p.model + [x for x in (p.reference, p.reward_model) if x] + local_judge:
        # A hub id ("org/name", no such local org dir) loads from the Hub or its cache, as in sft/reward/rlhf.
        if not Path(path).is_dir() and not (HUB_ID.fullmatch(str(path)) and not Path(path).parent.exists()):
            raise InputError(
                "model directory not found",
                file=str(path),
                hint="pass a directory written by sft/reward/rlhf, a hub id, or: instructkit model tiny OUT",
            )
    if p.reward_model:  # fail before hours of generation, not after
        from instructkit.eval.rewardbench import check_reward_model

        check_reward_model(p.reward_model, trust_remote_code=p.trust_remote_code)


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def model_names(paths: list[str]) -> list[str]:
    """Short unique labels for model paths: the directory name, with its parent when names clash."""
    # `instructkit run` names model dirs by cache key (models/sft/90f943d1cc0a): label those "sft".
    names = [
        Path(p).parent.name if re.fullmatch(r"[0-9a-f]{12}", Path(p).name) else (Path(p).name or str(p)) for p in paths
    ]
    if len(set(names)) < len(names):
        names = [f"{Path(p).parent.name}/{Path(p).name}" for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def load_data(paths: list[str], max_examples: int | None) -> tuple[list[dict], list[Item], dict, dict]:
    """Sets' descriptions, prompts to generate for, sft conversations and preference records by set."""
    from instructkit.records import kind_of, prompt_of, response_of
    from instructkit.shards import ShardSet

    sets, items, sft, prefs = [], [], {}, {}
    for path in paths:
        s = ShardSet(path)
        name = str(path)
        used = 0
        for record in s:
            if max_examples is not None and used >= max_examples:
                break
            used += 1
            kind = kind_of(record)
            if kind == "sft":
                sft.setdefault(name, []).append(record["messages"])
                items.append(Item(name, record["id"], prompt_of(record), response_of(record)))
            else:
                items.append(Item(name, record["id"], record["prompt"], None))
                if kind == "preference":
                    prefs.setdefault(name, []).append(record)
        sets.append(
            {
                "path": name,
                "resolved": str(s.path),
                "kind": s.kind,
                "fingerprint": s.fingerprint,
                "records": len(s),
                "used": used,
            }
        )
    if not items:
        raise InputError("the --data sets hold no records", hint="check the paths with: instructkit stats SET")
    return sets, items, sft, prefs


def available(p: EvalParams, items: list[Item], conversations: dict, prefs: dict) -> set[str]:
    """The needs (``base.NEEDS``) these params and sets meet."""
    have = {"model", "generations"}
    flags = {
        "conversations": bool(conversations),
        "references": any(it.reference is not None for it in items),
        "preferences": bool(prefs),
        "reference_model": bool(p.reference),
        "reward_model": bool(p.reward_model),
        "judge": bool(p.judge_url),
        "lm_eval": bool(p.lm_eval),
    }
    return have | {need for need, ok in flags.items() if ok}


def select_metrics(p: EvalParams, have: set[str]) -> list[Metric]:
    """The metrics to run: those named in ``p.metrics`` (each must have its needs), else every one whose needs are met."""
    from instructkit.eval.base import NEEDS
    from instructkit.eval.metrics import all_metrics

    known = all_metrics()
    if not p.metrics:
        return [cls() for cls in known.values() if cls.needs <= have]
    unknown = [m for m in p.metrics if m not in known]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}", hint=f"metrics: {', '.join(known)}")
    for name in p.metrics:
        missing = sorted(known[name].needs - have)
        if missing:
            raise ConfigError(
                f"metric {name!r} needs {', '.join(missing)}",
                hint="; ".join(f"{m}: {NEEDS[m]}" for m in missing),
            )
    return [cls() for name, cls in known.items() if name in p.metrics]


def _status(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[dim]eval:[/] {msg}", soft_wrap=True)


def run(inputs: list[str], out: Path, p: EvalParams) -> Result:
    """Evaluate ``p.model`` on the ``inputs`` sets into the report directory ``out`` (the registered ``eval`` stage)."""
    path, report, metrics = evaluate(inputs, out, p, progress=_status)
    summary: dict[str, str] = {"models": ", ".join(report["models"]), "metrics": ", ".join(report["metrics"])}
    for metric in metrics:
        summary.update(metric.headline(report))
    summary["report"] = str(path / "report.md")
    return Result(path, {}, summary)


def _generate(gen, p: EvalParams, items: list[Item], label: str) -> list[str]:
    """Seeded greedy generations for every item, one generator batch per call (with a progress bar)."""
    prompts = [it.prompt for it in items]
    texts: list[str] = []
    with stage.progress_bar(f"{label}: generation", len(prompts)) as advance:
        # Seeded as the generator seeds its own batches (seed + batch index), so the texts are the
        # same as one call with every prompt.
        for b, start in enumerate(range(0, len(prompts), p.batch_size)):
            batch = prompts[start : start + p.batch_size]
            texts.extend(gen.generate(batch, max_new_tokens=p.max_new_tokens, seed=p.seed + b))
            advance(len(batch))
    return texts


def evaluate(
    inputs: list[str], out: str | Path, p: EvalParams, *, progress: Callable[[str], None] | None = None
) -> tuple[Path, dict, list[Metric]]:
    """Run the enabled metrics on every model and write the report directory ``out`` (atomically).

    Returns the report directory, the report.json document and the metrics that ran.
    """
    from transformers.utils import logging as hf_logging

    from instructkit.eval import report as report_mod
    from instructkit.eval.base import EvalContext, free_memory
    from instructkit.generation import LocalGenerator
    from instructkit.params import recorded
    from instructkit.train.common import read_model_manifest

    say = progress or (lambda msg: None)
    _check(p)
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load is noise here
    report_mod.check_target(out, force=p.force)
    sets, items, conversations, prefs = load_data(inputs, p.max_examples)
    metrics = select_metrics(p, available(p, items, conversations, prefs))
    paths = list(dict.fromkeys(p.model + ([p.reference] if p.reference else [])))
    names = model_names(paths)
    ref_name = names[paths.index(p.reference)] if p.reference else None
    ctx = EvalContext(
        params=p,
        items=items,
        conversations=conversations,
        preferences=prefs,
        names=names,
        paths=paths,
        reference=ref_name,
        say=say,
    )
    on_model = [m for m in metrics if "model" in m.needs]
    generate = any("generations" in m.needs | m.uses for m in metrics)
    for name, path in zip(names, paths, strict=True):
        ctx.results[name] = {"path": str(path), "role": "reference" if name == ref_name else "model"}
        if on_model or generate:
            work = [m.name for m in on_model] + ([f"{len(items)} generations"] if generate else [])
            say(f"model {name}: {' and '.join(work)}")
            gen = LocalGenerator(path, batch_size=p.batch_size, trust_remote_code=p.trust_remote_code, device=p.device)
            for metric in on_model:
                metric.per_model(ctx, name, gen.model, gen.tokenizer)
            if generate:
                ctx.texts[name] = _generate(gen, p, items, name)
            del gen
            free_memory()
        manifest = read_model_manifest(path)
        ctx.manifests[name] = manifest
        ctx.results[name]["manifest"] = {
            k: manifest[k] for k in ("stage", "inputs", "metrics", "created") if k in manifest
        }
    for i, metric in enumerate(metrics):
        metric.compute(ctx)
        if not any("reward_model" in m.needs for m in metrics[i + 1 :]):
            ctx.release_scorer()  # one model in memory at a time: free it before the judge / lm-eval
    report = report_mod.build(params=recorded(p), sets=sets, ctx=ctx, metrics=metrics)
    rewards = ctx.rewards() if ctx._rewards is not None else {}
    generations = [
        {
            "set": it.set,
            "id": it.id,
            "model": name,
            "prompt": it.prompt,
            "generation": ctx.texts[name][i],
            "reference": it.reference,
            "reward": rewards[name][i] if rewards else None,
        }
        for name in names
        if name in ctx.texts
        for i, it in enumerate(items)
    ]
    say("writing the report")
    path = report_mod.write(out, report, ctx=ctx, metrics=metrics, generations=generations, force=p.force)
    return path, report, metrics
