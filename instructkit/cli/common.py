"""Shared option types, error handling and summary tables for every subcommand.

Only this layer prints and picks exit codes: library code raises ``InstructkitError``.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from instructkit.errors import InstructkitError

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

# Option aliases shared by the stages (typer's Annotated style).
OutOpt = Annotated[
    Path,
    typer.Option(
        "-o",
        "--output",
        help="Output shard set: a parent dir (next vNNNN is written under it) or an explicit .../vNNNN path.",
    ),
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML file with parameters.")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a parameter: --set key=value (repeatable; values parsed as YAML scalars)."),
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing explicit version path.")]
ShardSizeOpt = Annotated[int, typer.Option("--shard-size", min=1, help="Records per part file.")]
CompressionOpt = Annotated[str, typer.Option("--compression", help="Part compression: none, gz or zst.")]


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into a one-line message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InstructkitError as exc:
            from rich.markup import escape

            console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: nothing was committed[/]")
            raise typer.Exit(code=130) from None

    return wrapper


def fail(message: str, *, hint: str | None = None, file: str | None = None) -> None:
    """Raise a user-facing error from CLI code."""
    raise InstructkitError(message, hint=hint, file=file)


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "-"


def print_summary(title: str, manifest: dict, path: Path | str, *, extra: dict[str, Any] | None = None) -> None:
    """The end-of-stage table: in, kept, rejected per reason, quarantined, throughput, where."""
    counts = manifest.get("counts", {})
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("records", justify="right")
    n_in = counts.get("in", 0)
    table.add_row("in", f"{n_in:,}")
    table.add_row("kept", f"{counts.get('kept', 0):,}")
    for reason, n in sorted(counts.get("rejected", {}).items(), key=lambda kv: -kv[1]):
        table.add_row(f"rejected: {reason}", f"{n:,}")
    for reason, n in sorted(counts.get("quarantined", {}).items(), key=lambda kv: -kv[1]):
        table.add_row(f"quarantined: {reason}", f"{n:,}")
    for key, value in (extra or {}).items():
        table.add_row(key, str(value))
    elapsed = manifest.get("elapsed_s", 0.0)
    table.add_row("time", f"{elapsed:.1f}s ({_rate(n_in, elapsed)})")
    table.add_row("output", str(path))
    console.print(table)


def print_table(title: str, rows: list[tuple], headers: tuple[str, ...]) -> None:
    table = Table(title=title, header_style="bold")
    for h in headers:
        table.add_column(h)
    for row in rows:
        table.add_row(*[str(c) for c in row])
    console.print(table)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.time() - self.start


def is_tty() -> bool:
    return sys.stderr.isatty()
