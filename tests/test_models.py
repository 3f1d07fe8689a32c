"""instructkit.models: the one loading layer (tiny offline model: causal LM, reward model, encoder; refusals)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from instructkit import models
from instructkit.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from instructkit.train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "tiny")


def test_causal_lm_and_tokenizer(tiny):
    tok = models.load_tokenizer(tiny, pad_token=True, padding_side="left")
    lm = models.load_causal_lm(tiny, device="cpu", dtype="float32")
    assert type(lm).__name__ == "LlamaForCausalLM" and not lm.training  # moved to a device: eval mode
    assert tok.pad_token_id is not None and tok.padding_side == "left"
    enc = tok(["hello there"], return_tensors="pt")
    assert lm(**enc).logits.shape[-1] == lm.config.vocab_size
    assert models.load_causal_lm(str(tiny)).device.type == "cpu"  # no device: left where loaded (Trainer moves it)


def test_sequence_classifier(tiny):
    rm = models.load_sequence_classifier(tiny, device="cpu")
    assert rm.config.num_labels == 1 and rm.score.out_features == 1
    tok = models.load_tokenizer(tiny)
    models.sync_pad_token(rm, tok)
    assert rm.config.pad_token_id == tok.pad_token_id


def test_encoder_mean_pooled_and_normalised(tiny):
    enc = models.load_encoder(tiny, batch_size=2, device="cpu")
    emb = enc(["What is the capital of France?", "A poem about the sea.", "What is the capital of France?", ""])
    assert emb.shape == (4, enc.dim) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[2] > 0.9999 and emb[0] @ emb[1] < 0.9999
    assert enc([]).shape == (0, enc.dim)


def test_dtype_and_device_choice(tiny):
    import torch

    assert models.resolve_dtype(None) == models.resolve_dtype("auto") == "auto"
    assert models.resolve_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ConfigError, match="unknown dtype"):
        models.resolve_dtype("float99")
    assert models.pick_device("cpu") == "cpu"
    assert models.pick_device(None) == models.pick_device("auto") in ("cpu", "cuda")
    assert models.load_causal_lm(tiny, dtype="bfloat16").dtype == torch.bfloat16


def test_refuses_a_pickle_only_directory(tiny, tmp_path):
    import torch

    lm = models.load_causal_lm(tiny, dtype="float32")
    out = tmp_path / "pickled"
    lm.save_pretrained(out, safe_serialization=False)  # transformers 5 writes safetensors anyway
    (out / "model.safetensors").unlink(missing_ok=True)
    torch.save(lm.state_dict(), out / "pytorch_model.bin")
    for load in (models.load_causal_lm, models.load_sequence_classifier, models.load_base_model, models.Encoder):
        with pytest.raises(InputError, match="pickle weights .*pytorch_model.bin.*safetensors") as err:
            load(out)
        assert err.value.file == str(out) and "convert" in err.value.hint


def test_missing_and_non_model_directories(tmp_path):
    with pytest.raises(InputError, match="model directory not found"):
        models.load_causal_lm(tmp_path / "missing")
    with pytest.raises(InputError, match="cannot load model: not a model directory"):
        models.load_tokenizer(tmp_path)


def test_remote_code_is_off_unless_asked(tiny, tmp_path, monkeypatch):
    """A repo whose config points at its own Python file: refused by default, and the file never runs."""
    repo = tmp_path / "remote"
    shutil.copytree(tiny, repo)
    marker = tmp_path / "remote-code-ran"
    cfg = json.loads((repo / "config.json").read_text())
    cfg["model_type"] = "evilllama"
    cfg["auto_map"] = {"AutoConfig": "modeling_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilLM"}
    (repo / "config.json").write_text(json.dumps(cfg))
    (repo / "modeling_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n"
        "class EvilConfig(LlamaConfig):\n    model_type = 'evilllama'\n"
        "class EvilLM(LlamaForCausalLM):\n    config_class = EvilConfig\n"
    )
    with pytest.raises(InputError, match="cannot load model") as err:
        models.load_causal_lm(repo)
    assert "trust_remote_code" in err.value.hint and not marker.exists()

    seen = {}

    class Spy:
        @staticmethod
        def from_pretrained(name, **kwargs):
            seen.update(kwargs)
            return "model"

    assert models.load_pretrained(Spy, tiny) == "model"
    assert seen["trust_remote_code"] is False and seen["use_safetensors"] is True
    models.load_pretrained(Spy, tiny, trust_remote_code=True)
    assert seen["trust_remote_code"] is True


def test_old_import_paths_still_work(tiny):
    from instructkit.dedupe.semantic import Embedder
    from instructkit.train import common

    assert common.load_causal_lm is models.load_causal_lm and common.load_tokenizer is models.load_tokenizer
    assert issubclass(Embedder, models.Encoder)  # semantic dedupe embeds through the one loading layer
