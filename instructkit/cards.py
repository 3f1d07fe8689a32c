"""Dataset cards: the ``README.md`` that makes a shard-set version a Hugging Face dataset directory.

A version directory holds ``manifest.json``, the parts and sub-sets (``rejected/``, ``quarantine/``,
``val/``...). Without a card, ``datasets.load_dataset(version_dir)`` globs every file it finds and fails
with a CastError on ``manifest.json``. The card's YAML ``configs:`` names the files of each config
(the `datasets` "manual configuration" of data files), so these work, locally and after a push:

    load_dataset("out/filter/v0002")               # default: the kept parts (+ val/test splits)
    load_dataset("out/filter/v0002", "rejected")   # what the stage removed, with meta.reject

The card is not a part: it is left out of the fingerprint and ``verify`` never reads it.
Reference: huggingface.co/docs/hub/datasets-manual-configuration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD = "README.md"
SUBSETS = ("rejected", "quarantine")  # configs of their own: other columns than the kept records
# Our split sub-set names -> the split names the Hub and `datasets` use.
SPLIT_NAMES = {"val": "validation", "valid": "validation", "dev": "validation"}


def _files(manifest: dict, prefix: str = "") -> list[str]:
    return [prefix + p["file"] for p in manifest.get("parts", []) if p.get("records", 0) > 0]


def _sub_manifest(directory: Path, name: str) -> dict | None:
    path = directory / name / "manifest.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))


def configs(directory: Path, manifest: dict) -> list[dict[str, Any]]:
    """The ``configs:`` list for a version directory (sub-set manifests must already be written)."""
    default: list[dict[str, Any]] = []
    if _files(manifest):
        default.append({"split": "train", "path": _files(manifest)})
    for name in sorted((manifest.get("counts") or {}).get("splits") or {}):
        sub = _sub_manifest(directory, name)
        if sub and _files(sub):
            default.append({"split": SPLIT_NAMES.get(name, name), "path": _files(sub, f"{name}/")})
    out = []
    if default:
        out.append({"config_name": "default", "data_files": default})
    for name in SUBSETS:
        sub = _sub_manifest(directory, name)
        if sub and _files(sub):
            out.append({"config_name": name, "data_files": [{"split": "train", "path": _files(sub, f"{name}/")}]})
    return out


def card_text(directory: Path, manifest: dict) -> str:
    """The whole README.md: YAML front matter (configs, tags) and a short description."""
    import yaml

    kind = manifest.get("kind", "mixed")
    front = {"configs": configs(directory, manifest), "tags": ["instructkit", kind]}
    counts = manifest.get("counts") or {}
    rejected = counts.get("rejected") or {}
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {directory.parent.name}: {kind} records",
        "",
        f"An instructkit shard set of `{kind}` records written by the `{manifest.get('stage')}` stage "
        f"(instructkit {manifest.get('instructkit', '?')}, {manifest.get('created', '?')}).",
        "",
        "| | |",
        "|---|---|",
        f"| fingerprint | `{manifest.get('fingerprint', '')}` |",
        f"| records in | {counts.get('in', 0):,} |",
        f"| kept | {counts.get('kept', 0):,} |",
    ]
    lines += [f"| rejected: {reason} | {n:,} |" for reason, n in sorted(rejected.items())]
    for name, n in sorted((counts.get("splits") or {}).items()):
        lines.append(f"| split {name} | {n:,} |")
    inputs = manifest.get("inputs") or []
    if inputs:
        lines += ["", "Inputs (lineage; `instructkit log` walks it back to the raw files):", ""]
        lines += [f"- `{i.get('path')}` (fingerprint `{str(i.get('fingerprint', ''))[:16]}`)" for i in inputs]
    lines += [
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("PATH_OR_REPO_ID")'
        + ("" if not rejected else '\nrejected = load_dataset("PATH_OR_REPO_ID", "rejected")'),
        "```",
        "",
        "Record fields follow TRL's dataset formats (`messages`; `prompt`/`chosen`/`rejected`; ...); "
        "`meta` holds the source and what each stage added. `manifest.json` has the full parameters.",
        "",
    ]
    return "\n".join(lines)


def write_card(directory: Path, manifest: dict) -> Path:
    """Write ``README.md`` into a (temporary, not yet committed) version directory."""
    path = Path(directory) / CARD
    path.write_text(card_text(Path(directory), manifest), encoding="utf-8")
    return path
