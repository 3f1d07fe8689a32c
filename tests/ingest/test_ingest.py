"""Ingest: every format round-trips into canonical records with the right field values."""

from __future__ import annotations

import json

import pytest

from instructkit.records import validate
from instructkit.shards import ShardSet, verify


def _ingest(cli, tmp_path, *inputs, name="out", args=()):
    out = tmp_path / name
    cli("ingest", *inputs, "-o", out, *args)
    s = ShardSet(out)
    assert verify(s.path) == []
    records = list(s)
    for r in records:
        validate(r)
    return s, records


def _load_with_datasets(s: ShardSet, tmp_path) -> int:
    from datasets import load_dataset

    ds = load_dataset("json", data_files=[str(p) for p in s.parts], split="train", cache_dir=str(tmp_path / "hf"))
    return len(ds)


# file, expected format, records, kind
SAMPLES = [
    ("alpaca.json", "alpaca", 40, "sft"),
    ("alpaca.jsonl", "alpaca", 22, "sft"),
    ("sharegpt.json", "sharegpt", 22, "sft"),
    ("sharegpt_preference.json", "sharegpt", 10, "preference"),
    ("openai_messages.jsonl", "openai", 18, "sft"),
    ("tool_chat.jsonl.zst", "openai", 5, "sft"),
    ("prompt_completion.jsonl", "prompt_completion", 17, "sft"),
    ("prompts.jsonl", "prompt_only", 30, "prompt"),
    ("preference.jsonl", "preference", 14, "preference"),
    ("preference_implicit.jsonl", "preference_implicit", 10, "preference"),
    ("unpaired_preference.jsonl", "unpaired_preference", 16, "prompt"),
    ("hh_rlhf.jsonl.gz", "hh_rlhf", 12, "preference"),
    ("dolly.jsonl", "dolly", 18, "sft"),
    ("self_instruct_seeds.jsonl", "self_instruct", 17, "sft"),
    ("ultrafeedback.jsonl", "ultrafeedback", 10, "feedback"),
]


