"""``annotate-simulate``: simulated annotators answer an exported tasks directory, as a Label Studio export.

For demos, tests and recipes that close the loop without people (``generate -> annotate-export ->
annotate-simulate -> annotate-import -> reward``), and for measuring selection strategies. It is not
a substitute for human judgments: the annotators only know the preference it is given.

Each response gets a utility: its length in characters (``--prefer longer``: a transparent, known
bias) or a reward model's score (``--prefer reward-model``). Every simulated annotator answers every
task (pairwise, ranking or rating) from the utilities plus their own noise: on a pair, the better
response wins with the Bradley-Terry probability ``sigmoid((u_i - u_j) / (noise * scale))`` (``scale``:
the spread of utilities in the item), a ranking sorts ``u + noise * scale * Gumbel``, a rating maps the
utility within its item onto ``1..max_rating`` after adding ``noise``-sized jitter. ``noise=0`` gives
a deterministic oracle. The output is ``OUT/export.json`` in Label Studio 1.23's JSON export format.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from instructkit.errors import ConfigError, InputError
from instructkit.registry import Result


@dataclass(kw_only=True)
class SimulateParams:
    """Every knob of ``instructkit annotate-simulate``."""

    prefer: Literal["longer", "reward-model"] = field(
        default="longer", metadata={"help": "What the annotators prefer: longer responses, or a reward model's."}
    )
    reward_model: str | None = field(default=None, metadata={"help": "With --prefer reward-model: the model."})
    annotators: int = field(default=3, metadata={"help": "Simulated annotators; each answers every task."})
    noise: float = field(
        default=0.3, metadata={"help": "Annotator noise relative to the spread of an item's utilities (0: oracle)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the annotators' noise."})

    def __post_init__(self) -> None:
        if self.annotators < 1:
            raise ConfigError(f"annotators must be at least 1, got {self.annotators}")
        if self.noise < 0:
            raise ConfigError(f"noise must be >= 0, got {self.noise}")
        if self.prefer == "reward-model" and not self.reward_model:
            raise ConfigError("--prefer reward-model needs --reward-model RM")


def utilities(items: list[dict], p: SimulateParams) -> dict[str, list[float]]:
    """Record id -> one utility per response."""
    if p.prefer == "longer":
        return {it["id"]: [float(len(r["content"])) for r in it["responses"]] for it in items}
    from instructkit.eval.rewardbench import RewardScorer

    scorer = RewardScorer(p.reward_model)
    prompts = [it["prompt"] for it in items for _ in it["responses"]]
    flat = scorer.score_replies(prompts, [r["content"] for it in items for r in it["responses"]])
    out, k = {}, 0
    for it in items:
        out[it["id"]] = flat[k : k + len(it["responses"])]
        k += len(it["responses"])
    return out


def _answer(data: dict, u: list[float], template: dict, noise: float, rng: random.Random) -> list[dict]:
    shown = data["instructkit_responses"]
    scale = (max(u) - min(u)) or 1.0
    name = data["instructkit_template"]
    if name == "pairwise":
        a, b = (u[i] for i in shown)
        p_left = 1.0 if a > b else 0.0 if a < b else 0.5
        if noise > 0:
            p_left = 1 / (1 + math.exp(-max(-60, min(60, (a - b) / (noise * scale)))))
        pick = "left" if rng.random() < p_left else "right"
        return [{"from_name": "choice", "to_name": "left,right", "type": "pairwise", "value": {"selected": pick}}]
    if name == "ranking":
        jitter = {i: noise * scale * -math.log(-math.log(rng.random() or 1e-12)) for i in shown}
        order = sorted(shown, key=lambda i: -(u[i] + jitter[i]))
        value = {"ranker": {"rank": [f"r{i}" for i in order]}}
        return [{"from_name": "rank", "to_name": "responses", "type": "ranker", "value": value}]
    if name == "rating":
        top = template.get("max_rating") or 5
        i = shown[0]
        share = (u[i] - min(u)) / scale if max(u) > min(u) else 0.5
        rating = round(1 + (top - 1) * share + rng.gauss(0, noise))
        rating = int(min(top, max(1, rating)))
        return [
            {"from_name": c, "to_name": "response", "type": "rating", "value": {"rating": rating}}
            for c in template.get("criteria") or ["overall"]
        ]
    raise ConfigError(f"annotate-simulate answers pairwise, ranking and rating tasks, not {name!r}")


def run(inputs: list[str], out: Path, p: SimulateParams) -> Result:
    """Answer the tasks of the tasks directory ``inputs[0]``; write ``out/export.json``."""
    tasks_dir = Path(inputs[0])
    try:
        tasks = json.loads((tasks_dir / "tasks.json").read_text("utf-8"))
        manifest = json.loads((tasks_dir / "export_manifest.json").read_text("utf-8"))
        items = [json.loads(line) for line in (tasks_dir / "items.jsonl").read_text("utf-8").splitlines() if line]
    except (OSError, ValueError) as exc:
        raise InputError(
            f"not a tasks directory: {exc}", file=str(tasks_dir), hint="pass annotate-export's OUT"
        ) from None
    u = utilities(items, p)
    rng = random.Random(p.seed)
    export, ann_id = [], 0
    for task_id, task in enumerate(tasks, 1):
        data = task["data"]
        anns = []
        for who in range(1, p.annotators + 1):
            if data["instructkit_id"] not in u:  # a gold task: answered by the same rule from its own responses
                continue
            ann_id += 1
            result = _answer(data, u[data["instructkit_id"]], manifest, p.noise, rng)
            stamp = f"2026-01-01T00:{ann_id // 60 % 60:02d}:{ann_id % 60:02d}Z"
            anns.append(
                {
                    "id": ann_id,
                    "completed_by": who,
                    "result": result,
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "lead_time": 1.0,
                    "task": task_id,
                    "project": 1,
                }
            )
        export.append({"id": task_id, "annotations": anns, "predictions": [], "data": data, "project": 1})
    out.mkdir(parents=True, exist_ok=True)
    (out / "export.json").write_text(json.dumps(export, ensure_ascii=False, indent=1) + "\n", "utf-8")
    summary = {"tasks": len(tasks), "annotations": ann_id, "prefer": p.prefer, "export": str(out / "export.json")}
    return Result(out, {"tasks": len(tasks), "annotations": ann_id, "params": vars(p)}, summary)
