"""synth loops with a deterministic generator: funnel, provenance, every rejection through the loop, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synth_fake import FakeGenerator, instruction_list

from instructkit.shards import ShardSet, verify
from instructkit.synth import SynthParams, run_synth

SEEDS = Path(__file__).parents[1] / "data" / "synth_seeds.jsonl"


def _funnel(path) -> dict:
    s = ShardSet(path)
    counts = s.manifest["counts"]
    assert counts["in"] == counts["kept"] + sum(counts["rejected"].values())
    assert len(s) == counts["kept"] and verify(s.path) == []
    assert s.manifest["conserving"] is False and s.kind == "sft"
    return counts


def test_self_instruct_funnel_and_provenance(tmp_path):
    gen = FakeGenerator()
    writer, stats = run_synth(SEEDS, gen, tmp_path / "out", SynthParams(num_instructions=12))
    counts = _funnel(writer.path)
    assert counts["kept"] == 12 == stats["accepted"]
    recs = list(ShardSet(writer.path))
    seed_ids = {f"s{i}" for i in range(5)}
    for r in recs:
        synth = r["meta"]["synth"]
        assert synth["method"] == "self-instruct" and synth["template"] == "synth-prompts/1"
        assert synth["generator"] == {"backend": "fake", "model": "fake"} and synth["round"] >= 1
        assert len(synth["parents"]) == 3 and len(synth["request"]) == 64 and 0 <= synth["rouge_max"] <= 0.7
        assert r["messages"][0]["role"] == "user" and r["messages"][1]["content"].startswith("A short answer")
    assert set(recs[0]["meta"]["synth"]["parents"]) <= seed_ids  # batch 1: only seeds exist yet
    m = writer.manifest
    assert m["stage"] == "synth" and m["params"]["generator"] == {"backend": "fake", "model": "fake"}
    assert m["stats"]["synth"]["requests_sent"] == stats["requests_sent"] == gen.answered


def test_machine_tasks_join_the_prompts(tmp_path):
    gen = FakeGenerator()
    writer, stats = run_synth(SEEDS, gen, tmp_path / "out", SynthParams(num_instructions=30, batch_size=2))
    assert stats["batches"] > 1
    later = [r for r in ShardSet(writer.path) if r["meta"]["synth"]["round"] > 1]
    seeds = {f"s{i}" for i in range(5)}
    assert later and all(any(p not in seeds for p in r["meta"]["synth"]["parents"]) for r in later)


def test_every_rule_through_the_loop(tmp_path):
    items = [
        "Describe the picture on the wall in detail.",
        "Write a program to sort a list of numbers.",
        "Hi there",
        "?Why is the sky blue during the day",
        "Éxplique la photosynthèse en détail.",
        "Suggest a filling breakfast without eggs that has lots of protein.",  # ROUGE-L ~0.9 with seed s0
        "Explain how a rainbow forms after the rain.",
        "Explain how a rainbow forms after rain.",
        "Name the largest desert on every continent.",
    ]

    def script(prompt, seed):
        if "List of" not in prompt:
            raise AssertionError("inline mode needs no other request")
        body = "\n###\n".join(
            f"{9 + k}. Instruction: {t}\n{9 + k}. Input:\n<noinput>\n{9 + k}. Output:\nok {k}"
            for k, t in enumerate(items)
        )
        return body + "\n###\n18. Instruction: Cut off mid"

    writer, stats = run_synth(SEEDS, FakeGenerator(script), tmp_path / "o", SynthParams(batch_size=1, patience=1))
    counts = _funnel(writer.path)
    # Batch 1 keeps 2; batch 2 (same reply) keeps none, so patience=1 stops the run: each rule fires
    # twice, and in batch 2 the 2 instructions kept in batch 1 are ROUGE-L duplicates too.
    assert counts["rejected"] == {
        "blocklist": 2,
        "write_a_program": 2,
        "too_short": 2,
        "starts_with_punctuation": 2,
        "non_ascii_start": 2,
        "rouge_similar": 6,
        "partial_item": 2,
    }
    assert counts["kept"] == 2 and stats["stopped"] == "patience" and stats["batches"] == 2
    rejected = {}
    for r in ShardSet(writer.path).rejected:
        rejected.setdefault(r["meta"]["reject"]["reason"], r)  # the first of each reason (batch 1)
    sim = rejected["rouge_similar"]["meta"]["reject"]
    assert sim["similar"] == "Suggest a filling breakfast without eggs that has plenty of protein."
    assert 0.7 < sim["value"] < 1 and sim["threshold"] == 0.7
    assert rejected["blocklist"]["meta"]["reject"]["value"] == "picture"
    assert rejected["partial_item"]["prompt"][0]["content"] == "Cut off mid"  # kept as a prompt record


def test_separate_instances_classify_then_output_first(tmp_path):
    gen = FakeGenerator()
    params = SynthParams(num_instructions=10, instances="separate", batch_size=2)
    writer, stats = run_synth(SEEDS, gen, tmp_path / "o", params)
    _funnel(writer.path)
    recs = list(ShardSet(writer.path))
    assert stats["sent_by_purpose"]["classify"] == stats["sent_by_purpose"]["instance"] >= 10
    cls = [r for r in recs if r["meta"]["synth"]["is_classification"]]
    other = [r for r in recs if not r["meta"]["synth"]["is_classification"]]
    assert cls and other  # the fake says Yes to "Classify ..." tasks
    assert all(
        r["messages"][1]["content"] == "Positive"
        and r["messages"][0]["content"].endswith("I loved every minute of it.")
        for r in cls
    )
    assert all(r["messages"][1]["content"] == "Here is a concise and correct answer." for r in other)
    output_first = [p for p in gen.prompts if p.endswith("Class label:")]
    assert len(output_first) == len(cls) and "Class label: Negative" in output_first[0]  # seed s1 as example


def test_resume_sends_no_request_twice(tmp_path):
    params = SynthParams(num_instructions=25, instances="separate", batch_size=3)
    full = FakeGenerator()
    ref, ref_stats = run_synth(SEEDS, full, tmp_path / "ref", params, cache_path=tmp_path / "ref.jsonl")

    cache = tmp_path / "cache.jsonl"
    first = FakeGenerator()
    w1, s1 = run_synth(SEEDS, first, tmp_path / "out", params, cache_path=cache, max_requests=7)
    assert s1["stopped"] == "max_requests" and first.answered == s1["requests_sent"] == 7
    _funnel(w1.path)  # a partial but valid set
    second = FakeGenerator()
    w2, s2 = run_synth(SEEDS, second, tmp_path / "out", params, cache_path=cache, max_requests=10)
    third = FakeGenerator()
    w3, s3 = run_synth(SEEDS, third, tmp_path / "out", params, cache_path=cache)
    assert s2["cache_hits"] == 7 and s3["cache_hits"] == 17 and s3["stopped"] == "num_instructions"
    # Together the three runs sent exactly what one uninterrupted run sends.
    assert first.answered + second.answered + third.answered == full.answered == ref_stats["requests_sent"]
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == full.answered
    assert [r["id"] for r in ShardSet(w3.path)] == [r["id"] for r in ShardSet(ref.path)]
    assert w3.path.name == "v0003"


def test_resume_after_an_interrupt(tmp_path):
    class Boom(FakeGenerator):
        def generate(self, conversations, **kw):
            if self.calls == 1:  # the second batch
                raise KeyboardInterrupt
            return super().generate(conversations, **kw)

    params = SynthParams(num_instructions=12, batch_size=2)
    cache = tmp_path / "cache.jsonl"
    boom = Boom()
    with pytest.raises(KeyboardInterrupt):
        run_synth(SEEDS, boom, tmp_path / "out", params, cache_path=cache)
    assert not (tmp_path / "out" / "v0001").exists()  # nothing committed
    again = FakeGenerator()
    writer, stats = run_synth(SEEDS, again, tmp_path / "out", params, cache_path=cache)
    assert stats["cache_hits"] == 2 and again.answered == stats["requests_sent"]
    assert all(p not in again.prompts for p in boom.prompts)  # the finished requests were not repeated
    assert _funnel(writer.path)["kept"] == 12


def test_evol_funnel_rules_and_pool(tmp_path):
    def script(prompt, seed):
        if "Your Judgement" in prompt:
            return "Equal" if "breakfast" in prompt else "Not Equal"
        if prompt.endswith("#Rewritten Prompt#:\n") or prompt.endswith("#Created Prompt#:\n"):
            given = prompt.split("Prompt#:\n", 1)[1].rsplit("\n#", 1)[0].strip()
            if "miles" in given:
                return "#Rewritten Prompt#: " + given + " Show the formula."
            if "haiku" in given:
                return given
            return given + " Answer in exactly three numbered steps."
        if "spam" in prompt:
            return "Sorry, I can't do that."
        if "review" in prompt:
            return "The, and... of it!"
        return "A thorough answer with several concrete details and one worked example."

    writer, stats = run_synth(
        SEEDS, FakeGenerator(script), tmp_path / "o", SynthParams(method="evol", rounds=2, num_instructions=100)
    )
    counts = _funnel(writer.path)
    # Round 1, seeds: s0 judged Equal, s1 stop words, s2 copies, s3 sorry, s4 unchanged. Round 2: the same.
    assert counts["kept"] == 0 and counts["rejected"] == {
        "no_information_gain": 4,
        "stopwords_only": 2,
        "copied_prompt_words": 2,
        "sorry_short": 2,
    }
    rej = list(ShardSet(writer.path).rejected)
    assert {r["meta"]["synth"]["round"] for r in rej} == {1, 2}
    assert all(r["meta"]["synth"]["parents"][0].startswith("s") for r in rej)  # failed parents stay in the pool
    sorry = next(r for r in rej if r["meta"]["reject"]["reason"] == "sorry_short")
    assert sorry["messages"][1]["content"] == "Sorry, I can't do that." and sorry["meta"]["reject"]["value"] == 5
    judges = {r["meta"]["reject"].get("judge") for r in rej if r["meta"]["reject"]["reason"] == "no_information_gain"}
    assert judges == {"generator", "identical"}


def test_evol_rounds_build_on_survivors(tmp_path):
    gen = FakeGenerator()
    params = SynthParams(method="evol", rounds=3, judge="similarity", evol_ops=["constraints", "breadth"])
    writer, stats = run_synth(SEEDS, gen, tmp_path / "o", params)
    counts = _funnel(writer.path)
    assert counts["kept"] == 15 and stats["rounds_done"] == 3 and "judge" not in stats["sent_by_purpose"]
    recs = list(ShardSet(writer.path))
    ids = {r["id"] for r in recs}
    for r in recs:
        synth = r["meta"]["synth"]
        assert synth["op"] in ("constraints", "breadth")
        assert (synth["parents"][0] in ids) == (synth["round"] > 1)  # round 2 evolves round-1 records
    deepest = max(recs, key=lambda r: r["meta"]["synth"]["round"])
    assert deepest["messages"][0]["content"].count("Also justify") == 3


def test_evol_similarity_judge_rejects_near_copies(tmp_path):
    def script(prompt, seed):
        if "Prompt#:\n" in prompt and prompt.rstrip().endswith("Prompt#:"):
            given = prompt.split("Prompt#:\n", 1)[1].rsplit("\n#", 1)[0].strip()
            return given.rstrip(".") + " now."
        return "A thorough answer with several concrete details and one worked example."

    params = SynthParams(method="evol", rounds=1, judge="similarity", similarity_threshold=0.8)
    writer, _ = run_synth(SEEDS, FakeGenerator(script), tmp_path / "o", params)
    rej = list(ShardSet(writer.path).rejected)
    assert len(rej) == 5 and all(
        r["meta"]["reject"]["judge"] == "similarity" and r["meta"]["reject"]["value"] >= 0.8 for r in rej
    )


def test_fake_list_is_parsed_like_a_completion():
    prompt = "List of 20 tasks:\n###\n1. Instruction: x\n1. Input:\n<noinput>\n1. Output:\ny\n###\n2. Instruction:"
    assert instruction_list(prompt, 0).startswith(" ") and "3. Instruction:" in instruction_list(prompt, 0)