@pytest.mark.parametrize("name,fmt,n,kind", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_sample_detects_and_loads_with_datasets(cli, tmp_path, samples, name, fmt, n, kind):
    s, records = _ingest(cli, tmp_path, samples / name)
    assert len(records) == n and s.kind == kind
    assert s.manifest["stats"]["formats"] == {fmt: s.manifest["stats"]["formats"][fmt]}
    assert all(r["meta"]["format"] == fmt and r["meta"]["source"]["file"].endswith(name) for r in records)
    assert s.manifest["counts"]["in"] == n
    assert _load_with_datasets(s, tmp_path) == n


def _by_source(records, key="line"):
    return {r["meta"]["source"][key]: r for r in records}


def test_alpaca_fields_system_history_and_markers(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "alpaca.json")
    rows = _by_source(records, "row")
    haiku = rows[4]["messages"]  # input "<noinput>" counts as empty
    assert haiku[0] == {"role": "user", "content": "Write a haiku about autumn rain."}
    assert haiku[1]["content"].startswith("Cold rain on the roof")
    summary = rows[3]["messages"][0]["content"]
    assert summary.startswith("Summarize the following paragraph in one sentence.\n\nThe town council met")
    guide = rows[38]["messages"]
    assert [m["role"] for m in guide] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert guide[0]["content"] == "You are a friendly tour guide in Strasbourg."
    assert guide[3]["content"] == "How long did it take to build?"
    assert rows[16]["messages"][1]["content"] == ""  # empty output kept for the filter stage


def test_sharegpt_roles_tools_and_normalisation(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "sharegpt.json")
    by_id = {r["id"]: r for r in records}
    assert set(by_id) == {f"sg-{i:03d}" for i in range(22)}  # source ids are kept
    assert [m["role"] for m in by_id["sg-001"]["messages"]] == ["system", "user", "assistant"]
    assert len(by_id["sg-002"]["messages"]) == 6
    tool = by_id["sg-018"]["messages"]
    assert [m["role"] for m in tool] == ["system", "user", "assistant", "tool", "assistant"]
    call = tool[2]["tool_calls"][0]["function"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Oslo", "unit": "celsius"}
    assert tool[2]["content"] == "" and json.loads(tool[3]["content"])["condition"] == "light snow"
    # NFD "e" + combining acute -> NFC "é"; the BEL control character is removed.
    assert by_id["sg-017"]["messages"][0]["content"] == "Explain the café problem in Unicode."


def test_sharegpt_preference(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "sharegpt_preference.json")
    math = records[2]
    assert [m["role"] for m in math["prompt"]] == ["system", "user"]
    assert math["chosen"] == [
        {"role": "assistant", "content": "Write both with the denominator 8: 3/4 = 6/8. Then 6/8 + 1/8 = 7/8."}
    ]
    assert math["rejected"][0]["content"] == "3/4 + 1/8 = 4/12 = 1/3."
    assert [m["role"] for m in records[5]["prompt"]] == ["user", "assistant", "user"]


def test_openai_tool_calls_and_null_content(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "openai_messages.jsonl", samples / "tool_chat.jsonl.zst")
    booking = next(r for r in records if "Luigi" in r["messages"][1]["content"])["messages"]
    assert booking[2]["tool_calls"][0]["id"] == "call_1"
    assert booking[3] == {
        "role": "tool",
        "content": '{"status": "confirmed", "reference": "LG-2291"}',
        "tool_call_id": "call_1",
    }
    tip = next(r for r in records if r["meta"]["source"]["file"].endswith(".zst"))["messages"]
    assert tip[2]["content"] == "" and tip[2]["tool_calls"][0]["function"]["name"] == "calculator"


def test_prompt_completion_and_prompt_only(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "prompt_completion.jsonl", samples / "prompts.jsonl")
    first = records[0]
    assert first["messages"] == [
        {"role": "user", "content": "The capital of France is"},
        {"role": "assistant", "content": " Paris."},
    ]
    system = next(r for r in records if "messages" in r and r["messages"][0]["role"] == "system")
    assert system["messages"][-1] == {"role": "assistant", "content": "Yellow."}
    prompts = [r for r in records if r["meta"]["format"] == "prompt_only"]
    assert len(prompts) == 30 and prompts[0]["prompt"] == [
        {"role": "user", "content": "Explain why the ocean is salty."}
    ]


def test_preference_explicit_implicit_and_hh(cli, tmp_path, samples):
    _, records = _ingest(
        cli, tmp_path, samples / "preference.jsonl", samples / "preference_implicit.jsonl", samples / "hh_rlhf.jsonl.gz"
    )
    explicit = [r for r in records if r["meta"]["format"] == "preference"]
    assert explicit[0]["prompt"] == [{"role": "user", "content": "What is the tallest mountain on Earth?"}]
    assert explicit[0]["chosen"] == [
        {"role": "assistant", "content": "Mount Everest, at 8,849 metres above sea level."}
    ]
    assert explicit[0]["rejected"] == [{"role": "assistant", "content": "K2."}]
    joke = explicit[-1]
    assert [m["role"] for m in joke["prompt"]] == ["user", "assistant", "user"]
    implicit = [r for r in records if r["meta"]["format"] == "preference_implicit"]
    continents = implicit[8]
    assert [m["content"] for m in continents["prompt"]][-1] == "Yes."
    assert continents["rejected"] == [{"role": "assistant", "content": "Three."}]
    hh = [r for r in records if r["meta"]["format"] == "hh_rlhf"]
    resume = hh[2]
    assert [m["role"] for m in resume["prompt"]] == ["user", "assistant", "user"]
    assert resume["prompt"][2]["content"] == "A junior accountant position."
    assert resume["rejected"][0]["content"] == "Write that you are the best accountant in the world."
    assert hh[6]["rejected"] == [{"role": "assistant", "content": ""}]


def test_unpaired_preference_keeps_label_and_distinct_ids(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "unpaired_preference.jsonl")
    good, bad = records[0], records[1]
    assert good["prompt"] == bad["prompt"] == [{"role": "user", "content": "What is the square root of 81?"}]
    assert good["completion"] == [{"role": "assistant", "content": "9."}] and good["label"] is True
    assert bad["label"] is False and good["id"] != bad["id"]
    assert records[2]["id"] == records[13]["id"]  # the deliberate exact duplicate
    assert records[14]["completion"][0]["content"].startswith("Botanically yes")


def test_dolly_context_and_category(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "dolly.jsonl")
    eiffel = records[0]
    assert eiffel["messages"][0]["content"].startswith("When was the Eiffel Tower built?\n\nThe Eiffel Tower was built")
    assert eiffel["meta"]["category"] == "closed_qa"
    assert records[1]["messages"][0]["content"] == "Give me a list of things to do on a rainy day."


def test_self_instruct_one_record_per_instance(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "self_instruct_seeds.jsonl")
    sentiment = [r for r in records if r["meta"].get("name") == "sentiment_label"]
    assert [r["id"] for r in sentiment] == ["ours_seed_1#0", "ours_seed_1#1"]
    assert sentiment[1]["messages"] == [
        {
            "role": "user",
            "content": "Decide whether the review is positive or negative.\n\nBest pizza I've had in years!",
        },
        {"role": "assistant", "content": "Positive"},
    ]
    assert sentiment[0]["meta"]["is_classification"] is True and sentiment[1]["meta"]["instance"] == 1


def test_self_instruct_reads_the_public_seed_tasks(cli, tmp_path, shared_data):
    s, records = _ingest(cli, tmp_path, shared_data / "alpaca_seed_tasks.jsonl")
    assert s.manifest["stats"]["formats"] == {"self_instruct": 175}
    assert len(records) >= 175 and records[0]["id"] == "seed_task_0#0"
    assert records[0]["messages"][0]["content"].startswith("Is there anything I can eat for a breakfast")


def test_ultrafeedback_feedback_records(cli, tmp_path, samples):
    _, records = _ingest(cli, tmp_path, samples / "ultrafeedback.jsonl")
    leaves = records[0]
    assert leaves["prompt"] == [{"role": "user", "content": "Explain why leaves change colour in autumn."}]
    assert [r["model"] for r in leaves["responses"]] == ["model-a", "model-b", "model-c"]
    j = leaves["judgments"][2]
    assert j == {
        "annotator": "ultrafeedback",
        "type": "rating",
        "response": 2,
        "value": 4.25,
        "scale": [1, 5],
        "aspects": {"helpfulness": 4, "instruction_following": 4, "truthfulness": 5, "honesty": 4},
        "overall_score": 7.0,
    }
    unrated = next(r for r in records if r["prompt"][0]["content"] == "Suggest a name for a hiking app.")
    assert unrated["judgments"] == [] and len(unrated["responses"]) == 3
    prime = next(r for r in records if r["prompt"][0]["content"] == "Is 97 a prime number?")
    assert "overall_score" not in prime["judgments"][0] and prime["judgments"][1]["value"] == 1.25


def test_csv_with_map_to_alpaca_and_parquet_with_map_to_roles(cli, tmp_path, samples):
    s, records = _ingest(
        cli, tmp_path, samples / "qa.csv", name="csv", args=("--map", "instruction=question", "--map", "output=answer")
    )
    assert s.manifest["stats"]["formats"] == {"alpaca": 14} and len(records) == 14
    quoted = records[13]["messages"][0]["content"]
    assert quoted == 'Give me a quick dinner idea, with commas, "quotes" and\na line break in the question.'
    assert records[0]["meta"]["extra"] == {"topic": "science"}
    s, records = _ingest(
        cli, tmp_path, samples / "qa.parquet", name="pq", args=("--map", "user=question", "--map", "assistant=answer")
    )
    assert s.manifest["stats"]["formats"] == {"columns": 12}
    assert records[0]["messages"] == [
        {"role": "user", "content": "What is the main gas in Earth's atmosphere?"},
        {"role": "assistant", "content": "Nitrogen, about 78% of the air."},
    ]
    assert records[0]["meta"]["source"] == {"file": str(samples / "qa.parquet"), "row": 0}
    assert _load_with_datasets(s, tmp_path) == 12


def test_columns_with_system_and_prompt_only(cli, tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("q\tsys\nHello there\tBe brief.\nHow are you?\t\n", encoding="utf-8")
    s, records = _ingest(cli, tmp_path, path, args=("--map", "user=q", "--map", "system=sys"))
    assert s.kind == "prompt"
    assert records[0]["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]
    assert records[1]["prompt"] == [{"role": "user", "content": "How are you?"}]


def test_saved_dataset_directory(cli, tmp_path):
    from datasets import Dataset, DatasetDict

    ds = Dataset.from_list([{"instruction": f"Say {w}.", "input": "", "output": w} for w in ("hi", "bye", "ok")])
    DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "saved"))
    _, records = _ingest(cli, tmp_path, tmp_path / "saved")
    assert [r["messages"][1]["content"] for r in records] == ["hi", "bye", "ok", "hi"]
    assert records[3]["meta"]["source"]["split"] == "test"


def test_records_format_reingests_a_shard_part(cli, tmp_path, samples):
    first, records = _ingest(cli, tmp_path, samples / "hh_rlhf.jsonl.gz", samples / "ultrafeedback.jsonl", name="a")
    second, again = _ingest(cli, tmp_path, *first.parts, name="b")
    assert second.manifest["stats"]["formats"] == {"records": 22}
    assert [r["id"] for r in again] == [r["id"] for r in records]
    assert again[0]["meta"]["source"] == records[0]["meta"]["source"]  # lineage to the raw file is kept
    assert again[0]["chosen"] == records[0]["chosen"]


def test_ids_are_stable_and_globs_take_many_files(cli, tmp_path, samples):
    pattern = str(samples / "*.jsonl")
    a, ra = _ingest(cli, tmp_path, pattern, samples / "alpaca.json", name="a")
    b, rb = _ingest(cli, tmp_path, pattern, samples / "alpaca.json", name="b")
    assert [r["id"] for r in ra] == [r["id"] for r in rb] and a.fingerprint == b.fingerprint
    files = {r["meta"]["source"]["file"].rsplit("/", 1)[-1] for r in ra}
    assert files == {
        "alpaca.json",
        "alpaca.jsonl",
        "dolly.jsonl",
        "openai_messages.jsonl",
        "preference.jsonl",
        "preference_implicit.jsonl",
        "prompt_completion.jsonl",
        "prompts.jsonl",
        "self_instruct_seeds.jsonl",
        "ultrafeedback.jsonl",
        "unpaired_preference.jsonl",
    }
    assert a.kind == "mixed" and set(a.manifest["kinds"]) == {"sft", "preference", "prompt", "feedback"}
    dup = [r for r in ra if r["meta"]["source"]["file"].endswith("alpaca.json")]
    assert dup[7]["id"] == dup[8]["id"]  # exact duplicates share an id; dedupe finds them


def test_forced_format_and_ambiguity(cli, tmp_path):
    path = tmp_path / "both.jsonl"
    path.write_text(json.dumps({"user": "hi", "prompt": "hi"}) + "\n", encoding="utf-8")
    result = cli("ingest", path, "-o", tmp_path / "x", ok=False)
    assert result.exit_code == 2 and "ambiguous format" in result.output and "--format" in result.output
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").glob("v*"))
    cli("ingest", path, "-o", tmp_path / "y", "--format", "prompt-only")
    assert list(ShardSet(tmp_path / "y"))[0]["prompt"] == [{"role": "user", "content": "hi"}]
    result = cli("ingest", path, "-o", tmp_path / "z", "--format", "nope", ok=False)
    assert result.exit_code == 2 and "unknown format 'nope'" in result.output


def test_fast_ids_equal_record_id(cli, tmp_path, samples):
    """``base.build`` hashes plain content with orjson; the id must be the one ``record_id`` gives."""
    import json as stdjson

    import orjson

    from instructkit.ingest.base import build
    from instructkit.records import message, record_id

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(chars), 8192):
        content = {"messages": [{"role": "user", "content": "".join(chars[i : i + 8192])}]}
        assert (
            orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
            == stdjson.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        )
    rec = build("sft", messages=[message("user", "\x1f tab\t \u2028 é 漢 🙂"), message("assistant", "ok")])
    assert rec["id"] == record_id(rec)
    tool = build(
        "sft",
        messages=[
            message("user", "x"),
            message("assistant", "", tool_calls=[{"index": 1.5}]),
            message("tool", "1"),
            message("assistant", "y"),
        ],
    )
    assert tool["id"] == record_id(tool)  # non-plain content takes the record_id path
    _, records = _ingest(
        cli,
        tmp_path,
        samples / "alpaca.json",
        samples / "hh_rlhf.jsonl.gz",
        samples / "ultrafeedback.jsonl",
        samples / "prompts.jsonl",
        samples / "openai_messages.jsonl",
    )
    assert all(r["id"] == record_id(r) for r in records)
