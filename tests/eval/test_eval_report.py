"""`instructkit eval` end to end on the tiny models: the report's files, contents, safety and errors."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from openai_server import ScriptedServer

from instructkit.records import make_record, message
from instructkit.shards import ShardWriter

QA = [
    ("What is 12 + 30?", "The answer is 42."),
    ("Say yes.", "Yes."),
    ("Explain why the sky is blue.", "Rayleigh scattering."),
    ("Greet me.", "Hello!"),
]
SECRET = "sk-eval-test-NEVER-WRITTEN-9876"


@pytest.fixture(scope="module")
def setup(tiny_model, tmp_path_factory):
    """Three policies (two share weights with the tiny model), a reward model and three sets."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from instructkit.train.tiny import build_tiny

    root = tmp_path_factory.mktemp("eval")
    shutil.copytree(tiny_model, root / "sft")
    build_tiny(root / "dpo", seed=1)
    (root / "dpo" / "manifest.json").write_text(
        json.dumps(
            {
                "format": "instructkit.model/1",
                "stage": "rlhf-dpo",
                "log_history": [
                    {"step": 1, "loss": 0.69},
                    {"step": 2, "loss": 0.61},
                    {"step": 3, "loss": 0.55},
                    {"train_runtime": 1.0, "step": 3},
                ],
            }
        )
    )
    shutil.copytree(tiny_model, root / "rm")
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1).save_pretrained(root / "rm")
    with ShardWriter(root / "data" / "sft", stage="test", kind="sft") as w:
        for i, (q, a) in enumerate(QA):
            w.count_in()
            w.write(make_record("sft", messages=[message("user", q), message("assistant", a)], source={"row": i}))
    with ShardWriter(root / "data" / "pref", stage="test", kind="preference") as w:
        for i in range(3):
            w.count_in()
            w.write(
                make_record(
                    "preference",
                    prompt=[message("user", f"Question {i}?")],
                    chosen=[message("assistant", "A careful, correct answer.")],
                    rejected=[message("assistant", "No.")],
                    source={"row": i},
                )
            )
    with ShardWriter(root / "data" / "prompts", stage="test", kind="prompt") as w:
        w.count_in()
        w.write(make_record("prompt", prompt=[message("user", "Write a short poem about the sea.")], source={"row": 0}))
    return root


def _judge_reply(body: dict) -> str:
    """A scripted judge over real HTTP: grades 7, and always prefers the answer shown first."""
    return "Fine. [[A]]" if "Assistant A" in body["messages"][-1]["content"] else "Rating: [[7]]"


