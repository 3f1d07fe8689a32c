"""CLI habits of the HF tools: -h, shell completion, -v/-q (HF verbosity variables win), `env`,
switches with --no-x, help that fits 80 columns; `push` and `ingest hf://` through huggingface_hub."""

from __future__ import annotations

import json
import sys

import pytest

import instructkit
from instructkit.shards import ShardSet


@pytest.mark.parametrize("args", [["-h"], ["sft", "-h"], ["stats", "-h"], ["model", "tiny", "-h"], ["push", "-h"]])
def test_short_help_everywhere(cli, args):
    result = cli(*args)
    assert "Usage" in result.output and "--help" in result.output


def test_completion_is_offered(cli):
    out = cli("--help").output
    assert "--install-completion" in out and "--show-completion" in out


def test_switch_and_its_hidden_negative(cli, tmp_path, samples):
    raw = instructkit.ingest([str(samples / "alpaca.jsonl")], tmp_path / "raw")
    cli("dedupe", raw, "-o", tmp_path / "d", "--mode", "exact", "--no-fold-case")
    assert ShardSet(tmp_path / "d").manifest["params"]["fold_case"] is False
    cli("dedupe", raw, "-o", tmp_path / "e", "--mode", "exact", "--set", "fold_case=false", "--fold-case")
    assert ShardSet(tmp_path / "e").manifest["params"]["fold_case"] is True  # flag beats --set
    bad = cli("dedupe", raw, "-o", tmp_path / "f", "--fold-case", "--no-fold-case", ok=False)
    assert bad.exit_code == 2 and "both given" in bad.output


@pytest.mark.parametrize("command", ["dedupe", "filter", "ingest", "rlhf", "export"])
def test_help_fits_80_columns_without_cut_names(cli, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = cli(command, "-h").output
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out, [line for line in out.splitlines() if "…" in line]
    assert "also takes --no-x" in out or command == "export"


def test_verbosity_respects_the_users_variables(monkeypatch):
    transformers = pytest.importorskip("transformers")
    datasets = pytest.importorskip("datasets")
    from instructkit.train.common import quiet_libraries
    from instructkit.verbosity import ENV, set_level

    tlog = transformers.utils.logging
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    monkeypatch.delenv("DATASETS_VERBOSITY", raising=False)
    quiet_libraries()
    assert tlog.get_verbosity() == tlog.ERROR and datasets.logging.get_verbosity() == datasets.logging.ERROR

    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "warning")  # the user's choice: never overridden
    tlog.set_verbosity_warning()
    quiet_libraries()
    assert tlog.get_verbosity() == tlog.WARNING

    monkeypatch.delenv("TRANSFORMERS_VERBOSITY")
    set_level(1)  # -v
    quiet_libraries()
    assert tlog.get_verbosity() == tlog.INFO and datasets.logging.get_verbosity() == datasets.logging.INFO
    set_level(0)
    quiet_libraries()


def test_global_flags_reach_child_processes(cli, monkeypatch, tmp_path):
    from instructkit.verbosity import ENV, level

    monkeypatch.setenv(ENV, "0")
    cli("-vv", "log", tmp_path / "missing", ok=False)  # the callback runs before the command fails
    assert level() == 2  # in the environment: the recipe runner's child processes inherit it
    cli("-q", "log", tmp_path / "missing", ok=False)
    assert level() == -1


def test_env_reports_versions_and_survives_a_broken_torch(cli, monkeypatch):
    info = json.loads(cli("env", "--json").output)
    assert info["python"].count(".") == 2 and info["instructkit"] == instructkit.__version__
    for name in ("torch", "transformers", "trl", "datasets", "accelerate", "peft"):
        assert name in info["packages"]
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    out = cli("env").output
    assert "torch import: ModuleNotFoundError" in out and "gpus: none" in out


class FakeApi:
    calls: list = []

    def __init__(self, *a, **k):
        assert "token" not in k  # resolved by huggingface_hub from HF_TOKEN / the saved login

    def create_repo(self, repo_id, **kw):
        FakeApi.calls.append(("create_repo", repo_id, kw))

    def upload_folder(self, **kw):
        from pathlib import Path

        folder = Path(kw["folder_path"])
        FakeApi.calls.append(("upload_folder", sorted(str(p.relative_to(folder)) for p in folder.rglob("*")), kw))
        return type("Commit", (), {"commit_url": f"https://huggingface.co/datasets/{kw['repo_id']}/commit/abc"})()


def test_push_uploads_the_version_with_its_card(cli, tmp_path, samples, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    FakeApi.calls = []
    s = instructkit.ingest([str(samples / "alpaca.jsonl")], tmp_path / "raw")
    out = cli("push", s, "me/instructions", "--private").output
    assert "datasets/me/instructions/commit/abc" in out
    (_, repo, kw), (_, files, up) = FakeApi.calls
    assert repo == "me/instructions" and kw == {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert up["repo_type"] == "dataset" and up["repo_id"] == "me/instructions"
    assert {"README.md", "manifest.json", "part-00000.jsonl"} <= set(files)
    bad = cli("push", s, "not a repo", ok=False)
    assert bad.exit_code == 2 and "invalid repo id" in bad.output


def test_push_offline_is_one_line(cli, tmp_path, samples, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")

    class Offline(FakeApi):
        def create_repo(self, repo_id, **kw):
            raise ConnectionError("Name or service not known")

    monkeypatch.setattr(hub, "HfApi", Offline)
    s = instructkit.ingest([str(samples / "alpaca.jsonl")], tmp_path / "raw")
    bad = cli("push", s, "me/x", ok=False)
    assert bad.exit_code == 2 and "push to me/x failed: ConnectionError" in bad.output
    assert "Traceback" not in bad.output


def test_ingest_hf_paths(cli, tmp_path, samples, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    pushed = instructkit.ingest([str(samples / "alpaca.jsonl")], tmp_path / "pushed")
    seen = []

    def snapshot(repo_id, **kw):
        seen.append((repo_id, kw))
        return str(pushed)  # as if the Hub held an instructkit set: parts, manifest.json, README.md

    monkeypatch.setattr(hub, "snapshot_download", snapshot)
    cli("ingest", "hf://datasets/me/instructions@v2", "-o", tmp_path / "back")
    assert seen[0][0] == "me/instructions" and seen[0][1]["revision"] == "v2"
    assert len(ShardSet(tmp_path / "back")) == len(ShardSet(pushed))  # parts only, not manifest.json

    def offline(repo_id, **kw):
        raise OSError("offline")

    monkeypatch.setattr(hub, "snapshot_download", offline)
    bad = cli("ingest", "hf://datasets/me/instructions", "-o", tmp_path / "x", ok=False)
    assert bad.exit_code == 2 and "download of hf://datasets/me/instructions failed" in bad.output
