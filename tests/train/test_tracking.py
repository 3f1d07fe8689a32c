"""Experiment tracking (``report_to``), model cards and ``push_to_hub`` of the training stages, for real:
TensorBoard event files read back with TensorBoard's own reader from ``OUT/runs/`` after the commit,
wandb in offline mode, the card generated from the manifest, the Hub upload call."""

from __future__ import annotations

import json
import shutil

import pytest
from test_rlhf_helpers import write_preferences, write_prompts, write_reward_fn

from instructkit.errors import ConfigError
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
from instructkit.train.sft import SFTParams, run_sft


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sft_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("track") / "sft"
    with ShardWriter(out, stage="test", conserving=False) as w:
        for i in range(12):
            w.write(make_record("sft", messages=[message("user", f"count to {i}"), message("assistant", "1 2 3")]))
    return w.path


@pytest.fixture(scope="module")
def licensed_base(tmp_path_factory, tiny_model):
    """The tiny model with a manifest naming its licence, as ``instructkit model get`` writes one."""
    base = tmp_path_factory.mktemp("base") / "tiny"
    shutil.copytree(tiny_model, base)
    (base / "manifest.json").write_text(json.dumps({"stage": "model", "license": "apache-2.0"}))
    return base


def _scalars(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_sft_tensorboard_events_survive_the_commit_and_the_card_says_what_was_trained(sft_set, licensed_base, tmp_path):
    out = tmp_path / "sft"
    params = SFTParams(
        max_steps=4,
        batch_size=4,
        logging_steps=1,
        max_length=64,
        save_steps=2,
        eval_split=0.2,
        report_to=["tensorboard"],
        run_name="first-run",
    )
    result = run_sft([sft_set], model=str(licensed_base), out=out, params=params)
    assert result["path"] == out and not (tmp_path / "sft.partial").exists()  # checkpoints deleted at commit
    runs = [p for p in (out / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1 and list(runs[0].glob("events.out.tfevents.*"))
    scalars = _scalars(runs[0])
    assert len(scalars["train/loss"]) == 4  # one per logging step
    assert "eval/loss" in scalars  # the evaluation after training, flushed before the move
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["trainer"]["report_to"] == ["tensorboard"]
    assert manifest["config"]["trainer"]["run_name"] == "first-run"
    assert manifest["base_model_license"] == "apache-2.0"
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "license: apache-2.0" in card and f"base_model: {licensed_base}" in card
    assert "# first-run" in card and manifest["inputs"][0]["fingerprint"] in card
    assert "test (" in card  # the lineage: the stage that wrote the training set
    assert "- `max_steps`: 4" in card and "- `learning_rate`" not in card  # only what differs from the defaults
    assert "| train_loss |" in card


def test_ppo_logs_each_step_to_tensorboard_in_out_runs(cli, tiny_model, tmp_path):
    prompts = write_prompts(tmp_path / "prompts", n=8)
    out = tmp_path / "ppo"
    cli(
        "rlhf",
        prompts,
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-fn",
        write_reward_fn(tmp_path),
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "mini_batch_size=2",
        "--set",
        "max_new_tokens=4",
        "--set",
        "save_steps=1",
        "--set",
        "report_to=tensorboard",
    )
    scalars = _scalars(out / "runs" / "ppo")
    assert len(scalars["train/reward/mean"]) == 2 and len(scalars["train/objective/kl"]) == 2
    assert (out / "README.md").read_text().count("--algo ppo") == 1


def test_dpo_logs_to_wandb_offline(tiny_model, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from instructkit.train.rlhf import params_class, run_rlhf

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    prefs = write_preferences(tmp_path / "prefs", n=8)
    params = params_class("dpo")(
        algo="dpo", policy=str(tiny_model), max_steps=2, batch_size=4, save_steps=None, report_to=["wandb"]
    )
    params.run_name = "dpo-offline"
    run_rlhf([prefs], out=tmp_path / "dpo", params=params)
    import wandb

    assert wandb.run is None  # finished by the stage: a next stage in this process starts its own run
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # wandb 0.31 ships no reader of its .wandb log (protobuf records): its keys and names are plain bytes in it.
    (log,) = runs[0].glob("*.wandb")
    data = log.read_bytes()
    assert b"dpo-offline" in data and data.count(b"train/loss") >= 2 and b"train/rewards/margins" in data


def test_push_to_hub_uploads_the_committed_directory(sft_set, tiny_model, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))

        def upload_folder(self, **kw):
            files = sorted(p.name for p in __import__("pathlib").Path(kw["folder_path"]).iterdir())
            calls.append(("upload", kw, files))
            return "https://hub.example/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    out = tmp_path / "pushed"
    params = SFTParams(
        max_steps=1, batch_size=4, max_length=64, save_steps=None, push_to_hub=True, hub_model_id="me/tiny-sft"
    )
    params.hub_private = True
    run_sft([sft_set], model=str(tiny_model), out=out, params=params)
    (_, repo, kw), (_, upload, files) = calls
    assert repo == "me/tiny-sft" and kw["private"] is True
    assert upload["folder_path"] == str(out) and upload["repo_id"] == "me/tiny-sft"
    assert {"README.md", "manifest.json", "model.safetensors", "config.json"} <= set(files)


def test_report_to_is_checked_before_anything_loads(sft_set, tiny_model, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="report_to must be none or some of"):
        SFTParams(report_to=["tensorbord"])
    with pytest.raises(ConfigError):
        SFTParams(report_to=["none", "wandb"])
    assert SFTParams(report_to="tensorboard,wandb").report_to == ["tensorboard", "wandb"]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match="needs the mlflow package"):
        run_sft([sft_set], model=str(tiny_model), out=tmp_path / "x", params=SFTParams(report_to=["mlflow"]))
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
