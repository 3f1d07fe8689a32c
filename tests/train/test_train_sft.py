"""`instructkit sft` on the tiny model: loss falls, the first-step loss matches our masked-NLL oracle,
resume continues from the checkpoint's step, LoRA, chat templates, and clear CLI errors."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
from instructkit.train.checks import tokenize_example
from instructkit.train.common import load_records
from instructkit.train.sft import SFTParams, run_sft


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads oversubscribe (a tiny step goes 35 ms -> 800 ms)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def alpaca_set(tmp_path_factory, samples):
    """data/samples/alpaca.json ingested into an sft set (40 records, one very long)."""
    from instructkit.cli.app import app

    out = tmp_path_factory.mktemp("sft") / "ingest"
    result = CliRunner().invoke(app, ["ingest", str(samples / "alpaca.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, alpaca_set, tiny_model):
    """30 steps of SFT on the samples (the fast sft run of the default suite)."""
    out = tmp_path_factory.mktemp("trained") / "model"
    params = SFTParams(
        max_steps=30,
        learning_rate=3e-3,
        batch_size=4,
        logging_steps=1,
        max_length=192,
        save_steps=None,
        eval_split=0.1,
        seed=0,
    )
    return run_sft([alpaca_set], model=str(tiny_model), out=out, params=params)


def _losses(manifest_path) -> list[tuple[int, float]]:
    log = json.loads(manifest_path.read_text())["log_history"]
    return [(e["step"], e["loss"]) for e in log if "loss" in e]


def test_sft_loss_falls_and_writes_a_loadable_model(trained, alpaca_set):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    losses = [loss for _, loss in _losses(trained["manifest"])]
    assert len(losses) == 30
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.5, (first, last)  # ~6.1 -> ~5.3 here; a broken mask or lr stays flat
    m = json.loads(trained["manifest"].read_text())
    assert m["stage"] == "sft" and m["inputs"][0]["records"] == 40
    assert m["config"]["trainer"]["assistant_only_loss"] is True
    assert m["config"]["trainer"]["gradient_checkpointing"] is False and m["config"]["trainer"]["bf16"] is False
    assert m["config"]["params"]["max_steps"] == 30 and m["versions"]["transformers"]
    assert m["metrics"]["eval_loss"] < losses[0] and m["data"]["train"]["truncated"] >= 1  # the long answer
    path = trained["path"]
    assert not (path.parent / (path.name + ".partial")).exists()
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.vocab_size >= len(tok) and tok.pad_token != tok.eos_token


def test_first_step_loss_equals_our_masked_nll(trained, alpaca_set, tmp_path):
    """The oracle: logits from the model, shift by one, keep only assistant-mask labels, mean NLL over the
    batch's tokens. It must equal the loss TRL reports for step 1 (lr=0, one batch holding every example)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    records = load_records([alpaca_set], {"sft"})[0][:8]
    with ShardWriter(tmp_path / "eight", stage="test") as w:
        for r in records:
            w.count_in()
            w.write(r)
    params = SFTParams(
        max_steps=1, learning_rate=0.0, batch_size=8, logging_steps=1, max_length=128, save_steps=None, seed=0
    )
    res = run_sft([tmp_path / "eight"], model=str(trained["path"]), out=tmp_path / "m", params=params)
    trl_loss = _losses(res["manifest"])[0][1]

    tok = AutoTokenizer.from_pretrained(trained["path"])
    model = AutoModelForCausalLM.from_pretrained(trained["path"]).eval()
    eot = tok.eos_token_id
    sums = {"masked": [0.0, 0], "full": [0.0, 0], "no_eot": [0.0, 0]}
    with torch.no_grad():
        for r in records:
            ids, mask = tokenize_example(tok, r["messages"])
            ids, mask = ids[:128], mask[:128]
            logits = model(torch.tensor([ids])).logits[0, :-1]
            nll = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="none")
            keep = torch.tensor(mask[1:], dtype=torch.bool)
            not_eot = torch.tensor(ids[1:]) != eot
            for name, sel in (("masked", keep), ("full", torch.ones_like(keep)), ("no_eot", keep & not_eot)):
                sums[name][0] += nll[sel].sum().item()
                sums[name][1] += int(sel.sum())
    oracle = {name: total / n for name, (total, n) in sums.items()}
    assert trl_loss == pytest.approx(oracle["masked"], abs=2e-5)  # agrees to ~1e-6 in float32
    # The tolerance is far below what a changed mask does: training on the prompt too, or dropping
    # the end-of-turn labels (here ~1.3e-3), moves the loss far more than the tolerance.
    assert abs(oracle["full"] - trl_loss) > 1e-2
    assert abs(oracle["no_eot"] - trl_loss) > 2e-4


def _arith_set(path, n=24):
    with ShardWriter(path, stage="test") as w:
        for i in range(n):
            w.count_in()
            w.write(
                make_record(
                    "sft", messages=[message("user", f"What is {i} + 1?"), message("assistant", f"It is {i + 1}.")]
                )
            )
    return path


