"""The ``quality`` stage: the four axes on small hand-made sets, the report files, --compare, the API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from instructkit import api
from instructkit.quality.clarity import Clarity, missing_input
from instructkit.quality.diversity import distinct_n
from instructkit.quality.verbs import verb_object

SFT = [
    {"instruction": "Write a short poem about the sea.", "output": "Waves roll in, waves roll out, blue and wide."},
    {"instruction": "Write a poem about autumn leaves.", "output": "Red and gold, the leaves let go."},
    {"instruction": "What is 2 + 2?", "output": "4"},
    {"instruction": "what is 2+2", "output": "5"},  # the same prompt, normalised, with another answer
    {"instruction": "What is 2 + 2?", "output": "4"},  # agrees with the first: no new conflict
    {"instruction": "Summarize the following text.", "output": "It is about a cat."},  # missing input
    {"instruction": "Hi", "output": "Hello! How can I help you today?"},  # too short
    {"instruction": "Explain photosynthesis in simple terms.", "output": "N/A"},  # placeholder output
    {
        "instruction": "Translate this sentence into French.\n\nI like tea.",
        "output": "J'aime le thé.",
        "gold": "J'aime le thé.",
    },
    {"instruction": "Give me a list of three fruits.", "output": "Apple, pear, plum.", "gold": "banana"},
]


def _ingest(tmp_path, rows, name):
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return api.ingest([src], tmp_path / name)


@pytest.fixture
def sft_set(tmp_path):
    rows = [dict(r) for r in SFT]
    for r in rows:
        if "gold" in r:  # alpaca keeps unknown columns under meta.extra
            r["answer"] = r.pop("gold")
    return _ingest(tmp_path, rows, "sft")


def test_verb_object_light_parser():
    assert verb_object("Please write a short story about a cat.") == ("write", "story", "ok")
    assert verb_object("Given a sentence, classify its sentiment.") == ("classify", "sentiment", "ok")
    assert verb_object("Plan a weekly lunch menu for a school.") == ("plan", "menu", "ok")
    assert verb_object("Give me a list of salty snacks.") == ("give", "list", "ok")
    assert verb_object("Tell me if this number is prime.") == ("tell", None, "ok")
    assert verb_object("What is the capital of France?") == (None, None, "question")
    assert verb_object("写一首关于秋天的诗。") == (None, None, "other")


def test_distinct_n_by_hand():
    # "a b a b": unigrams a,b of 4 -> 0.5; bigrams ab,ba,ab -> 2/3; trigrams aba,bab -> 1.0
    assert distinct_n(["a b a b"]) == {"distinct_1": 0.5, "distinct_2": 0.6667, "distinct_3": 1.0}
    assert distinct_n(["one"])["distinct_2"] is None
    assert distinct_n(["秋天 秋天"])["distinct_1"] == 0.5  # CJK characters are words


def test_missing_input_heuristic():
    assert missing_input("Summarize the following text.")
    assert missing_input("Classify this sentence:")
    assert not missing_input("Summarize the following text.\n\nThe cat sat on the mat.")
    assert not missing_input("Classify this sentence: I love it.")
    assert not missing_input("Write a poem about the sea.")


def test_clarity_counts_every_defect_of_a_record():
    clarity = Clarity()
    both = {
        "id": "x",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "N/A"}],
        "meta": {},
    }
    clarity.add(both, "Hi")
    checks = clarity.result()["checks"]
    assert checks["instruction_words"]["count"] == 1 and checks["placeholder_output"]["count"] == 1
    assert clarity.result()["flagged"] == 1


def test_quality_report_on_sft(sft_set, tmp_path):
    out = api.quality(sft_set, tmp_path / "rep")
    doc = json.loads((out / "quality.json").read_text())
    assert doc["records"] == len(SFT)  # ingest keeps exact repeats (dedupe removes them)
    con = doc["consistency"]
    assert con["conflicting_prompts"] == 1
    assert con["conflicts"][0]["answers"] == 2
    checks = doc["clarity"]["checks"]
    assert checks["missing_input"]["count"] == 1
    assert checks["instruction_words"]["count"] == 1
    assert checks["placeholder_output"]["count"] == 1
    verbs = {v["verb"]: dict(v["objects"]) for v in doc["diversity"]["verbs"]["top"]}
    assert verbs["write"]["poem"] == 2
    acc = doc["accuracy"]
    assert acc["measured"] and acc["gold"] == {"records": 2, "exact_match": 0.5, "contains": 0.5}
    md = (out / "quality.md").read_text()
    summary = md.split("## Summary")[1].split("Details:")[0]
    for axis in ("diversity", "clarity", "accuracy", "consistency"):
        assert f"| {axis} |" in summary
    assert len(summary.splitlines()) < 25  # one screen
    assert {"verbs.png", "clarity.png", "distinct.png"} <= set(doc["plots"])
    for name in doc["plots"]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "quality" and manifest["inputs"][0]["fingerprint"] == doc["fingerprint"]


def test_quality_preference_flips_and_not_measured(tmp_path, cli):
    def pair(prompt, chosen, rejected):
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}

    rows = [
        pair("Which is bigger, 3 or 7?", "7 is bigger.", "3 is bigger."),
        pair("Which is bigger, 3 or 7?", "3 is bigger.", "7 is bigger."),  # the same pair, labelled the other way
        pair("Name a colour.", "Blue.", "I cannot help with that."),
    ]
    data = _ingest(tmp_path, rows, "pref")
    other = _ingest(tmp_path, SFT[:4], "other")
    cli("quality", data, "-o", tmp_path / "rep", "--compare", other)
    doc = json.loads((tmp_path / "rep" / "quality.json").read_text())
    assert doc["kind"] == "preference"
    assert doc["consistency"]["flipped_pairs"] == 1
    assert doc["accuracy"]["measured"] is False and "not measured" in doc["accuracy"]["note"]
    assert doc["compare"]["consistency"]["conflicting_prompts"] == 1
    md = (tmp_path / "rep" / "quality.md").read_text()
    assert "| pref | other |" in md.replace("axis | ", "")
    assert "not measured" in md
    # an existing report directory is refused (exit 2), --force replaces it
    assert cli("quality", data, "-o", tmp_path / "rep", ok=False).exit_code == 2
    cli("quality", data, "-o", tmp_path / "rep", "--force")


def test_quality_lists_first_conflicts_with_total(tmp_path):
    rows = []
    for i in range(5):
        rows += [
            {"instruction": f"What is {i} times 3?", "output": str(3 * i)},
            {"instruction": f"What is {i} times 3?", "output": "wrong"},
        ]
    data = _ingest(tmp_path, rows, "many")
    out = api.quality(data, tmp_path / "rep", max_listed=2)
    con = json.loads((out / "quality.json").read_text())["consistency"]
    assert con["conflicting_prompts"] == 5 and len(con["conflicts"]) == 2
    assert "The first 2 of 5" in (out / "quality.md").read_text()


def test_quality_reference_set(tmp_path):
    data = _ingest(tmp_path, SFT[:3], "a")
    ref = _ingest(tmp_path, [{"instruction": "What is 2 + 2?", "output": "4"}], "ref")
    out = api.quality(data, tmp_path / "rep", reference=str(ref))
    acc = json.loads((out / "quality.json").read_text())["accuracy"]
    assert acc["reference"]["matched"] == 1 and acc["reference"]["exact_match"] == 1.0


def test_quality_data_path_imports_no_torch(sft_set, tmp_path):
    code = (
        "import sys; from instructkit import api; api.quality(sys.argv[1], sys.argv[2]); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(sft_set), str(tmp_path / "rep")], check=True)


def test_quality_reward_model_and_encoder(tmp_path, tiny_model):
    rows = [{"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "No."}] * 1 + [
        {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "Bye."}
    ]
    data = _ingest(tmp_path, rows, "pref")
    out = api.quality(data, tmp_path / "rep", reward_model=str(tiny_model), encoder=str(tiny_model))
    doc = json.loads((out / "quality.json").read_text())
    reward = doc["accuracy"]["reward"]
    assert reward["scored"] == 2 and reward["pairs"] == 2 and reward["chosen_preferred"] in (0.0, 0.5, 1.0)
    emb = doc["diversity"]["embedding"]
    assert 1 <= emb["clusters"] <= 2 and emb["spread"] is not None
