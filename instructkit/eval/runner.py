"""The ``instructkit eval`` pipeline: load sets, run each model, score, judge, write the report.

Order of work (one model in memory at a time, then the reward model, then the judge):

1. Read the sets: ``sft`` records give perplexity conversations, prompts (everything before the last
   assistant turn) and references (the last assistant turn); ``prompt``/``feedback`` give prompts;
   ``preference`` gives prompts and pairs for reward-model accuracy.
2. Each model (and the reference): perplexity on the sft sets, batched seeded greedy generation on
   every prompt, BLEU / ROUGE-L / exact match where there is a reference, length statistics.
3. The reward model: a reward per generation, each model's win rate against the reference (raw with
   ties and a bootstrap interval, and length-controlled), RewardBench accuracy on preference sets.
4. The judge (``--judge-url``): MT-Bench 1-10 grades of every model, both-order pairwise against the
   reference.
5. ``report.json``, ``report.md``, ``generations.jsonl`` and plots, written atomically.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

from instructkit import stage
from instructkit.errors import ConfigError, InputError


@dataclass(kw_only=True)
class EvalParams:
    """Everything ``instructkit eval`` can be told (see docs/eval.md).

    Attributes:
        models: Model directories to evaluate.
        data: Shard sets (sft, prompt, preference, feedback).
        reference: The model the others are compared with (win rates, pairwise judge).
        reward_model: A one-output sequence-classification model for rewards and win rates.
        max_new_tokens: Generation length cap per prompt.
        batch_size: Batch size for generation, perplexity and reward scoring.
        seed: Seed for sampling (generation is greedy) and the bootstraps.
        max_examples: Use at most this many records of each set (None: all).
        n_boot: Bootstrap resamples for the 95% intervals.
        tie_margin: Reward differences at most this large count as ties.
        judge_url: OpenAI-compatible server of the judge model (None: no judge).
        judge_model: The judge's model name on that server (None: the only one it lists).
        judge_api_key_env: Environment variable with the judge's API key (never stored).
        judge_max_requests: Request budget for the judge (None: unlimited).
        judge_max_new_tokens: Judgment length.
        lm_eval: Comma-separated lm-evaluation-harness tasks (None: skip).
        lm_eval_include: Directory of local lm-eval task files (offline use).
        trust_remote_code: Allow models' own Python code.
        device: cpu / cuda / cuda:N (None: cuda when available).
    """

    models: list[str]
    data: list[str]
    reference: str | None = None
    reward_model: str | None = None
    max_new_tokens: int = 128
    batch_size: int = 8
    seed: int = 0
    max_examples: int | None = None
    n_boot: int = 1000
    tie_margin: float = 0.0
    judge_url: str | None = None
    judge_model: str | None = None
    judge_api_key_env: str = "OPENAI_API_KEY"
    judge_max_requests: int | None = None
    judge_max_new_tokens: int = 512
    lm_eval: str | None = None
    lm_eval_include: str | None = None
    trust_remote_code: bool = False
    device: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Item:
    """One prompt to generate for."""

    set: str
    id: str
    prompt: list[dict]
    reference: str | None


def _check(p: EvalParams) -> None:
    if not p.models:
        raise ConfigError("no --model given", hint="pass at least one model directory: --model out/sft")
    if not p.data:
        raise ConfigError("no --data given", hint="pass at least one shard set: --data out/filter")
    for name, value in (("max_new_tokens", p.max_new_tokens), ("batch_size", p.batch_size), ("n_boot", p.n_boot)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if p.max_examples is not None and p.max_examples < 1:
        raise ConfigError(f"max_examples must be at least 1, got {p.max_examples}")
    if p.judge_model and not p.judge_url:
        raise ConfigError("--judge-model given without --judge-url", hint="add --judge-url http://host:port")
    if p.lm_eval and importlib.util.find_spec("lm_eval") is None:
        raise ConfigError(
            "--lm-eval needs lm-evaluation-harness, which is not installed",
            hint="install the extra: pip install 'lm-eval>=0.4' (then lm-eval tasks run offline "
            "with --lm-eval-include DIR of local task files)",
        )
    for path in p.models + [x for x in (p.reference, p.reward_model) if x]:
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


def _free(*objs) -> None:
    del objs
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is there whenever a model was loaded
        pass


def run_model(path: str, p: EvalParams, items: list[Item], sft: dict, label: str = "") -> tuple[dict, list[str]]:
    """Perplexity, generations, reference metrics and lengths of one model.

    Progress bars (``stage.progress_bar``, silent off a terminal) count conversations and prompts
    per batch: ``label: perplexity`` over every sft set, then ``label: generation``.
    """
    from instructkit.eval.metrics import length_stats, reference_metrics
    from instructkit.eval.perplexity import perplexity
    from instructkit.generation import LocalGenerator
    from instructkit.train.common import read_model_manifest

    label = label or str(path)
    gen = LocalGenerator(path, batch_size=p.batch_size, trust_remote_code=p.trust_remote_code, device=p.device)
    result: dict = {"path": str(path), "perplexity": {}, "reference_metrics": {}}
    if sft:
        with stage.progress_bar(f"{label}: perplexity", sum(len(c) for c in sft.values())) as advance:
            for name, convs in sft.items():
                result["perplexity"][name] = perplexity(
                    gen.model, gen.tokenizer, convs, batch_size=p.batch_size, advance=advance
                )
    prompts = [it.prompt for it in items]
    texts: list[str] = []
    with stage.progress_bar(f"{label}: generation", len(prompts)) as advance:
        # One generator batch per call, seeded as the generator seeds its own batches (seed + batch
        # index), so the texts are the same as one call with every prompt.
        for b, start in enumerate(range(0, len(prompts), p.batch_size)):
            batch = prompts[start : start + p.batch_size]
            texts.extend(gen.generate(batch, max_new_tokens=p.max_new_tokens, seed=p.seed + b))
            advance(len(batch))
    _free(gen)
    for name in dict.fromkeys(it.set for it in items):
        pairs = [
            (t, it.reference) for t, it in zip(texts, items, strict=True) if it.set == name and it.reference is not None
        ]
        if pairs:
            result["reference_metrics"][name] = reference_metrics([h for h, _ in pairs], [r for _, r in pairs])
    result["length"] = length_stats(texts)
    manifest = read_model_manifest(path)
    result["manifest"] = {k: manifest[k] for k in ("stage", "inputs", "metrics", "created") if k in manifest}
    result["log_history"] = manifest.get("log_history", [])
    return result, texts


def run_judge(p: EvalParams, items: list[Item], names: list[str], texts: dict, ref_name: str | None) -> dict:
    """MT-Bench grades per model and both-order pairwise verdicts against the reference."""
    from instructkit.eval.judge import Judge, question_text
    from instructkit.generation import make_generator

    gen = make_generator(
        p.judge_url, model=p.judge_model, api_key_env=p.judge_api_key_env, max_requests=p.judge_max_requests
    )
    judge = Judge(gen, max_new_tokens=p.judge_max_new_tokens, seed=p.seed)
    questions = [question_text(it.prompt) for it in items]
    out: dict = {"judge": None, "single": {}, "pairwise": {}}
    try:
        for name in names:
            out["single"][name] = judge.grade(questions, texts[name])
            if ref_name and name != ref_name:
                out["pairwise"][name] = judge.pairwise(
                    questions, texts[name], texts[ref_name], n_boot=p.n_boot, seed=p.seed
                )
    finally:
        gen.close()
    out["judge"] = gen.describe()  # after the work: it includes requests sent and token usage
    return out


def run_lm_eval(path: str, p: EvalParams) -> dict:  # pragma: no cover - needs the optional extra
    """Hand a model directory to lm-evaluation-harness and return its results."""
    import lm_eval

    kwargs = {
        "model": "hf",
        "model_args": f"pretrained={path},trust_remote_code={p.trust_remote_code}",
        "tasks": [t.strip() for t in p.lm_eval.split(",") if t.strip()],
        "batch_size": p.batch_size,
        "random_seed": p.seed,
    }
    if p.lm_eval_include:
        from lm_eval.tasks import TaskManager

        kwargs["task_manager"] = TaskManager(include_path=p.lm_eval_include)
    if p.device:
        kwargs["device"] = p.device
    return lm_eval.simple_evaluate(**kwargs).get("results", {})


def evaluate(p: EvalParams, out: str | Path, *, force: bool = False, progress=None) -> Path:
    """Run the whole evaluation and write the report directory ``out`` (atomically); returns it."""
    from transformers.utils import logging as hf_logging

    from instructkit.eval import report as report_mod
    from instructkit.eval.metrics import describe
    from instructkit.eval.rewardbench import RewardScorer, preference_accuracy
    from instructkit.eval.winrate import compare

    say = progress or (lambda msg: None)
    _check(p)
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load is noise here
    report_mod.check_target(out, force=force)
    sets, items, sft, prefs = load_data(p.data, p.max_examples)
    paths = list(dict.fromkeys(p.models + ([p.reference] if p.reference else [])))
    names = model_names(paths)
    ref_name = names[paths.index(p.reference)] if p.reference else None
    models, texts = {}, {}
    for name, path in zip(names, paths, strict=True):
        say(f"model {name}: perplexity and {len(items)} generations")
        models[name], texts[name] = run_model(path, p, items, sft, label=name)
        models[name]["role"] = "reference" if name == ref_name else "model"
    rewards: dict[str, list[float]] = {}
    reward_section = None
    if p.reward_model:
        say(f"reward model {p.reward_model}")
        scorer = RewardScorer(
            p.reward_model, batch_size=p.batch_size, trust_remote_code=p.trust_remote_code, device=p.device
        )
        # One call for all models: the same reply to the same prompt gets exactly the same score.
        with stage.progress_bar("reward: scoring generations", len(names) * len(items)) as advance:
            flat = scorer.score_replies(
                [it.prompt for _ in names for it in items], [t for n in names for t in texts[n]], advance=advance
            )
        for i, name in enumerate(names):
            rewards[name] = flat[i * len(items) : (i + 1) * len(items)]
            models[name]["reward"] = describe(rewards[name])
        if ref_name:
            ref_len = [float(len(t)) for t in texts[ref_name]]
            for name in names:
                if name != ref_name:
                    models[name]["win_rate"] = compare(
                        rewards[name],
                        rewards[ref_name],
                        [float(len(t)) for t in texts[name]],
                        ref_len,
                        tie_margin=p.tie_margin,
                        n_boot=p.n_boot,
                        seed=p.seed,
                    )
        reward_section = {"path": str(p.reward_model), "preference_accuracy": {}}
        for set_name, records in prefs.items():
            with stage.progress_bar(f"reward: preference pairs of {set_name}", 2 * len(records)) as advance:
                acc = preference_accuracy(scorer, records, advance=advance)
            reward_section["preference_accuracy"][set_name] = {
                k: v for k, v in acc.items() if not k.endswith("_scores")
            }
        _free(scorer)
    judge_section = None
    if p.judge_url:
        say(f"judge at {p.judge_url}")
        judge_section = run_judge(p, items, names, texts, ref_name)
    if p.lm_eval:
        for name, path in zip(names, paths, strict=True):
            say(f"lm-eval {p.lm_eval} on {name}")
            models[name]["lm_eval"] = run_lm_eval(path, p)
    params = {k: v for k, v in dataclasses.asdict(p).items() if k != "extra"}
    report = report_mod.build(
        params=params,
        sets=sets,
        models=models,
        names=names,
        reference=ref_name,
        reward=reward_section,
        judge=judge_section,
    )
    generations = [
        {
            "set": it.set,
            "id": it.id,
            "model": name,
            "prompt": it.prompt,
            "generation": texts[name][i],
            "reference": it.reference,
            "reward": rewards[name][i] if rewards else None,
        }
        for name in names
        for i, it in enumerate(items)
    ]
    say("writing the report")
    return report_mod.write(
        out, report, generations=generations, rewards=rewards, texts=texts, judge=judge_section, force=force
    )
