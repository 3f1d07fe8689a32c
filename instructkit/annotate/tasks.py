"""A tasks directory written by ``annotate-export``, read back for ``annotate-import --tasks``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from instructkit.annotate.export import MANIFEST_FORMAT, render_prompt
from instructkit.annotate.templates import Template, build
from instructkit.errors import InputError


@dataclass
class TasksDir:
    """The manifest, the tasks by key and the items by id of one export."""

    path: Path
    manifest: dict
    tasks: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict] = field(default_factory=dict)

    @property
    def template(self) -> Template:
        m = self.manifest
        return build(m["template"], m.get("criteria") or None, m.get("max_rating") or 5)

    @property
    def fingerprint(self) -> str:
        return self.manifest["set"]["fingerprint"]

    @property
    def gold(self) -> dict[str, dict]:
        return self.manifest.get("gold") or {}

    def shown(self, key: str) -> list[int]:
        return self.tasks[key]["data"]["instructkit_responses"]


def load_tasks_dir(path: str | Path) -> TasksDir:
    """Read ``export_manifest.json``, ``tasks.json`` and ``items.jsonl`` of a tasks directory.

    Raises:
        InputError: when the directory is not one ``annotate-export`` wrote.
    """
    path = Path(path)
    mpath = path / "export_manifest.json"
    try:
        manifest = json.loads(mpath.read_text("utf-8"))
        tasks = json.loads((path / "tasks.json").read_text("utf-8"))
        lines = (path / "items.jsonl").read_text("utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(
            f"not a tasks directory: {Path(exc.filename).name} is missing",
            file=str(path),
            hint="pass the directory that 'instructkit annotate-export -o DIR' wrote",
        ) from None
    except ValueError as exc:
        raise InputError(f"corrupt tasks directory: {exc}", file=str(path)) from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise InputError(f"unknown tasks manifest format {manifest.get('format')!r}", file=str(mpath))
    out = TasksDir(path, manifest)
    for task in tasks:
        out.tasks[task["data"]["instructkit_task"]] = task
    for line in lines:
        if line.strip():
            item = json.loads(line)
            out.items[item["id"]] = item
    return out


def items_from_data(tasks: list[dict]) -> dict[str, dict]:
    """Rebuild items from task data alone (no ``--tasks``): prompt text as one user turn, and the
    responses the tasks showed. Indices that never appeared are left out and the others renumbered
    by ``remap``."""
    items: dict[str, dict] = {}
    for data in tasks:
        item = items.setdefault(
            data["instructkit_id"],
            {
                "id": data["instructkit_id"],
                "texts": {},
                "prompt": [{"role": "user", "content": data.get("prompt", "")}],
            },
        )
        shown = data.get("instructkit_responses") or []
        texts: list[str] = []
        if "left" in data and "right" in data:
            texts = [data["left"], data["right"]]
        elif isinstance(data.get("items"), list):
            by_id = {str(x.get("id")): x.get("body", "") for x in data["items"] if isinstance(x, dict)}
            texts = [by_id.get(f"r{i}", "") for i in shown]
        elif "response" in data:
            texts = [data["response"]]
        for i, t in zip(shown, texts, strict=False):
            item["texts"].setdefault(int(i), t)
    for item in items.values():
        order = sorted(item.pop("texts").items())
        item["remap"] = {old: new for new, (old, _t) in enumerate(order)}
        item["responses"] = [{"content": t} for _old, t in order]
        item["source"] = {"rebuilt_from": "task data"}
    return items


__all__ = ["TasksDir", "load_tasks_dir", "items_from_data", "render_prompt"]
