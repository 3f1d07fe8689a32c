"""`instructkit stats`, `log` and `verify`: look at a shard set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from instructkit.cli.common import console, print_table

SetArg = Annotated[Path, typer.Argument(help="A shard set (a vNNNN dir, or its parent for the newest).")]


def stats(
    path: SetArg, json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False
) -> None:
    """Counts, kinds, turns, length percentiles per role, languages, rejects by reason, size.

    Example: instructkit stats out/filter
    """
    import json

    from instructkit.inspect import set_stats

    s = set_stats(path)
    if json_out:
        typer.echo(json.dumps(s, indent=2, ensure_ascii=False))
        return
    print_table(
        f"{s['path']}",
        [
            ("kind", s["kind"]),
            ("stage", s["stage"]),
            ("records", f"{s['records']:,}"),
            ("bytes", f"{s['bytes']:,}"),
            ("fingerprint", s["fingerprint"][:16]),
            ("kinds", ", ".join(f"{k}: {v}" for k, v in s["kinds"].items())),
            ("turns (mean / max)", f"{s['turns']['mean']:.1f} / {s['turns']['max']}"),
            ("distinct prompts (HLL, ±0.8%)", f"{s['distinct']['prompts']:,}"),
            ("distinct records (HLL, ±0.8%)", f"{s['distinct']['records']:,}"),
        ],
        ("", "value"),
    )
    if s["lengths"]:
        print_table(
            "characters per role",
            [(role, v["n"], v["p5"], v["p50"], v["p95"], v["max"]) for role, v in s["lengths"].items()],
            ("role", "turns", "p5", "p50", "p95", "max"),
        )
    if s["languages"]:
        print_table("languages", sorted(s["languages"].items(), key=lambda kv: -kv[1]), ("lang", "records"))
    funnel = s["funnel"]
    if funnel:
        print_table("funnel", funnel, ("step", "records"))
    if s.get("clusters"):
        print_table(
            "duplicate clusters by size", sorted(s["clusters"].items(), key=lambda kv: int(kv[0])), ("size", "clusters")
        )


def log(path: SetArg) -> None:
    """Lineage: this set's stage and params, then its inputs' back to the raw files.

    Example: instructkit log out/filter
    """
    from instructkit.inspect import lineage
    from instructkit.shards import ShardSet

    ShardSet(path)  # a missing or incomplete set is an error (exit 2), not an empty lineage
    for depth, entry in lineage(path):
        pad = "  " * depth
        console.print(
            f"{pad}[bold]{entry['stage']}[/] {entry['path']}  ({entry.get('created', '?')}, "
            f"fingerprint {entry.get('fingerprint', '?')[:12]})"
        )
        for key, value in (entry.get("params") or {}).items():
            console.print(f"{pad}    {key}: {value}")
        if entry.get("missing"):
            console.print(f"{pad}    [yellow]input no longer on disk[/]")


def verify(path: SetArg) -> None:
    """Check checksums, record counts and conservation (in == kept + rejected); exit 1 on a mismatch.

    Example: instructkit verify out/filter
    """
    from instructkit.shards import verify as run_verify

    problems = run_verify(path)
    if problems:
        for p in problems:
            console.print(f"[red]FAIL[/] {p}")
        raise typer.Exit(code=1)
    console.print(f"[green]OK[/] {path}")
