"""The model card (``README.md``) of a trained model directory, generated from its ``manifest.json``,
and the upload of a finished directory to the Hub (``push_to_hub``).

The card follows the Hub's model card layout (YAML metadata block, then Markdown): base model, the
training data sets with their fingerprints and lineage (each set's stage chain from its manifest),
the params that differ from the defaults, final metrics, library versions, and the base model's
licence when it is known (its own card's ``license:`` or its manifest's ``license``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD = "README.md"
_PIPELINE = {"reward": "text-classification"}


def base_license(model: str | None) -> str | None:
    """The licence of a local base model: its manifest's ``license`` or its card's ``license:``."""
    if not model or not Path(model).is_dir():
        return None
    path = Path(model)
    manifest = path / "manifest.json"
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text("utf-8"))
        except ValueError:
            data = {}
        if data.get("license"):
            return str(data["license"])
    card = path / CARD
    if card.is_file():
        meta = _front_matter(card.read_text("utf-8"))
        if meta.get("license"):
            return str(meta["license"])
    return None


def _front_matter(text: str) -> dict:
    import yaml

    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def lineage(set_path: str) -> list[str]:
    """The stage chain that produced a shard set, oldest first (``ingest -> dedupe -> filter``)."""
    chain: list[str] = []
    path: Path | None = Path(set_path)
    seen = set()
    while path is not None and len(chain) < 20 and str(path) not in seen:
        seen.add(str(path))
        manifest = _manifest_of(path)
        if manifest is None:
            break
        chain.append(f"{manifest.get('stage', '?')} ({str(manifest.get('fingerprint', ''))[:12]})")
        parents = manifest.get("inputs") or []
        parent = parents[0].get("path") if parents and isinstance(parents[0], dict) else None
        path = Path(parent) if parent else None
    return chain[::-1]


def _manifest_of(path: Path) -> dict | None:
    for candidate in (path / "manifest.json",):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text("utf-8"))
            except ValueError:
                return None
    if path.is_dir():  # a set's parent directory: its newest version
        versions = sorted(p for p in path.glob("v[0-9]*") if (p / "manifest.json").is_file())
        if versions:
            return _manifest_of(versions[-1])
    return None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def model_card(manifest: dict, *, defaults: dict[str, Any] | None = None) -> str:
    """The card's text from a model manifest (``defaults``: the Params defaults, to show what changed)."""
    import yaml

    stage = manifest.get("stage", "model")
    base = manifest.get("base_model") or manifest.get("policy")
    params = (manifest.get("config") or {}).get("params") or {}
    licence = manifest.get("base_model_license")
    meta: dict[str, Any] = {"library_name": "transformers", "tags": ["instructkit", stage, "trl"]}
    if licence:
        meta["license"] = licence
    if base:
        meta["base_model"] = str(base)
    meta["pipeline_tag"] = _PIPELINE.get(stage, "text-generation")
    name = params.get("run_name") or manifest.get("run_name") or "model"
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "", f"# {name}", ""]
    algo = f" (--algo {manifest['algo']})" if manifest.get("algo") else ""
    lines += [
        f"Trained with `instructkit {stage.split('-')[0]}`{algo} from **{base or 'unknown'}** "
        f"on {manifest.get('created', '?')} ({manifest.get('elapsed_s', '?')} s).",
        "",
        f"Base model licence: {licence or 'unknown (check the base model card)'}.",
        "",
        "## Training data",
        "",
        "| set | kind | records | fingerprint | lineage |",
        "|---|---|---|---|---|",
    ]
    for s in manifest.get("inputs", []):
        chain = " -> ".join(lineage(s.get("path", ""))) or "-"
        lines.append(
            f"| `{s.get('path')}` | {s.get('kind')} | {s.get('records')} | `{s.get('fingerprint')}` | {chain} |"
        )
    changed = {k: v for k, v in params.items() if defaults is None or defaults.get(k, object()) != v}
    lines += ["", "## Params", "", "Values that differ from the defaults (all of them are in `manifest.json`):", ""]
    lines += [f"- `{k}`: {_fmt(v)}" for k, v in sorted(changed.items())] or ["- (all defaults)"]
    metrics = {k: v for k, v in (manifest.get("metrics") or {}).items() if isinstance(v, (int, float))}
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())] or ["| - | - |"]
    versions = manifest.get("versions") or {}
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in versions.items() if v), ""]
    if (manifest.get("device") or {}).get("name"):
        lines += [f"Trained on: {manifest['device']['name']}.", ""]
    lines += [
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer"
        if meta["pipeline_tag"] == "text-generation"
        else "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        f"model = {'AutoModelForCausalLM' if meta['pipeline_tag'] == 'text-generation' else 'AutoModelForSequenceClassification'}"
        '.from_pretrained("PATH_OR_REPO")',
        'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_REPO")',
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(out: str | Path, manifest: dict, *, defaults: dict[str, Any] | None = None) -> Path:
    """Write ``OUT/README.md`` (replacing a card a trainer may have written)."""
    path = Path(out) / CARD
    path.write_text(model_card(manifest, defaults=defaults), "utf-8")
    return path


def push_model(out: str | Path, repo_id: str, *, private: bool | None = None) -> str:
    """Upload a finished model directory to the Hub; returns the commit URL.

    Checkpoints are left out (they are resume state, not the model). Needs network and a token
    (``hf auth login`` or ``HF_TOKEN``).
    """
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(out),
        repo_type="model",
        commit_message="instructkit: upload model",
        ignore_patterns=["checkpoints/**"],
    )
    return str(getattr(info, "commit_url", info))
