"""Training plumbing without training: pre-flight mask checks, params, inputs, output dir, manifest."""

from __future__ import annotations

import json

import pytest

from instructkit.errors import ConfigError, InputError
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter
from instructkit.train.checks import has_generation_markers, preflight_sft, tokenize_example
from instructkit.train.common import (
    OutputDir,
    TrainParams,
    load_params,
    load_records,
    load_tokenizer,
    split_records,
    write_model_manifest,
)
from instructkit.train.tiny import CHATML_TEMPLATE


def _sft(i: int, answer: str | None = None) -> dict:
    return make_record(
        "sft",
        messages=[message("user", f"What is {i} + {i}?"), message("assistant", answer or f"The answer is {2 * i}.")],
    )


def _pref(i: int) -> dict:
    return make_record(
        "preference",
        prompt=[message("user", f"q{i}")],
        chosen=[message("assistant", "good")],
        rejected=[message("assistant", "bad")],
    )


def _set(path, records):
    with ShardWriter(path, stage="test") as w:
        for r in records:
            w.count_in()
            w.write(r)
    return w.path


@pytest.fixture
def tok(tiny_model):
    return load_tokenizer(tiny_model)


def test_tiny_template_masks_assistant_tokens_and_end_of_turn(tok):
    ids, mask = tokenize_example(tok, _sft(3)["messages"])
    trained = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert trained == "The answer is 6.<|im_end|>"
    assert has_generation_markers(tok.chat_template)


def test_template_without_generation_markers_is_refused(tok):
    tok.chat_template = CHATML_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    with pytest.raises(ConfigError, match="no \\{% generation %\\} markers.*") as err:
        preflight_sft([_sft(1)], tok, max_length=64)
    assert "--chat-template" in str(err.value)


def test_empty_assistant_mask_is_refused(tok):
    # Markers present but around nothing: every label would be -100.
    tok.chat_template = CHATML_TEMPLATE.replace(
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}",
        "{% generation %}{% endgeneration %}{{ message['content'] + '<|im_end|>' }}",
    )
    with pytest.raises(InputError, match="assistant mask is empty"):
        preflight_sft([_sft(1)], tok, max_length=64)


def test_end_of_turn_outside_the_mask_is_refused(tok):
    tok.chat_template = CHATML_TEMPLATE.replace(
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}",
        "{% generation %}{{ message['content'] }}{% endgeneration %}{{ '<|im_end|>' }}",
    )
    with pytest.raises(InputError, match="does not include the end-of-turn token"):
        preflight_sft([_sft(1)], tok, max_length=64)


def test_pad_equal_to_end_of_turn_is_refused(tok):
    tok.pad_token = tok.eos_token
    with pytest.raises(ConfigError, match="pad token .* is the end-of-turn token"):
        preflight_sft([_sft(1)], tok, max_length=64)


def test_overlong_policies(tok):
    long = _sft(9, answer="word " * 200)
    recs = [_sft(1), long]
    kept, rep = preflight_sft(recs, tok, max_length=40, overlong="truncate")
    assert len(kept) == 2 and rep.truncated == 1 and rep.max_tokens == 40
    kept, rep = preflight_sft(recs, tok, max_length=40, overlong="drop")
    assert [r["id"] for r in kept] == [recs[0]["id"]] and rep.dropped == {"overlong": 1}
    with pytest.raises(InputError, match="over max_length 40"):
        preflight_sft(recs, tok, max_length=40, overlong="error")
    # A prompt that fills max_length leaves no response token: dropped under truncate, as TRL would.
    long_prompt = make_record("sft", messages=[message("user", "word " * 200), message("assistant", "ok")])
    kept, rep = preflight_sft([_sft(1), long_prompt], tok, max_length=40)
    assert len(kept) == 1 and rep.dropped == {"no_response_within_max_length": 1}


def test_load_records_refuses_wrong_kind_naming_the_set(tmp_path):
    prefs = _set(tmp_path / "prefs", [_pref(i) for i in range(3)])
    with pytest.raises(InputError, match="sft needs 'sft' records; .*prefs.* holds 'preference'"):
        load_records([prefs], {"sft"}, stage="sft")
    records, sets = load_records([_set(tmp_path / "sft", [_sft(i) for i in range(4)])], {"sft"})
    assert len(records) == 4 and isinstance(sets[0], ShardSet)


