"""`instructkit push SET REPO_ID`: upload a shard set to the Hugging Face Hub as a dataset repo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def push(
    path: Annotated[Path, typer.Argument(help="A shard set (a vNNNN dir, or its parent for the newest).")],
    repo_id: Annotated[str, typer.Argument(help="Dataset repo on the Hub: OWNER/NAME (created if missing).")],
    private: Annotated[
        Optional[bool], typer.Option("--private/--public", help="Visibility of a repo this creates.")
    ] = None,
    revision: Annotated[Optional[str], typer.Option("--revision", help="Branch to commit to.")] = None,
    message: Annotated[Optional[str], typer.Option("--message", "-m", help="Commit message.")] = None,
) -> None:
    """Upload a shard set (parts, rejected/, manifest, dataset card) as a Hub dataset repo.

    load_dataset("OWNER/NAME") then gives the kept records and load_dataset("OWNER/NAME", "rejected") the
    removed ones. The token comes from HF_TOKEN or `hf auth login`, never from a flag.

    Example: HF_TOKEN=hf_... instructkit push out/filter my-org/instructions --private
    """
    from instructkit.hub import push_set

    url = push_set(path, repo_id, private=private, revision=revision, message=message)
    typer.echo(url)
