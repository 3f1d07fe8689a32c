"""`instructkit filter`: keep or drop records by configured rules, every drop explained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import (
    CompressionOpt,
    ConfigOpt,
    ForceOpt,
    ShardSizeOpt,
    WorkersOpt,
    print_summary,
)


def _short(value: object, limit: int = 110) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    n = len(value) if isinstance(value, (list, dict)) else 0
    return text[:limit] + f"... ({n} items)" if n else text[:limit] + "..."


def _print_rules() -> None:
    """Plain text on stdout (greppable, no wrapping): rule, summary, then each parameter."""
    from instructkit.filters import listing

    for name, summary, params in listing():
        typer.echo(f"{name}: {summary}")
        for pname, ptype, default, help_ in params:
            typer.echo(f"  {pname} ({ptype}) = {_short(default)}")
            if help_:
                typer.echo(f"      {help_}")
        typer.echo("")
    typer.echo("Use a rule in YAML as  rules: [{NAME: {PARAM: VALUE}}]  or override with  --set NAME.PARAM=VALUE")


def filter_(
    input: Annotated[Optional[Path], typer.Argument(help="Input shard set (a vNNNN dir or its parent).")] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "-o",
            "--output",
            help="Output shard set: a parent dir (next vNNNN is written under it) or an explicit .../vNNNN path.",
        ),
    ] = None,
    config: ConfigOpt = None,
    lang: Annotated[
        Optional[str],
        typer.Option(
            "--lang",
            help="Languages to keep, comma-separated ISO 639-1 "
            "codes (e.g. en,zh); sets the language rule's langs and adds the rule if the config lacks "
            "it.",
        ),
    ] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set",
            help="Override a rule parameter: --set "
            "RULE.KEY=VALUE, e.g. --set length.unit=chars or --set pii.action=mask (repeatable; a rule "
            "missing from the config is added).",
        ),
    ] = None,
    workers: WorkersOpt = 1,
    list_: Annotated[
        bool, typer.Option("--list", help="Print every rule with its parameters, types, defaults and help, then exit.")
    ] = False,
    shard_size: ShardSizeOpt = 100_000,
    compression: CompressionOpt = "none",
    force: ForceOpt = False,
) -> None:
    """Apply filter rules (language, length, defects, repetition, PII, blocklist, model-based) to a shard set.

    Rules come from --config (YAML: `rules: [{NAME: {PARAMS}}]`, applied in order; the first rule that
    drops a record is the one counted), else the built-in default (language tagging, defects, length,
    repetition, PII drop); recipes/filters.yaml is a starting point. Every drop lands in rejected/ with
    the rule, the measured value and the threshold; kept records get meta.lang.

    Example: instructkit filter out/dedupe -o out/filter --config recipes/filters.yaml --lang en,zh --workers 2
    """
    if list_:
        _print_rules()
        return
    from functools import partial

    from instructkit import filters
    from instructkit.config import load_yaml, parse_sets
    from instructkit.errors import ConfigError
    from instructkit.shards import ShardSet, ShardWriter
    from instructkit.stage import apply

    if input is None or output is None:
        raise ConfigError(
            "filter needs an input set and -o OUTPUT",
            hint="for example: instructkit filter out/ingest -o out/filter (or --list for the rules)",
        )
    source = str(config) if config else None
    raw = load_yaml(config) if config else {}
    spec = filters.parse(raw, source=source)
    langs = [x.strip() for x in lang.split(",") if x.strip()] if lang is not None else None
    spec = filters.override(spec, sets=parse_sets(set_), langs=langs)
    effective = filters.effective(filters.resolve(spec, source=source))
    factory = partial(filters.build_chain, effective)
    factory()  # build once here: a missing model or tokenizer fails now, with one line, not in a worker

    data = ShardSet(input)
    params = {**effective, "config": source}
    with ShardWriter(
        output,
        stage="filter",
        params=params,
        inputs=[data],
        shard_size=shard_size,
        compression=None if compression == "none" else compression,
        force=force,
    ) as writer:
        apply(data, factory, writer, workers=workers, total=len(data), description="filter")
        writer.stats["rules"] = [next(iter(r)) for r in effective["rules"]]
    print_summary("filter", writer.manifest, writer.path)
    typer.echo(str(writer.path))