def test_split_is_deterministic_and_disjoint():
    recs = [_sft(i) for i in range(20)]
    a_train, a_eval = split_records(recs, 0.25, seed=1)
    b_train, b_eval = split_records(recs, 0.25, seed=1)
    assert a_eval == b_eval and len(a_eval) == 5 and len(a_train) == 15
    assert not {r["id"] for r in a_eval} & {r["id"] for r in a_train}
    assert split_records(recs, 0.25, seed=2)[1] != a_eval


def test_params_precedence_and_unknown_keys(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rate: 1.0e-4\nmax_steps: 7\nseed: 3\n")
    p = load_params(TrainParams, config=cfg, flags={"max_steps": 9, "seed": None}, sets=["seed=5"])
    assert (p.learning_rate, p.max_steps, p.seed) == (1e-4, 9, 5)
    cfg.write_text("learning_rat: 1\n")
    with pytest.raises(ConfigError, match="unknown key 'learning_rat'.*valid keys: .*learning_rate"):
        load_params(TrainParams, config=cfg)
    with pytest.raises(ConfigError, match="eval_split"):
        load_params(TrainParams, sets=["eval_split=1.5"])


def test_output_dir_refuses_existing_and_keeps_interrupted_checkpoints(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "x").write_text("old")
    with pytest.raises(InputError, match="not empty"):
        OutputDir(out)
    fresh = tmp_path / "fresh"
    d = OutputDir(fresh)
    d.start()
    (d.checkpoints / "checkpoint-3").mkdir()
    d.abandon()  # a crash after a checkpoint: the partial dir stays for --resume
    with pytest.raises(InputError, match="interrupted run"):
        OutputDir(fresh)
    r = OutputDir(fresh, resume=True)
    r.start()
    assert r.resume_from().endswith("checkpoint-3")
    # Without a checkpoint, a failed run leaves nothing behind.
    e = OutputDir(tmp_path / "empty")
    e.start()
    e.abandon()
    assert not e.partial.exists()
    # --force replaces the old model in one rename at the end.
    f = OutputDir(out, force=True)
    f.start()
    f.model.mkdir()
    (f.model / "config.json").write_text("{}")
    f.commit()
    assert (out / "config.json").is_file() and not (out / "x").exists() and not f.partial.exists()


def test_manifest_is_atomic_and_redacts_secrets(tmp_path):
    s = ShardSet(_set(tmp_path / "sft", [_sft(1)]))
    (tmp_path / "model").mkdir()
    path = write_model_manifest(
        tmp_path / "model",
        stage="sft",
        inputs=[s],
        config={
            "trainer": {"hub_token": "hf_secret", "learning_rate": 0.1, "eos_token": "<|im_end|>"},
            "generator": {"api_key": "sk-secret", "openai_api_key": "sk-2"},
        },
        metrics={"train_loss": 1.0},
        log_history=[{"step": 1, "loss": 2.0, "num_tokens": 9.0}],
    )
    text = path.read_text()
    assert "hf_secret" not in text and "sk-secret" not in text and "sk-2" not in text
    m = json.loads(text)
    assert m["inputs"][0]["fingerprint"] == s.fingerprint and m["versions"]["trl"]
    assert m["config"]["trainer"]["learning_rate"] == 0.1 and m["log_history"][0]["loss"] == 2.0
    assert m["config"]["trainer"]["eos_token"] == "<|im_end|>" and m["log_history"][0]["num_tokens"] == 9.0
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["manifest.json"]


def test_gpu_recipes_are_valid_configs_with_commands():
    import yaml

    from instructkit.train.reward import RewardParams
    from instructkit.train.sft import SFTParams

    root = __import__("pathlib").Path(__file__).resolve().parents[2] / "recipes"
    sft = load_params(SFTParams, config=root / "sft-gpu.yaml")
    assert sft.lora and sft.chat_template == "training" and sft.bf16 == "auto"
    rm = load_params(RewardParams, config=root / "reward-gpu.yaml")
    assert rm.margins == "none" and rm.epochs == 1
    for name in ("sft-gpu.yaml", "reward-gpu.yaml"):
        assert (root / name).read_text().startswith("# instructkit ")
    for name in ("zero2.yaml", "zero3.yaml", "fsdp.yaml"):
        text = (root / "accelerate" / name).read_text()
        assert f"accelerate launch --config_file recipes/accelerate/{name} -m instructkit" in text
        assert yaml.safe_load(text)["num_processes"] >= 2
