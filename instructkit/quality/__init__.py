"""The ``quality`` stage: a shard set judged on four axes, diversity, clarity, accuracy, consistency.

One pass over the set reduces every record to its instruction, prompt and response (``common.py``)
and counts clarity defects; the axes are then measured on those texts (one module each:
``diversity.py``, ``clarity.py``, ``accuracy.py``, ``consistency.py``). The per-record work runs as
tasks over chunks of lines (``tasks.py``): in this process, in ``--workers`` local processes or as
Ray tasks (``--executor ray``), merged in input order, so quality.json is the same on each. The report directory holds
``quality.json`` (every figure), ``quality.md`` (a one-screen summary, then details), PNG plots and
``manifest.json`` (stage, params, input fingerprints); it is written into a temporary sibling and
renamed into place. ``--compare OTHER_SET`` measures a second set the same way and puts the two side
by side. Nothing is dropped or rewritten.

Memory: the instructions and responses of the set are held (about the set's text size), plus 128
MinHash values (512 bytes) per record for near-duplicate clusters and 8 bytes per distinct n-gram
(distinct-n), all in the driver. Without ``encoder`` and
``reward_model`` nothing imports torch.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from instructkit.errors import ConfigError, InputError
from instructkit.params import Executor, Workers
from instructkit.registry import Result

FORMAT = "instructkit.quality/1"


def _h(text: str, **more) -> dict:
    return {"help": text, **more}


@dataclass(kw_only=True)
class QualityParams(Workers, Executor):
    """Every knob of ``instructkit quality`` (YAML keys, ``--set`` keys and flags)."""

    compare: str | None = field(
        default=None, metadata=_h("A second shard set measured the same way and shown side by side")
    )
    encoder: str | None = field(
        default=None,
        metadata=_h(
            "Sentence encoder directory for embedding spread and clusters (all-MiniLM-L6-v2: instructkit model "
            "get all-minilm-l6-v2 DIR); none: skipped (no torch import)"
        ),
    )
    cluster_threshold: float = field(default=0.8, metadata=_h("Embedding clusters: cosine similarity that joins two"))
    near_threshold: float = field(default=0.7, metadata=_h("Near-duplicate clusters: MinHash Jaccard threshold"))
    reward_model: str | None = field(
        default=None, metadata=_h("Reward model directory (a reward stage output): scores and pair agreement")
    )
    reference: str | None = field(
        default=None, metadata=_h("Shard set of reference answers, matched by normalised prompt")
    )
    gold_field: str | None = field(
        default=None,
        metadata=_h("meta key of the gold answer (dotted, e.g. extra.answer); default: gold, answer, reference"),
    )
    batch_size: int = field(default=16, metadata=_h("Texts per forward pass of the encoder and reward model"))
    top_verbs: int = field(default=20, metadata=_h("Verbs shown (Self-Instruct's figure shows 20)"))
    top_objects: int = field(default=4, metadata=_h("Direct objects shown per verb"))
    top_clusters: int = field(default=10, metadata=_h("Near-duplicate clusters listed"))
    max_listed: int = field(default=100, metadata=_h("Conflicting prompts listed in full (the total is always given)"))
    force: bool = field(default=False, metadata=_h("Replace an existing report directory", record=False))

    def __post_init__(self) -> None:
        for name in ("cluster_threshold", "near_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("batch_size", "top_verbs", "top_objects", "max_listed"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        super().__post_init__()


def analyse(path: str | Path, p: QualityParams, *, name: str = "set") -> dict:
    """Every axis of one set, as the dict quality.json holds for it."""
    from instructkit.quality import accuracy, consistency, diversity
    from instructkit.quality.tasks import merged
    from instructkit.shards import ShardSet

    data = ShardSet(path)
    m = merged(data, p)
    return {
        "name": name,
        "path": str(data.path),
        "fingerprint": data.fingerprint,
        "kind": data.kind,
        "records": len(m.items),
        "diversity": diversity.measure(m.items, p, grams=m.grams, verbs=m.verbs, sigs=m.sigs),
        "clarity": m.clarity.result(),
        "accuracy": accuracy.measure(m.items, data.path, p, gold_counts=m.gold),
        "consistency": consistency.measure(m.items, listed=p.max_listed),
    }


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise InputError("the report directory already exists", file=str(out), hint="pass --force or choose another -o")
    if out.exists() and not out.is_dir():
        raise InputError("the report path is a file", file=str(out))


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write(out: Path, reports: list[dict], params: dict, *, force: bool) -> Path:
    """quality.json, quality.md, plots and manifest.json, written into a temporary sibling then renamed."""
    from instructkit import __version__
    from instructkit.quality import plots, report

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        made = plots.draw(tmp, reports)
        doc = {"format": FORMAT, **reports[0], "compare": reports[1] if len(reports) > 1 else None, "plots": made}
        _dump(tmp / "quality.json", doc)
        (tmp / "quality.md").write_text(report.markdown(reports, made), encoding="utf-8")
        _dump(
            tmp / "manifest.json",
            {
                "format": FORMAT,
                "stage": "quality",
                "params": params,
                "inputs": [{"path": r["path"], "fingerprint": r["fingerprint"]} for r in reports],
                "instructkit": __version__,
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            },
        )
        old = None
        if out.exists():
            old = out.parent / f".old-{out.name}-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _name(path: str, default: str) -> str:
    """A set's short name in the report: ``out/filter/v0002`` -> ``filter``."""
    parts = [x for x in Path(path).resolve().parts if x != "/"]
    while parts and re.fullmatch(r"v\d{4,}", parts[-1]):
        parts.pop()
    return parts[-1] if parts else default


def _cluster(p: QualityParams):
    """One Ray session for both sets with ``--executor ray`` (joined or started once, not per set)."""
    if p.executor != "ray":
        return contextlib.nullcontext()
    from instructkit.executors.raytasks import session

    return session(p.ray_address, p.workers)


def run(inputs: list[str], out: Path, p: QualityParams) -> Result:
    """Measure the set ``inputs[0]`` (and ``p.compare``) into the report directory ``out``."""
    from instructkit.params import recorded
    from instructkit.quality.report import headline

    out = Path(out)
    _check_target(out, p.force)
    with _cluster(p):
        reports = [analyse(inputs[0], p, name=_name(inputs[0], "set"))]
        if p.compare:
            other = analyse(p.compare, p, name=_name(p.compare, "compare"))
            if other["name"] == reports[0]["name"]:
                reports[0]["name"], other["name"] = "set", "compare"
            reports.append(other)
    write(out, reports, recorded(p), force=p.force)
    summary = {k: v for k, v in headline(reports[0]).items()}
    summary["report"] = str(out / "quality.md")
    return Result(out, {}, summary)


__import__("instructkit.api").api.callable_package(__name__, "quality")
