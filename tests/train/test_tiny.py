"""`instructkit model tiny`: an offline tokenizer + Llama that loads back through the Auto classes."""

from __future__ import annotations

import json

from instructkit.train.checks import has_generation_markers


def test_tiny_loads_through_the_auto_classes(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert tok.pad_token == "<|pad|>" and tok.pad_token_id == 0
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id
    assert has_generation_markers(tok.chat_template)
    text = "Hello, 世界! 12 + 30 = 42"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text  # byte-level: nothing unknown
    lm = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert type(lm).__name__ == "LlamaForCausalLM" and lm.config.vocab_size == len(tok)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = lm.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= ids["input_ids"].shape[1] + 3
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    with torch.no_grad():
        assert rm(**tok("a b c", return_tensors="pt")).logits.shape == (1, 1)


def test_cli_builds_a_deterministic_tiny_model(tmp_path, cli):
    from safetensors.torch import load_file

    a = cli("model", "tiny", tmp_path / "a", "--hidden-size", "32", "--layers", "1", "--seed", "3")
    cli("model", "tiny", tmp_path / "b", "--hidden-size", "32", "--layers", "1", "--seed", "3")
    assert str(tmp_path / "a") in a.output
    info = json.loads((tmp_path / "a" / "instructkit.json").read_text())
    assert info["hidden_size"] == 32 and info["layers"] == 1
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    r = cli("model", "tiny", tmp_path / "c", "--hidden-size", "30", "--heads", "4", ok=False)
    assert r.exit_code == 2 and "must divide" in r.output


def test_model_stage_goes_through_the_registry(tmp_path):
    import pytest

    from instructkit.errors import ConfigError
    from instructkit.registry import run_stage

    with pytest.raises(ConfigError, match="unknown model 'nope'") as exc:
        run_stage("model", [], tmp_path / "x", sets={"name": "nope"})
    assert "tiny" in exc.value.hint
    result = run_stage(
        "model", [], tmp_path / "m", flags={"hidden_size": 16, "heads": 2, "layers": 1, "vocab_size": 300}
    )
    assert result.path == tmp_path / "m" and result.summary["model"] == "tiny"
    assert json.loads((tmp_path / "m" / "instructkit.json").read_text())["hidden_size"] == 16
