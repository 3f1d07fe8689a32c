"""Every model directory a training stage writes loads with the Auto classes and meets vLLM's loader
rules (the top level holds the model's weights only); PPO's value head lives in a subfolder and old
directories with a top-level head still resume; ``use_vllm`` is refused where vLLM cannot run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_rlhf_helpers import write_preferences, write_prompts, write_reward_fn

from instructkit.errors import ConfigError
from instructkit.train.rlhf import params_class, run_rlhf


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs-data")
    return {
        "prompts": write_prompts(root / "prompts", n=8),
        "prefs": write_preferences(root / "prefs", n=8),
        "fn": write_reward_fn(root),
    }


def vllm_weight_files(model_dir: Path) -> list[str]:
    """The files vLLM's default loader reads, following its rule: with an index
    (``model.safetensors.index.json``) the files its weight_map names, else every top-level ``*.safetensors``.
    Asserts every one of them holds only the model's weights (names the index or config would expect)."""
    index = model_dir / "model.safetensors.index.json"
    top = sorted(p.name for p in model_dir.glob("*.safetensors"))
    if index.is_file():
        named = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        assert set(named) <= set(top), (named, top)
        return named
    return top


def check_loadable(model_dir: Path, *, causal: bool = True) -> None:
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    files = vllm_weight_files(model_dir)
    assert files == ["model.safetensors"], files  # one weights file, nothing else at the top level
    auto = AutoModelForCausalLM if causal else AutoModelForSequenceClassification
    model, info = auto.from_pretrained(model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    with safe_open(str(model_dir / files[0]), "pt") as f:
        keys = set(f.keys())
    # Every tensor of the weights file belongs to the model (a value head there would be "unexpected" to vLLM).
    assert keys <= set(model.state_dict()), keys - set(model.state_dict())


ONLINE = {"batch_size": 4, "num_generations": 4, "max_completion_length": 4}
PPO_SET = {"batch_size": 4, "mini_batch_size": 2, "max_new_tokens": 4}


@pytest.mark.parametrize(
    "algo, data_key, extra",
    [
        ("ppo", "prompts", PPO_SET),
        ("a2c", "prompts", {"batch_size": 4, "max_new_tokens": 4}),
        ("grpo", "prompts", ONLINE),
        ("dpo", "prefs", {"batch_size": 4}),
    ],
)
def test_rlhf_outputs_load_with_automodel_and_by_vllm_rules(algo, data_key, extra, data, tiny_model, tmp_path):
    reward = {"reward_fn": [data["fn"]]} if data_key == "prompts" else {}
    params = params_class(algo)(algo=algo, policy=str(tiny_model), max_steps=1, save_steps=None, **reward, **extra)
    out = run_rlhf([data[data_key]], out=tmp_path / algo, params=params)["path"]
    check_loadable(out)
    if algo in ("ppo", "a2c"):
        assert (out / "value_head" / "value_head.safetensors").is_file()


def test_sft_and_reward_outputs_load(tiny_model, data, tmp_path):
    from instructkit.records import make_record, message
    from instructkit.shards import ShardWriter
    from instructkit.train.reward import RewardParams, run_reward
    from instructkit.train.sft import SFTParams, run_sft

    with ShardWriter(tmp_path / "sft-set", stage="test", conserving=False) as w:
        for i in range(4):
            w.write(make_record("sft", messages=[message("user", f"hi {i}"), message("assistant", "hello")]))
    sft = run_sft([w.path], model=str(tiny_model), out=tmp_path / "sft", params=SFTParams(max_steps=1, batch_size=4))
    check_loadable(sft["path"])
    rm = run_reward(
        [data["prefs"]],
        model=str(tiny_model),
        out=tmp_path / "rm",
        params=RewardParams(max_steps=1, batch_size=4, eval_split=0.0),
    )
    check_loadable(rm["path"], causal=False)


def test_ppo_resumes_from_a_checkpoint_with_the_old_top_level_value_head(data, tiny_model, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file, save_file

    from instructkit.train.ppo.trainer import PPOTrainer
    from instructkit.train.ppo.value import head_file

    out = tmp_path / "ppo"
    params = params_class("ppo")(
        algo="ppo", policy=str(tiny_model), reward_fn=[data["fn"]], max_steps=3, save_steps=1, **PPO_SET
    )

    def crash(stats):
        if stats["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_rlhf([data["prompts"]], out=out, params=params, log=crash)
    ckpt = tmp_path / "ppo.partial" / "checkpoints" / "checkpoint-1"  # the crash comes before step 2's save
    assert head_file(ckpt) == ckpt / "value_head" / "value_head.safetensors"
    # Turn it into a checkpoint of the old layout: the head beside the policy's weights.
    shutil.move(ckpt / "value_head" / "value_head.safetensors", ckpt / "value_head.safetensors")
    (ckpt / "value_head").rmdir()
    assert head_file(ckpt) == ckpt / "value_head.safetensors"
    # Known non-zero values (after one step the head may still be all zeros when every reward was 0):
    # the resumed trainer must hold exactly these, read from the old place.
    torch.manual_seed(1)
    saved = {k: torch.randn_like(v) for k, v in load_file(str(ckpt / "value_head.safetensors")).items()}
    save_file(saved, str(ckpt / "value_head.safetensors"))
    seen = {}
    original = PPOTrainer.load_checkpoint

    def spy(self, path):
        original(self, path)
        seen.update({k: v.detach().clone() for k, v in self.unwrapped.value_head.state_dict().items()})

    monkeypatch.setattr(PPOTrainer, "load_checkpoint", spy)
    result = run_rlhf([data["prompts"]], out=out, params=params, resume=True)
    assert seen and all(torch.equal(seen[k], saved[k]) for k in saved)  # restored from the old place
    check_loadable(result["path"])  # and the new output has the new layout


@pytest.mark.parametrize("algo", ["grpo", "rloo"])
def test_use_vllm_is_a_param_refused_with_a_reason_where_vllm_cannot_run(algo, data, tiny_model, tmp_path, monkeypatch):
    import importlib.util

    import torch

    params = params_class(algo)(algo=algo, policy=str(tiny_model), reward_fn=[data["fn"]], use_vllm=True, **ONLINE)
    assert params.use_vllm and params.vllm_mode == "colocate"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "vllm" else real(n, *a))
    with pytest.raises(ConfigError, match="use_vllm needs vLLM, which is not installed"):
        run_rlhf([data["prompts"]], out=tmp_path / "a", params=params)
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "vllm" else real(n, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="use_vllm needs a CUDA GPU"):
        run_rlhf([data["prompts"]], out=tmp_path / "b", params=params)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b.partial").exists()
    with pytest.raises(ConfigError, match="vllm_mode"):
        params_class(algo)(algo=algo, policy="p", vllm_mode="remote")