def test_eval_report_end_to_end(setup, cli, monkeypatch):
    # The judge against the real tiny-model server is tested in test_eval_judge.py; here a scripted
    # server (real HTTP too) makes the judge columns predictable and the test fast.
    root = setup
    monkeypatch.setenv("EVAL_TEST_KEY", SECRET)
    out = root / "report"
    with ScriptedServer(reply=_judge_reply) as judge:
        result = cli(
            "eval",
            "--model",
            root / "sft",
            "--model",
            root / "dpo",
            "--reference",
            root / "sft",
            "--reward-model",
            root / "rm",
            "--data",
            root / "data" / "sft",
            "--data",
            root / "data" / "pref",
            "--data",
            root / "data" / "prompts",
            "-o",
            out,
            "--max-new-tokens",
            6,
            "--n-boot",
            50,
            "--batch-size",
            3,
            "--judge-url",
            judge.url,
            "--judge-max-new-tokens",
            4,
            "--judge-api-key-env",
            "EVAL_TEST_KEY",
        )
    assert judge.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert str(out) in result.output
    files = {p.name for p in out.iterdir()}
    assert {
        "report.json",
        "report.md",
        "generations.jsonl",
        "judgments.json",
        "rewards.png",
        "win_rates.png",
        "lengths.png",
        "training_curves.png",
    } <= files
    for png in ("rewards.png", "win_rates.png", "lengths.png", "training_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text())
    assert report["models"] == ["sft", "dpo"] and report["reference"] == "sft"
    items = len(QA) + 3 + 1
    sft_set = str(root / "data" / "sft")
    for name in ("sft", "dpo"):
        r = report["results"][name]
        assert r["perplexity"][sft_set]["tokens"] > 0 and r["perplexity"][sft_set]["perplexity"] > 1
        assert set(r["reference_metrics"][sft_set]) == {"bleu", "rougeL_f1", "exact_match", "n"}
        assert r["reference_metrics"][sft_set]["n"] == len(QA)  # only sft sets have references
        assert r["length"]["chars"]["n"] == items and r["reward"]["n"] == items
        assert r["judge_single"]["n"] == items and r["judge_single"]["mean"] == 7.0
    assert "win_rate" not in report["results"]["sft"]  # the reference is not compared with itself
    wr = report["results"]["dpo"]["win_rate"]
    assert wr["raw"]["n"] == items and wr["raw"]["wins"] + wr["raw"]["ties"] + wr["raw"]["losses"] == items
    pairwise = report["results"]["dpo"]["judge_pairwise"]
    assert pairwise["n"] == items and pairwise["ties"] == items  # first-position bias cancelled
    assert pairwise["position_consistency"] == 0.0 and "verdicts" not in pairwise  # details: judgments.json
    details = json.loads((out / "judgments.json").read_text())
    assert details["pairwise"]["dpo"]["verdicts"] == ["tie"] * items
    assert report["results"]["dpo"]["log_history"][0] == {"step": 1, "loss": 0.69}
    acc = report["reward_model"]["preference_accuracy"][str(root / "data" / "pref")]
    assert acc["n"] == 3 and 0.0 <= acc["accuracy"] <= 1.0
    # Every metric whose needs are met ran, length bias included (chosen is always the longer reply here).
    assert {"perplexity", "references", "length", "reward", "win_rate", "rewardbench", "length_bias", "judge"} <= set(
        report["metrics"]
    )
    bias = report["length_bias"]["preference_sets"][str(root / "data" / "pref")]
    assert bias["n_unequal"] == 3 and bias["labels_prefer_longer"] == 1.0
    assert bias["rm_prefers_longer"] == acc["accuracy"]  # chosen is longer: "prefers longer" is "right"
    assert report["length_bias"]["generations"]["n"] == 2 * items
    assert report["judge"]["model"] == "scripted"  # the only model the server lists
    assert report["judge"]["requests_sent"] == 1 + 2 * items + 2 * items  # /v1/models, grades, both orders
    gens = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert len(gens) == 2 * items and {g["model"] for g in gens} == {"sft", "dpo"}
    assert all(isinstance(g["reward"], float) for g in gens)
    md = (out / "report.md").read_text()
    assert "| metric | sft (reference) | dpo |" in md  # side by side
    for heading in ("Perplexity", "Against references", "Generation length", "Reward model", "Judge", "Length bias"):
        assert f"## {heading}" in md
    for path in out.iterdir():  # the API key never lands in a report file
        assert SECRET.encode() not in path.read_bytes()
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]

    # The report directory is never overwritten silently.
    again = cli("eval", "--model", root / "dpo", "--data", root / "data" / "prompts", "-o", out, ok=False)
    assert again.exit_code == 2 and "already exists" in again.output
    assert (out / "judgments.json").exists()
    cli(
        "eval",
        "--model",
        root / "dpo",
        "--data",
        root / "data" / "prompts",
        "-o",
        out,
        "--force",
        "--max-new-tokens",
        4,
    )
    replaced = json.loads((out / "report.json").read_text())
    assert replaced["models"] == ["dpo"] and not (out / "judgments.json").exists()
    assert not [p for p in root.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_config_set_and_flags_in_that_order(setup, tmp_path, cli):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("max_new_tokens: 2\nbatch_size: 2\nmetrics: [length]\nn_boot: 7\n")
    args = ["-m", setup / "dpo", "-d", setup / "data" / "prompts", "--config", cfg]  # the short spellings
    cli("eval", *args, "--set", "max_new_tokens=3", "--set", "batch_size=1", "--batch-size", 4, "-o", tmp_path / "a")
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    params = report["params"]
    # defaults < --config < --set < flags; the field name is the key everywhere.
    assert (params["max_new_tokens"], params["batch_size"], params["n_boot"]) == (3, 4, 7)
    assert params["model"] == [str(setup / "dpo")] and "force" not in params  # force steers the write only
    assert report["metrics"] == ["length"] and "perplexity" not in report["results"]["dpo"]
    assert (tmp_path / "a" / "lengths.png").exists()
    bad = cli("eval", *args, "--set", "metrics=win_rate", "-o", tmp_path / "b", ok=False)
    assert bad.exit_code == 2 and "needs" in bad.output and "--reference" in bad.output
    bad = cli("eval", *args, "--metrics", "nope", "-o", tmp_path / "b", ok=False)
    assert bad.exit_code == 2 and "unknown metric" in bad.output and "length_bias" in bad.output
    bad = cli("eval", *args, "--set", "max_new_token=3", "-o", tmp_path / "b", ok=False)
    assert bad.exit_code == 2 and "max_new_tokens" in bad.output  # unknown key: the valid ones are listed
    assert not (tmp_path / "b").exists()


def test_generation_is_deterministic(setup, tmp_path, cli):
    args = ["--model", setup / "dpo", "--data", setup / "data" / "sft", "--max-new-tokens", 6, "--n-boot", 10]
    cli("eval", *args, "-o", tmp_path / "a")
    cli("eval", *args, "--batch-size", 1, "-o", tmp_path / "b")
    a = [json.loads(x)["generation"] for x in (tmp_path / "a" / "generations.jsonl").read_text().splitlines()]
    b = [json.loads(x)["generation"] for x in (tmp_path / "b" / "generations.jsonl").read_text().splitlines()]
    assert a == b and len(a) == len(QA)


def test_eval_errors_are_one_line(setup, tmp_path, cli):
    data = setup / "data" / "sft"
    r = cli("eval", "--model", tmp_path / "nope", "--data", data, "-o", tmp_path / "r", ok=False)
    assert r.exit_code == 2 and "model directory not found" in r.output
    r = cli("eval", "--model", setup / "dpo", "--data", tmp_path / "noset", "-o", tmp_path / "r", ok=False)
    assert r.exit_code == 2 and "no such shard set" in r.output
    r = cli("eval", "--model", setup / "dpo", "--data", data, "--judge-model", "x", "-o", tmp_path / "r", ok=False)
    assert r.exit_code == 2 and "--judge-url" in r.output
    r = cli(
        "eval",
        "--model",
        setup / "dpo",
        "--data",
        data,
        "--reward-model",
        setup / "sft",
        "-o",
        tmp_path / "r",
        ok=False,
    )
    assert r.exit_code == 2 and "one output" in r.output  # a causal LM is not a reward model
    assert not (tmp_path / "r").exists()
    if importlib.util.find_spec("lm_eval") is None:
        r = cli(
            "eval", "--model", setup / "dpo", "--data", data, "--lm-eval", "hellaswag", "-o", tmp_path / "r", ok=False
        )
        assert r.exit_code == 2 and "pip install" in r.output and "lm-eval" in r.output


def test_eval_help_has_every_option(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich shortens long flag names (--trust-remote-code) at 80 columns
    out = cli("eval", "--help").output
    for opt in (
        "--model",
        "--reference",
        "--reward-model",
        "--data",
        "--max-new-tokens",
        "--batch-size",
        "--seed",
        "--judge-url",
        "--judge-model",
        "--lm-eval",
        "--force",
        "--trust-remote-code",
        "--metrics",
        "--config",
        "--set",
        "--list-metrics",
        "Example:",
    ):
        assert opt in out


class _Bars:
    """Stands in for ``stage.progress_bar``: records each bar's label, total and advance calls."""

    def __init__(self):
        self.bars: list[dict] = []

    def __call__(self, description, total=None):
        bar = {"description": description, "total": total, "calls": [], "open": False}
        self.bars.append(bar)
        outer = self

        class _Ctx:
            def __enter__(self):
                bar["open"] = True
                return lambda n=1: bar["calls"].append(n) if bar["open"] else outer.bars.append({"late": n})

            def __exit__(self, *exc):
                bar["open"] = False

        return _Ctx()


def test_eval_progress_bars_count_batches(setup, tmp_path, cli, monkeypatch):
    from instructkit import stage
    from instructkit.generation import LocalGenerator

    bars = _Bars()
    monkeypatch.setattr(stage, "progress_bar", bars)
    root, out = setup, tmp_path / "report"
    pref = str(root / "data" / "pref")
    result = cli(
        "eval",
        *("--model", root / "sft", "--model", root / "dpo", "--reference", root / "sft"),
        *("--reward-model", root / "rm", "--max-new-tokens", 6, "--n-boot", 10, "--batch-size", 3),
        *("--data", root / "data" / "sft", "--data", pref, "--data", root / "data" / "prompts", "-o", out),
    )
    items = len(QA) + 3 + 1  # 8 prompts: batches of 3, 3, 2
    assert "eval: model sft: perplexity and 8 generations" in result.output  # status lines unchanged
    got = {b["description"]: (b["total"], b["calls"]) for b in bars.bars}
    assert got == {
        "sft: perplexity": (len(QA), [3, 1]),
        "sft: generation": (items, [3, 3, 2]),
        "dpo: perplexity": (len(QA), [3, 1]),
        "dpo: generation": (items, [3, 3, 2]),
        "reward: scoring generations": (2 * items, got["reward: scoring generations"][1]),
        f"reward: preference pairs of {pref}": (6, got[f"reward: preference pairs of {pref}"][1]),
    }
    # Reward batches hold unique conversations; each advance counts the copies a batch scored.
    for total, calls in (got["reward: scoring generations"], got[f"reward: preference pairs of {pref}"]):
        assert sum(calls) == total and all(n >= 1 for n in calls)
    assert len(got[f"reward: preference pairs of {pref}"][1]) == 2  # 6 distinct conversations, batches of 3
    # Generating batch by batch gives the texts of one call with every prompt.
    gens = [json.loads(x) for x in (out / "generations.jsonl").read_text().splitlines()]
    whole = LocalGenerator(root / "dpo", batch_size=3).generate(
        [g["prompt"] for g in gens if g["model"] == "dpo"], max_new_tokens=6, seed=0
    )
    assert [g["generation"] for g in gens if g["model"] == "dpo"] == whole


def test_hub_ids_are_accepted_and_missing_local_dirs_are_not(cli, tmp_path, monkeypatch):
    from instructkit.eval.runner import HUB_ID

    assert HUB_ID.fullmatch("Qwen/Qwen2.5-0.5B-Instruct") and not HUB_ID.fullmatch("a/b/c")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sft = tmp_path / "set"
    from instructkit.records import make_record, message
    from instructkit.shards import ShardWriter

    with ShardWriter(sft, stage="t") as w:
        w.write(make_record("sft", messages=[message("user", "hi"), message("assistant", "hello")]))
    (tmp_path / "out").mkdir()
    missing = cli("eval", "--model", tmp_path / "out" / "sft", "--data", sft, "-o", tmp_path / "r", ok=False)
    assert missing.exit_code == 2 and "model directory not found" in missing.output
    # A hub id gets past the path check and fails (offline here) with a one-line load error, not "not found".
    hub = cli("eval", "--model", "no-such-org-xyz/model", "--data", sft, "-o", tmp_path / "r2", ok=False)
    assert hub.exit_code == 2 and "cannot load" in hub.output and "Traceback" not in hub.output
