"""The Hugging Face Hub: push a shard set as a dataset repo, ingest from ``hf://`` paths.

``push_set`` uploads a version directory with ``HfApi.upload_folder`` (one commit): the parts, the
``rejected/``/``quarantine/`` sub-sets, ``manifest.json`` and the dataset card, whose ``configs:`` make
``load_dataset("OWNER/NAME")`` and ``load_dataset("OWNER/NAME", "rejected")`` work on the Hub as they
do locally (cards.py). The token comes from the environment (``HF_TOKEN``) or a saved ``hf auth login``,
never from the command line, where ``ps`` and shell history would show it.

``localize`` turns ``hf://datasets/OWNER/NAME[@REVISION][/PATTERN]`` (or ``hf://OWNER/NAME``) into a
local snapshot in the HF cache, so ``ingest`` reads Hub datasets with the readers it has for files.
Both need ``huggingface_hub`` (``pip install 'instructkit[hub]'``) and a network; offline they fail
with one line that says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from instructkit.errors import InputError, InstructkitError

PREFIX = "hf://"
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
DATA_PATTERNS = ["*.json", "*.jsonl", "*.csv", "*.tsv", "*.parquet", "*.gz", "*.zst"]


class HubError(InstructkitError):
    """The Hub could not be reached or refused the request."""


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise HubError(
            "huggingface_hub is not installed", hint="pip install 'instructkit[hub]' (or instructkit[all])"
        ) from None
    return huggingface_hub


def _network_error(what: str, exc: Exception) -> HubError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return HubError(
        f"{what} failed: {type(exc).__name__}: {detail}",
        hint="check the network and HF_TOKEN; offline (HF_HUB_OFFLINE=1, no route) the Hub cannot be reached",
    )


def push_set(
    path: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    message: str | None = None,
) -> str:
    """Upload the shard set at ``path`` to the dataset repo ``repo_id``; return the commit URL."""
    from instructkit.cards import CARD, card_text
    from instructkit.shards import ShardSet, verify

    s = ShardSet(path)
    if not _REPO_RE.match(repo_id):
        raise InputError(f"invalid repo id {repo_id!r}", hint="OWNER/NAME, e.g. my-org/instructions-v2")
    problems = verify(s.path)
    if problems:
        raise InputError(f"the set does not verify: {problems[0]}", hint=f"instructkit verify {s.path}")
    hf = _hub()
    api = hf.HfApi()  # token: HF_TOKEN or the saved login, resolved by huggingface_hub itself
    message = message or f"instructkit: {s.manifest.get('stage')} set {s.fingerprint[:12]} ({len(s)} records)"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(s.path),
            commit_message=message,
            revision=revision,
            ignore_patterns=[".*"],
        )
        if not (s.path / CARD).is_file():  # a set written before cards existed: card from its manifest
            commit = api.upload_file(
                path_or_fileobj=card_text(s.path, s.manifest).encode("utf-8"),
                path_in_repo=CARD,
                repo_id=repo_id,
                repo_type="dataset",
                revision=revision,
                commit_message=message + " (card)",
            )
    except InstructkitError:
        raise
    except Exception as exc:  # httpx / HfHubHTTPError / OfflineModeIsEnabled: one line, not a traceback
        raise _network_error(f"push to {repo_id}", exc) from None
    return str(getattr(commit, "commit_url", commit))


def parse(spec: str) -> tuple[str, str | None, str | None]:
    """``hf://datasets/OWNER/NAME@REV/sub/*.jsonl`` -> ``("OWNER/NAME", "REV", "sub/*.jsonl")``."""
    rest = spec[len(PREFIX) :]
    rest = rest.removeprefix("datasets/")
    parts = rest.split("/", 2)
    if len(parts) < 2:
        raise InputError(f"not a Hub dataset path: {spec!r}", hint="hf://datasets/OWNER/NAME[@REVISION][/PATTERN]")
    name, _, revision = parts[1].partition("@")
    repo_id = f"{parts[0]}/{name}"
    if not _REPO_RE.match(repo_id):
        raise InputError(f"invalid Hub dataset id {repo_id!r}", file=spec)
    return repo_id, revision or None, parts[2] if len(parts) > 2 and parts[2] else None


def localize(spec: str) -> str:
    """A local path for an input: ``hf://`` paths are downloaded (data files only); others pass through."""
    if not spec.startswith(PREFIX):
        return spec
    repo_id, revision, pattern = parse(spec)
    hf = _hub()
    try:
        local = hf.snapshot_download(
            repo_id, repo_type="dataset", revision=revision, allow_patterns=[pattern] if pattern else DATA_PATTERNS
        )
    except Exception as exc:
        raise _network_error(f"download of {spec}", exc) from None
    if pattern:
        return str(Path(local) / pattern)
    # A set pushed by instructkit: read its kept parts only, not manifest.json or rejected/.
    parts = sorted(Path(local).glob("part-*.jsonl*"))
    return str(Path(local) / "part-*.jsonl*") if parts else local
