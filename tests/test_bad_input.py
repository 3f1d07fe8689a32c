"""Bad input that used to give silently wrong data (issue 16): --map naming a missing column, broken CSV
quoting and ragged rows, integers over 64 bits, ``messages`` as a string, empty answers and identical
preference pairs reaching training, annotations without an annotator, empty Label Studio exports.

Each case asserts the exit code, the one-line message, and exact conservation. The table is
docs/reliability.md; secrets in URLs and server answers are tests/test_secrets.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter, verify


def _one_line(result) -> str:
    text = result.output.strip()
    assert "Traceback" not in text and text.count("\n") == 0, text
    return text


def _no_version(out: Path) -> bool:
    return not out.exists() or not [p for p in out.iterdir() if p.name.startswith(("v", ".tmp"))]


# --- ingest --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, mapping, columns, good, kind",
    [
        ("qa.csv", "user,answer\nhi,hello\nbye,bye\n", "assistant=nosuch", "user, answer", "assistant=answer", "sft"),
        (
            "a.jsonl",
            '{"instruction": "hi", "output": "hello"}\n',
            "instruction=nosuch",
            "instruction, output",
            "x=output",
            "sft",
        ),
    ],
)
def test_map_naming_a_missing_column_is_refused(cli, tmp_path, name, text, mapping, columns, good, kind):
    """Was: the CSV became prompt records (exit 0); the JSONL map was ignored."""
    path = tmp_path / name
    path.write_text(text)
    out = tmp_path / "out"
    for extra in ([], ["--on-error", "skip"]):  # a wrong flag is not a bad row: skip does not hide it
        result = cli("ingest", path, "-o", out, "--map", mapping, *extra, ok=False)
        assert result.exit_code == 2 and _no_version(out)
        assert _one_line(result).startswith(
            f"error: {path}: --map {mapping}: the file has no column 'nosuch' (its columns: {columns}) ("
        )
    if name == "qa.csv":  # the right column name still works, and makes sft records
        cli("ingest", path, "-o", out, "--map", good)
        assert ShardSet(out).kind == kind and ShardSet(out).manifest["counts"]["kept"] == 2


def test_csv_with_an_unterminated_quote(cli, tmp_path):
    """Was: exit 0, the quoted field swallowed every later row (two rows -> one record, empty answer)."""
    path = tmp_path / "q.csv"
    path.write_text('user,assistant\nq1,a1\nq2,"a2\nq3,a3\nq4,a4\n')
    out = tmp_path / "out"
    result = cli("ingest", path, "-o", out, "--map", "user=user", ok=False)
    assert result.exit_code == 2 and _no_version(out)
    assert _one_line(result).startswith(
        f"error: {path}:3: malformed CSV: a quoted field is never closed (unterminated quote) ("
    )
    cli("ingest", path, "-o", out, "--on-error", "skip")
    s = ShardSet(out)
    assert s.manifest["counts"] == {"in": 2, "kept": 1, "rejected": {}, "quarantined": {"unreadable_file": 1}}
    assert [r["messages"][1]["content"] for r in s] == ["a1"]
    (lost,) = list(s.sub("quarantine"))
    assert lost["meta"]["source"] == {"file": str(path), "line": 3} and verify(s.path) == []


def test_csv_with_ragged_rows(cli, tmp_path):
    """Was: exit 0 with a missing cell read as an empty answer and an extra cell dropped."""
    path = tmp_path / "r.csv"
    path.write_text("user,assistant\nq1,a1\nq2\nq3,a3,extra\nq4,a4\n")
    out = tmp_path / "out"
    result = cli("ingest", path, "-o", out, ok=False)
    assert result.exit_code == 2 and _no_version(out)
    assert _one_line(result).startswith(f"error: {path}:3: ragged row: 1 fields, the header has 2 (")
    cli("ingest", path, "-o", out, "--on-error", "skip")
    s = ShardSet(out)
    assert s.manifest["counts"] == {"in": 4, "kept": 2, "rejected": {}, "quarantined": {"ragged_row": 2}}
    assert [r["messages"][1]["content"] for r in s] == ["a1", "a4"]
    bad = {r["meta"]["source"]["line"]: r["meta"]["reject"]["error"] for r in s.sub("quarantine")}
    assert bad == {3: "ragged row: 1 fields, the header has 2", 4: "ragged row: 3 fields, the header has 2"}
    assert verify(s.path) == []


def test_integers_over_64_bits_stay_exact(cli, tmp_path):
    """Was: orjson read 123456789012345678901234567890 as 1.2345678901234568e+29."""
    big = 123456789012345678901234567890
    path = tmp_path / "big.jsonl"
    path.write_text(
        json.dumps({"instruction": "Say the number.", "output": big, "ticket": big}) + "\n"
        '{"instruction": "Small.", "output": 7, "ticket": 18446744073709551615}\n'
    )
    out = tmp_path / "out"
    cli("ingest", path, "-o", out)
    first, second = list(ShardSet(out))
    assert first["messages"][1]["content"] == str(big) and first["meta"]["extra"]["ticket"] == big
    assert second["meta"]["extra"]["ticket"] == 2**64 - 1 and second["messages"][1]["content"] == "7"
    assert verify(ShardSet(out).path) == []


def test_messages_given_as_a_string(cli, tmp_path):
    """Was: "'messages' has no assistant turn" (the string read as one user turn)."""
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"messages": json.dumps([{"role": "user", "content": "hi"}])}) + "\n")
    result = cli("ingest", path, "-o", tmp_path / "out", "--format", "openai", ok=False)
    line = _one_line(result)
    assert result.exit_code == 2 and "has no assistant turn" not in line
    assert line.startswith(f"error: {path}:1: field 'messages' is a string (35 characters), not a list of messages")


# --- training data ----------------------------------------------------------------------------------


def _sft_set(path: Path, answers: list[str]) -> Path:
    with ShardWriter(path, stage="test") as w:
        for i, a in enumerate(answers):
            w.count_in()
            w.write(
                make_record("sft", id=f"s{i}", messages=[message("user", f"Question {i}?"), message("assistant", a)])
            )
    return w.path


def _pref_set(path: Path, pairs: list[tuple[str, str]]) -> Path:
    with ShardWriter(path, stage="test") as w:
        for i, (c, r) in enumerate(pairs):
            w.count_in()
            w.write(
                make_record(
                    "preference",
                    id=f"p{i}",
                    prompt=[message("user", f"Question {i}?")],
                    chosen=[message("assistant", c)],
                    rejected=[message("assistant", r)],
                )
            )
    return w.path


TRAIN = ["--max-steps", "1", "--eval-split", "0", "--set", "save_steps=null", "--batch-size", "2"]


def test_sft_drops_empty_assistant_turns(cli, tmp_path, tiny_model):
    """Was: trained on (the mask held only the end-of-turn token: it teaches the model to say nothing)."""
    data = _sft_set(tmp_path / "d", ["Paris.", "", "   ", "Four."])
    cli("sft", data, "--model", tiny_model, "-o", tmp_path / "m", *TRAIN)
    pre = json.loads((tmp_path / "m" / "manifest.json").read_text())["data"]["train"]
    assert pre["examples"] == 4 and pre["kept"] == 2 and pre["dropped"] == {"empty_assistant_turn": 2}
    result = cli(
        "sft", _sft_set(tmp_path / "e", ["", " "]), "--model", tiny_model, "-o", tmp_path / "n", *TRAIN, ok=False
    )
    assert result.exit_code == 2 and "no example is left to train on ({'empty_assistant_turn': 2})" in result.output


@pytest.mark.parametrize("stage", ["reward", "dpo"])
def test_identical_preference_pairs_are_dropped(cli, tmp_path, tiny_model, stage):
    """Was: trained on (chosen == rejected: a constant loss, no preference)."""
    pairs = [("Good answer.", "Bad."), ("Same.", "Same."), ("Right.", "Wrong."), ("Twice ", "Twice")]

    def train(data, out, ok=True):
        head = ["reward", data, "--model"] if stage == "reward" else ["rlhf", data, "--algo", "dpo", "--policy"]
        return cli(*head, tiny_model, "-o", out, *TRAIN, ok=ok)

    train(_pref_set(tmp_path / "d", pairs), tmp_path / "m")
    info = json.loads((tmp_path / "m" / "manifest.json").read_text())["data"]
    assert info["dropped"] == {"identical_pair": 2}
    assert info["train_pairs" if stage == "reward" else "train_records"] == 2
    result = train(_pref_set(tmp_path / "e", [("x", "x")]), tmp_path / "n", ok=False)
    assert result.exit_code == 2 and not (tmp_path / "n").exists()
    assert "every one of the 1 preference pairs has chosen == rejected" in result.output


# --- annotate-import ---------------------------------------------------------------------------------


def _pairwise_export(cli, tmp_path):
    from annotate_fixtures import better, feedback_set, load_tasks, ls_json, pw

    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", feedback_set(tmp_path), "-o", tasks_dir, "--template", "pairwise")
    tasks = load_tasks(tasks_dir)
    return tasks_dir, tasks, ls_json(tasks, lambda who, d: pw(better(d)))


def test_annotation_without_annotator(cli, tmp_path):
    """Was: pooled as annotator "unknown" in the agreement statistics."""
    tasks_dir, tasks, export = _pairwise_export(cli, tmp_path)
    n = sum(len(t["annotations"]) for t in export)
    export[0]["annotations"][1]["completed_by"] = None
    export[2]["annotations"][0]["completed_by"] = ""
    path = tmp_path / "e.json"
    path.write_text(json.dumps(export))
    out = tmp_path / "o"
    result = cli("annotate-import", path, "--tasks", tasks_dir, "-o", out, ok=False)
    assert result.exit_code == 2 and _no_version(out / "feedback")
    line = _one_line(result)
    assert line.startswith(f"error: {path}: task 1 (") and ", annotation 2: the annotation names no annotator" in line
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", out, "--on-error", "skip")
    fb = ShardSet(out / "feedback")
    assert fb.manifest["counts"]["in"] == n and fb.manifest["counts"]["quarantined"] == {"no annotator": 2}
    judges = [j["annotator"] for r in fb for j in r["judgments"]]
    assert len(judges) == n - 2 and set(judges) == {"1", "2", "3"}
    report = (out / "agreement.json").read_text()
    assert '"unknown"' not in report and verify(fb.path) == []


@pytest.mark.parametrize("content", ["[]", "[\n]\n"])
def test_empty_export(cli, tmp_path, content):
    """Was: three empty sets written, exit 0, no word."""
    path = tmp_path / "empty.json"
    path.write_text(content)
    out = tmp_path / "o"
    result = cli("annotate-import", path, "-o", out, ok=False)
    assert result.exit_code == 2 and not out.exists()
    assert _one_line(result).startswith(f"error: {path}: the export is empty ([]): no tasks (")


# --- weights: every model load refuses pickles ----------------------------------------------------------


@pytest.fixture
def pickled_model(tiny_model, tmp_path):
    """The tiny model with its weights as ``pytorch_model.bin`` only (a pickle: loading it can run code)."""
    import shutil

    import torch
    from safetensors.torch import load_file

    out = tmp_path / "pickled"
    shutil.copytree(tiny_model, out)
    torch.save(load_file(out / "model.safetensors"), out / "pytorch_model.bin")
    (out / "model.safetensors").unlink()
    return out


def _sft_prompts(path: Path) -> Path:
    return _sft_set(path, ["The capital is Paris.", "Four.", "The capital is Paris."])


@pytest.mark.parametrize("stage", ["dedupe-semantic", "filter-perplexity"])
def test_pickle_weights_are_refused(cli, tmp_path, pickled_model, stage, monkeypatch):
    """Semantic dedupe and the perplexity filter load through instructkit.models: torch.load never runs."""
    import torch

    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickle")

    monkeypatch.setattr(torch, "load", no_pickle)
    data, out = _sft_prompts(tmp_path / "d"), tmp_path / "out"
    if stage == "dedupe-semantic":
        result = cli("dedupe", data, "-o", out, "--mode", "semantic", "--model", pickled_model, ok=False)
    else:
        result = cli("filter", data, "-o", out, "--set", f"perplexity.model={pickled_model}", ok=False)
    line = _one_line(result)
    assert result.exit_code == 2 and _no_version(out)
    assert "refusing pickle weights (pytorch_model.bin)" in line and str(pickled_model) in line
