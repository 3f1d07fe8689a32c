"""`instructkit ingest`: many formats to one schema."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from instructkit.cli.common import CompressionOpt, ForceOpt, OutOpt, ShardSizeOpt, print_summary


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Input files, globs (quoted) or directories.")],
    output: OutOpt,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Input format, or 'auto' to detect it per file: alpaca, sharegpt, openai, "
            "prompt-completion, prompt-only, preference, preference-implicit, "
            "unpaired-preference, hh-rlhf, dolly, self-instruct, ultrafeedback, records, "
            "columns. See docs/ingest.md.",
        ),
    ] = "auto",
    map_: Annotated[
        Optional[list[str]],
        typer.Option(
            "--map",
            help="Rename a column before reading: "
            "--map dst=src, e.g. --map instruction=question, or map columns to roles: --map user=question "
            "--map assistant=answer [--map system=sys] (repeatable).",
        ),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="'fail' stops at the first bad row (exit 2, "
            "nothing written); 'skip' puts bad rows in quarantine/ with the reason and goes on.",
        ),
    ] = "fail",
    shard_size: ShardSizeOpt = 100_000,
    compression: CompressionOpt = "none",
    force: ForceOpt = False,
) -> None:
    """Read instruction data in many formats into one canonical shard set.

    Formats (auto-detected): alpaca, sharegpt, openai/TRL messages, prompt-completion, TRL preference
    (explicit and implicit prompt), unpaired preference, hh-rlhf, dolly, self-instruct seeds,
    ultrafeedback; JSON, JSONL, CSV, Parquet or a `datasets.save_to_disk` directory, optionally .gz/.zst.

    Example: instructkit ingest 'data/samples/*.jsonl*' data/samples/alpaca.json -o out/ingest --on-error skip

    Example: instructkit ingest data/samples/qa.parquet -o out/qa --map user=question --map assistant=answer
    """
    from instructkit.errors import InputError
    from instructkit.ingest import ingest as run_ingest
    from instructkit.ingest import parse_maps
    from instructkit.ingest.sources import expand
    from instructkit.shards import ShardSet, ShardWriter
    from instructkit.stage import progress_bar

    if on_error not in ("fail", "skip"):
        raise InputError(f"--on-error must be fail or skip, got {on_error!r}")
    params = {"paths": paths, "format": format, "map": map_ or [], "on_error": on_error}
    # Re-ingesting parts of a shard set: name that set as an input, so `instructkit log` follows it back.
    parents = {p.parent for p in expand(paths) if p.is_file() and (p.parent / "manifest.json").is_file()}
    with ShardWriter(
        output,
        stage="ingest",
        params=params,
        inputs=[ShardSet(p) for p in sorted(parents)],
        shard_size=shard_size,
        compression=None if compression == "none" else compression,
        force=force,
    ) as writer:
        with progress_bar("ingest") as advance:
            used = run_ingest(paths, writer, fmt=format, maps=parse_maps(map_), on_error=on_error, advance=advance)
        writer.stats["formats"] = used
    print_summary(
        "ingest",
        writer.manifest,
        writer.path,
        extra={"formats": ", ".join(f"{k} ({v})" for k, v in used.items()) or "-"},
    )
    typer.echo(str(writer.path))
