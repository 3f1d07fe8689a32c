"""The ``ingest`` stage: its Params and ``run`` (registered in ``instructkit/stages.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.params import OnError, SetOutput, recorded
from instructkit.registry import Result


@dataclass(kw_only=True)
class IngestParams(SetOutput, OnError):
    """Every knob of ``instructkit ingest`` (YAML keys, ``--set`` keys and flags)."""

    format: str = field(
        default="auto",
        metadata={
            "help": "Input format, or 'auto' to detect it per file: alpaca, sharegpt, openai, llamafactory, "
            "prompt-completion, prompt-only, preference, preference-implicit, unpaired-preference, hh-rlhf, "
            "dolly, self-instruct, ultrafeedback, records, columns. See docs/ingest.md",
            "flags": ("-f",),
        },
    )
    map: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Rename a column before reading: --map dst=src, e.g. --map instruction=question, or map "
            "columns to roles: --map user=question --map assistant=answer [--map system=sys]. In YAML a "
            "list of dst=src or a mapping {dst: src}"
        },
    )

    @staticmethod
    def prepare_values(values: dict[str, Any], source: str | None) -> dict[str, Any]:
        """A YAML mapping ``map: {instruction: question}`` is the list ``[instruction=question]``."""
        if isinstance(values.get("map"), dict):
            values = {**values, "map": [f"{dst}={src}" for dst, src in values["map"].items()]}
        return values

    def __post_init__(self) -> None:
        from instructkit.ingest import parse_maps

        parse_maps(self.map)  # "--map oops" fails here, before anything is read
        super().__post_init__()


def run(inputs: list[str], out: Path, p: IngestParams) -> Result:
    """Read ``inputs`` (files, globs, directories) into a new shard set version under ``out``."""
    from instructkit.ingest import ingest, parse_maps
    from instructkit.ingest.sources import expand
    from instructkit.shards import ShardSet, ShardWriter
    from instructkit.stage import progress_bar

    # Re-ingesting parts of a shard set: name that set as an input, so `instructkit log` follows it back.
    parents = {f.parent for f in expand(inputs) if f.is_file() and (f.parent / "manifest.json").is_file()}
    with ShardWriter(
        out,
        stage="ingest",
        params={"paths": list(inputs), **recorded(p)},
        inputs=[ShardSet(d) for d in sorted(parents)],
        **p.writer_options(),
    ) as writer:
        with progress_bar("ingest") as advance:
            used = ingest(inputs, writer, fmt=p.format, maps=parse_maps(p.map), on_error=p.on_error, advance=advance)
        writer.stats["formats"] = used
    summary = {"formats": ", ".join(f"{k} ({v})" for k, v in used.items()) or "-"}
    for path, n in writer.stats.get("truncated", {}).items():  # --on-error skip kept what it could read
        summary[f"truncated after {n} rows"] = path
    return Result(writer.path, writer.manifest, summary)