def test_resume_continues_from_the_checkpoint_step(tmp_path, tiny_model):
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def __init__(self, crash_at=None):
            self.seen, self.crash_at = [], crash_at

        def on_step_end(self, args, state, control, **kwargs):
            self.seen.append(state.global_step)
            if state.global_step == self.crash_at:
                raise KeyboardInterrupt

    data = _arith_set(tmp_path / "d")
    out = tmp_path / "m"
    params = SFTParams(max_steps=5, save_steps=2, logging_steps=1, batch_size=4, learning_rate=1e-3, seed=0)
    first = Steps(crash_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_sft([data], model=str(tiny_model), out=out, params=params, callbacks=[first])
    assert first.seen == [1, 2, 3] and not out.exists()
    assert (tmp_path / "m.partial" / "checkpoints" / "checkpoint-2").is_dir()

    again = Steps()
    res = run_sft([data], model=str(tiny_model), out=out, params=params, resume=True, callbacks=[again])
    assert again.seen == [3, 4, 5]  # continues after checkpoint-2, not from 0
    m = json.loads(res["manifest"].read_text())
    assert m["resumed_from"].endswith("checkpoint-2") and m["metrics"]["global_step"] == 5
    assert not (tmp_path / "m.partial").exists()


def test_lora_sft_saves_a_merged_model(tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM

    params = SFTParams(
        max_steps=2,
        lora=True,
        lora_r=4,
        lora_alpha=8,
        learning_rate=1e-3,
        batch_size=4,
        save_steps=None,
        logging_steps=1,
    )
    res = run_sft([_arith_set(tmp_path / "d")], model=str(tiny_model), out=tmp_path / "m", params=params)
    assert not (res["path"] / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(res["path"])
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert json.loads(res["manifest"].read_text())["config"]["params"]["lora"] is True


def test_cli_base_model_needs_a_template_and_chatml_installs_one(tmp_path, tiny_model, cli):
    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    (base / "chat_template.jinja").unlink()
    cfg = json.loads((base / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(cfg))
    data = _arith_set(tmp_path / "d", n=8)
    r = cli("sft", data, "--model", base, "-o", tmp_path / "m", "--max-steps", "1", ok=False)
    assert r.exit_code == 2 and "no chat template" in r.output and "--chat-template chatml" in r.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()
    r = cli(
        "sft",
        data,
        "--model",
        base,
        "-o",
        tmp_path / "m",
        "--max-steps",
        "2",
        "--chat-template",
        "chatml",
        "--set",
        "save_steps=null",
        "--batch-size",
        "4",
    )
    assert (tmp_path / "m" / "model.safetensors").is_file() and "steps" in r.output


def test_cli_errors_are_one_line_exit_2(tmp_path, tiny_model, cli):
    data = _arith_set(tmp_path / "d", n=8)
    with ShardWriter(tmp_path / "prefs", stage="test") as w:
        w.count_in()
        w.write(
            make_record(
                "preference",
                prompt=[message("user", "q")],
                chosen=[message("assistant", "a")],
                rejected=[message("assistant", "b")],
            )
        )
    cases = [
        (["sft", tmp_path / "prefs", "--model", tiny_model, "-o", tmp_path / "o"], "holds 'preference'"),
        (["sft", data, "--model", tiny_model, "-o", tmp_path / "o", "--set", "lerning_rate=1"], "valid keys"),
        (["sft", data, "--model", tiny_model, "-o", tmp_path / "o", "--set", "overlong=chop"], "overlong"),
        (["sft", data, "--model", tiny_model, "-o", tmp_path / "o", "--packing"], "packing is refused"),
        (["sft", data, "--model", tmp_path / "missing", "-o", tmp_path / "o"], "model directory not found"),
        (["sft", data, "--model", tiny_model, "-o", tmp_path / "o", "--resume"], "no checkpoint"),
        (["sft", data, "--model", tiny_model, "-o", data], "not empty"),
    ]
    for args, expected in cases:
        r = cli(*args, ok=False)
        assert r.exit_code == 2, (args, r.output)
        assert expected in r.output and "Traceback" not in r.output, (expected, r.output)
    assert not (tmp_path / "o.partial").exists()
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("max_steps: [1, 2]\n")
    r = cli("sft", data, "--model", tiny_model, "-o", tmp_path / "o", "--config", cfg, ok=False)
    assert r.exit_code == 2 and "max_steps" in r.output


@pytest.mark.slow
def test_sft_converges_on_arithmetic(tmp_path, tiny_model):
    params = SFTParams(
        epochs=30, learning_rate=3e-3, batch_size=8, logging_steps=5, save_steps=None, eval_split=0.1, seed=0
    )
    res = run_sft([_arith_set(tmp_path / "d", n=80)], model=str(tiny_model), out=tmp_path / "m", params=params)
    assert res["metrics"]["eval_loss"] < 1.5


def test_gpu_recipe_runs_on_the_cpu_with_the_tiny_model(tmp_path, tiny_model, cli):
    """recipes/sft-gpu.yaml (LoRA, TRL's training template, bf16 auto) runs here too: bf16 and checkpointing
    resolve to off on the CPU."""
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "sft-gpu.yaml"
    cli(
        "sft",
        _arith_set(tmp_path / "d"),
        "--model",
        tiny_model,
        "-o",
        tmp_path / "m",
        "--config",
        recipe,
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--set",
        "gradient_accumulation_steps=1",
    )
    m = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert m["config"]["params"]["lora"] is True and m["config"]["trainer"]["bf16"] is False
    assert m["config"]["trainer"]["gradient_checkpointing"] is False and m["metrics"]["global_step"] == 2


def test_resume_a_finished_model_with_kept_checkpoints(tmp_path, tiny_model):
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        seen: list = []

        def on_step_end(self, args, state, control, **kwargs):
            self.seen.append(state.global_step)

    data = _arith_set(tmp_path / "d", n=8)
    params = SFTParams(max_steps=2, save_steps=2, batch_size=4, learning_rate=1e-3, keep_checkpoints=True)
    res = run_sft([data], model=str(tiny_model), out=tmp_path / "m", params=params)
    assert (res["path"] / "checkpoints" / "checkpoint-2").is_dir()
    more = Steps()
    params.max_steps = 3
    res = run_sft([data], model=str(tiny_model), out=tmp_path / "m", params=params, resume=True, callbacks=[more])
    assert more.seen == [3] and (res["path"] / "checkpoints" / "checkpoint-3").is_dir()
