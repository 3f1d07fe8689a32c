"""`instructkit ingest`: many formats to one schema."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from instructkit.cli.common import CompressionOpt, ForceOpt, OutOpt, ShardSizeOpt, print_summary


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Input files, globs (quoted) or directories.")],
    output: OutOpt,
    format: Annotated[str, typer.Option("--format", "-f", help="Input format, or 'auto' to detect it per file. "
                                        "See --list-formats.")] = "auto",
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="Rename a column before reading: "
                    "--map dst=src, e.g. --map instruction=question (repeatable).")] = None,
    on_error: Annotated[str, typer.Option("--on-error", help="'fail' stops at the first bad row (exit 2, "
                        "nothing written); 'skip' quarantines bad rows with the reason.")] = "fail",
    shard_size: ShardSizeOpt = 100_000,
    compression: CompressionOpt = "none",
    force: ForceOpt = False,
) -> None:
    """Read instruction data in many formats into one canonical shard set.

    Formats (auto-detected): alpaca, sharegpt, openai/TRL messages, prompt-completion, TRL preference
    (explicit and implicit prompt), unpaired preference, hh-rlhf, dolly, self-instruct seeds,
    ultrafeedback; JSON, JSONL, CSV, Parquet or a `datasets.save_to_disk` directory, optionally .gz/.zst.

    Example: instructkit ingest data/samples/*.json* -o out/ingest --on-error skip
    """
    from instructkit.errors import InputError
    from instructkit.ingest import ingest as run_ingest
    from instructkit.ingest import parse_maps
    from instructkit.shards import ShardWriter
    from instructkit.stage import progress_bar

    if on_error not in ("fail", "skip"):
        raise InputError(f"--on-error must be fail or skip, got {on_error!r}")
    params = {"paths": paths, "format": format, "map": map_ or [], "on_error": on_error}
    with ShardWriter(output, stage="ingest", params=params, shard_size=shard_size,
                     compression=None if compression == "none" else compression, force=force) as writer:
        with progress_bar("ingest") as advance:
            used = run_ingest(paths, writer, fmt=format, maps=parse_maps(map_), on_error=on_error, advance=advance)
        writer.stats["formats"] = used
    print_summary("ingest", writer.manifest, writer.path,
                  extra={"formats": ", ".join(f"{k} ({v})" for k, v in used.items()) or "-"})
    typer.echo(str(writer.path))
