"""Mainstream models train without hand edits: a chat template with generation markers picked by
family, and a distinct existing pad token when pad == end of turn (train/checks.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from instructkit.errors import ConfigError
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
from instructkit.train.checks import check_tokenizer, prepare_tokenizer, tokenize_example
from instructkit.train.common import load_tokenizer

# SmolLM2-135M-Instruct's own template (ChatML, no generation markers, a default system prompt).
SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CONV = [message("user", "What is 2 + 2?"), message("assistant", "4")]


@pytest.fixture
def smol_like(tiny_model):
    """The tiny tokenizer dressed as SmolLM2 ships: its template, and pad = eos = <|im_end|>."""
    tok = load_tokenizer(tiny_model)
    tok.chat_template = SMOL_TEMPLATE
    tok.eos_token = "<|im_end|>"
    tok.pad_token = "<|im_end|>"
    return tok


def test_chatml_family_gets_marked_chatml_with_its_default_system_prompt(smol_like):
    before = smol_like.apply_chat_template(CONV, tokenize=False)
    with pytest.raises(ConfigError):
        check_tokenizer(smol_like)
    picked = prepare_tokenizer(smol_like, chat_template=None, model="smol", markers=True)
    assert picked["chat_template"] == "chatml"  # renders exactly as the model's own
    assert smol_like.apply_chat_template(CONV, tokenize=False) == before
    assert picked["pad_token"] not in ("<|im_end|>", "<|im_start|>")
    assert smol_like.pad_token_id != smol_like.eos_token_id
    assert picked["pad_token_choice"].startswith("chosen (was the end-of-turn token")
    check_tokenizer(smol_like)  # no error left
    ids, mask = tokenize_example(smol_like, CONV)
    trained = [t for t, b in zip(ids, mask, strict=True) if b]
    assert smol_like.decode(trained) == "4<|im_end|>"  # the reply and its end of turn, nothing else


def test_a_family_trl_knows_gets_trls_training_variant(tiny_model):
    import trl

    tok = load_tokenizer(tiny_model)
    tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()
    picked = prepare_tokenizer(tok, chat_template=None, model="qwen-like", markers=True)
    assert picked["chat_template"] == "training"
    assert "{% generation %}" in tok.chat_template
    assert picked["pad_token_choice"] == "the tokenizer's own"  # <|pad|> was already distinct


def test_no_safe_choice_keeps_the_error(tiny_model):
    tok = load_tokenizer(tiny_model)
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ConfigError, match="neither a family TRL has a training variant for nor ChatML"):
        prepare_tokenizer(tok, chat_template=None, model="odd", markers=True)
    # model keeps the model's own template as is; the check then refuses it, as before
    prepare_tokenizer(tok, chat_template="model", model="odd", markers=True)
    with pytest.raises(ConfigError, match="no \\{% generation %\\} markers"):
        check_tokenizer(tok)


def test_sft_cli_on_a_smollm2_like_model_runs_and_records_both_choices(tmp_path, tiny_model, cli):
    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    (base / "chat_template.jinja").write_text(SMOL_TEMPLATE)
    cfg = json.loads((base / "tokenizer_config.json").read_text())
    cfg["pad_token"] = "<|im_end|>"
    (base / "tokenizer_config.json").write_text(json.dumps(cfg))
    with ShardWriter(tmp_path / "d", stage="test") as w:
        for i in range(8):
            w.count_in()
            w.write(make_record("sft", messages=[message("user", f"{i} + 1?"), message("assistant", f"{i + 1}")]))
    r = cli(
        "sft", tmp_path / "d", "--model", base, "-o", tmp_path / "m", "--max-steps", "1", "--set", "save_steps=null"
    )
    text = " ".join(r.output.split())
    assert "chat template" in text and "chatml" in text and "chosen (was the end-of-turn token" in text
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["tokenizer"]["chat_template"] == "chatml"
    assert manifest["chat_template"] == "chatml"
    saved = load_tokenizer(tmp_path / "m")
    assert saved.pad_token == manifest["tokenizer"]["pad_token"] != saved.eos_token


def test_real_smollm2_tokenizer(smollm2):
    tok = load_tokenizer(smollm2)
    assert tok.pad_token_id == tok.eos_token_id == 2  # as shipped
    picked = prepare_tokenizer(tok, chat_template=None, model="smollm2", markers=True)
    assert picked == {
        "chat_template": "chatml",
        "pad_token": "<|endoftext|>",
        "pad_token_id": 0,
        "pad_token_choice": "chosen (was the end-of-turn token '<|im_end|>')",
    }
    check_tokenizer(tok)
