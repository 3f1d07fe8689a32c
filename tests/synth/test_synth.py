"""synth building blocks: parsing messy replies, every rejection rule, ROUGE-L, the cache, seeds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from instructkit.errors import InputError
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
from instructkit.synth.cache import RequestCache, request_key
from instructkit.synth.parse import parse_equal, parse_instance, parse_instruction_list, parse_yes_no
from instructkit.synth.prompts import instruction_prompt
from instructkit.synth.rouge import RougePool, rouge_l
from instructkit.synth.rules import InstructionRules, copied_prompt_words, sorry_short, stopwords_only
from instructkit.synth.seeds import load_seeds

SEEDS = Path(__file__).parents[1] / "data" / "synth_seeds.jsonl"

# --- parsing ---------------------------------------------------------------------------------


def test_parse_completion_style_alpaca_reply():
    # A completion model continues after "4. Instruction:"; the last item is cut mid-output.
    reply = (
        " Name three rivers in Europe.\n4. Input:\n<noinput>\n4. Output:\nThe Danube, the Rhine, the Seine.\n"
        "###\n5. Instruction: Sort the numbers in ascending order.\n5. Input:\n5, 2, 9\n5. Output:\n2, 5, 9\n"
        "###\n6. Instruction: Translate the sentence into German.\n6. Input:\nGood morning"
    )
    items = parse_instruction_list(reply, start=4)
    assert [i.instruction for i in items] == [
        "Name three rivers in Europe.",
        "Sort the numbers in ascending order.",
        "Translate the sentence into German.",
    ]
    assert (items[0].input, items[0].output) == ("", "The Danube, the Rhine, the Seine.")
    assert (items[1].input, items[1].output) == ("5, 2, 9", "2, 5, 9")
    assert [i.partial for i in items] == [False, False, True]


def test_parse_chat_style_bold_labels_without_separators():
    reply = (
        "Sure! Here are more tasks:\n\n**4. Instruction:** Give two synonyms for happy.\n**4. Input:** <noinput>\n"
        "**4. Output:** Joyful, cheerful.\n\n**5. Instruction:** Is the number prime?\n**5. Input:** 17\n"
        "**5. Output:** Yes, 17 is prime."
    )
    items = parse_instruction_list(reply, start=4)
    # The chat preamble before the first label is not an item.
    assert [i.instruction for i in items] == ["Give two synonyms for happy.", "Is the number prime?"]
    assert items[0].input == "" and items[1].input == "17" and not any(i.partial for i in items)


def test_parse_marks_malformed_items_partial():
    reply = (
        "Instruction: Name a fruit.\nOutput: Apple.\n###\nInstruction: An item without output.\n###\n"
        "Instruction: Name a vegetable.\nOutput: Leek."
    )
    items = parse_instruction_list(reply, start=4)
    assert [i.partial for i in items] == [False, True, False]


def test_parse_unnumbered_labels_and_instruction_n_spelling():
    reply = "Instruction 7: Describe a sunset in one line.\nInput: <no input>\nOutput: Gold melts into the sea."
    items = parse_instruction_list(reply, start=7)
    assert len(items) == 1
    assert (items[0].instruction, items[0].input, items[0].output) == (
        "Describe a sunset in one line.",
        "",
        "Gold melts into the sea.",
    )


def test_parse_plain_lists_and_truncation_flag():
    reply = "1. Explain how tides work.\n2) Suggest a name for a bakery.\n- Summarise the plot of Hamlet.\n"
    items = parse_instruction_list(reply, start=4)
    assert [i.instruction for i in items] == [
        "Explain how tides work.",
        "Suggest a name for a bakery.",
        "Summarise the plot of Hamlet.",
    ]
    assert all(i.output is None and not i.partial for i in items)
    assert parse_instruction_list(reply, start=4, truncated=True)[-1].partial


def test_parse_garbage_and_empty():
    assert parse_instruction_list("", start=4) == []
    assert parse_instruction_list("   \n ", start=4) == []
    items = parse_instruction_list("zq!! ##  ,,, blorp", start=4)
    assert len(items) == 1 and items[0].output is None  # one bogus candidate, for the rules to reject


def test_prompt_round_trips_through_the_parser():
    tasks = [
        {"instruction": "Add the numbers:", "input": "2 and 3", "output": "5"},
        {"instruction": "Say hello.", "input": "", "output": "Hello!"},
    ]
    prompt = instruction_prompt(tasks, num=20)
    assert prompt.endswith("3. Instruction:") and "List of 20 tasks" in prompt and "<noinput>" in prompt
    items = parse_instruction_list(prompt.split("List of 20 tasks:\n", 1)[1], start=1)
    assert [(i.instruction, i.input, i.output) for i in items[:2]] == [
        ("Add the numbers", "2 and 3", "5"),
        ("Say hello.", "", "Hello!"),
    ]


def test_parse_instance_input_first_and_output_first():
    assert parse_instance(" <noinput>\nOutput: Paris.\n\nTask: another", output_first=False) == ("", "Paris.")
    assert parse_instance("Input: 3 + 4\nOutput: 7\nInput: 1 + 1\nOutput: 2", output_first=False) == ("3 + 4", "7")
    assert parse_instance(" Positive\nInput: I loved it.\nClass label: Negative", output_first=True) == (
        "I loved it.",
        "Positive",
    )
    assert parse_instance("just rambling", output_first=False) is None
    assert parse_instance("Positive but no input label", output_first=True) is None
    assert parse_instance("Input: x\nOutput:   ", output_first=False) is None


def test_yes_no_and_equal_verdicts():
    assert parse_yes_no(" Yes.") is True and parse_yes_no("no, it is not") is False and parse_yes_no("?") is None
    assert parse_equal("Not Equal") is False and parse_equal("Equal.") is True and parse_equal("hmm") is None


# --- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,reason,value",
    [
        ("Sort these numbers", "too_short", 3),
        (" ".join(["word"] * 151), "too_long", 151),
        ("Describe the image in one sentence.", "blocklist", "image"),
        ("Please Go To the store and buy bread.", "blocklist", "go to"),
        ("Draw a cat using ASCII characters only.", "blocklist", "draw"),
        ("Write a program that prints the primes below 100.", "write_a_program", None),
        ('"Explain" the meaning of the quoted word.', "starts_with_punctuation", '"'),
        ("- List three kinds of cloud formations.", "starts_with_punctuation", "-"),
        ("Écris un court poème sur la mer.", "non_ascii_start", "É"),
        ("请写一首关于大海的诗 please write it now", "non_ascii_start", "请"),
    ],
)
def test_every_instruction_rule(text, reason, value):
    verdict = InstructionRules().check(text)
    assert verdict is not None and verdict.reason == reason
    assert verdict.details.get("value") == value


@pytest.mark.parametrize(
    "text",
    [
        "Name three rivers in Europe, please.",
        "3 reasons why sleep matters: list them.",  # a digit is ASCII: Alpaca keeps it
        "Explain how a mapping function works.",  # 'mapping' is not the whole word 'map'
        "Write a poem about programs and files-free living.".replace("files-free", "paper-free"),
        " ".join(["word"] * 150),
    ],
)
def test_instructions_that_pass(text):
    assert InstructionRules().check(text) is None


def test_rules_are_configurable():
    rules = InstructionRules(min_words=1, max_words=5, blocklist=("banana",))
    assert rules.check("Peel a banana now").reason == "blocklist"
    assert rules.check("Describe the image please") is None
    assert rules.check("one two three four five six").reason == "too_long"


def test_evol_elimination_rules():
    assert copied_prompt_words("#Rewritten Prompt#: Explain tides in depth.").details["value"] == "#rewritten prompt#"
    assert copied_prompt_words("Rewrite the given prompt so it is longer.").details["value"] == "given prompt"
    assert copied_prompt_words("Explain tides and their effect on fishing.") is None
    assert sorry_short("Sorry, I cannot help with that.").reason == "sorry_short"
    assert sorry_short("I'm sorry to hear that. " + "word " * 80) is None  # long answers survive
    assert stopwords_only("The, and ... of!").reason == "stopwords_only"
    assert stopwords_only("").reason == "stopwords_only"
    assert stopwords_only("The tide rises twice a day.") is None


# --- ROUGE-L ---------------------------------------------------------------------------------


def test_rouge_equals_rouge_score():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [
        ("Name three rivers in Europe.", "Name three rivers in Asia."),
        ("Give me a recipe for pancakes!", "Tell me how to make pancakes"),
        ("What's the capital of France?", "what is the CAPITAL of france"),
        ("", "anything"),
        ("Déjà vu, naïve café", "deja vu naive cafe"),
        ("a a a b", "a b a b a"),
    ]
    rng = random.Random(0)
    words = "the a of to and x y z rivers europe name three 1 2".split()
    for _ in range(200):
        pairs.append(
            (" ".join(rng.choices(words, k=rng.randint(0, 25))), " ".join(rng.choices(words, k=rng.randint(0, 25))))
        )
    for a, b in pairs:
        assert rouge_l(a, b) == pytest.approx(scorer.score(a, b)["rougeL"].fmeasure, abs=1e-12), (a, b)


def test_rouge_pool_best_matches_brute_force():
    rng = random.Random(1)
    words = "explain describe the a river europe sea three list name give".split()
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(300)]
    pool = RougePool(texts[:200])
    for query in texts[200:]:
        scores = [rouge_l(query, t) for t in texts[:200]]
        best, idx = pool.best(query)
        assert best == pytest.approx(max(scores), abs=1e-12)
        assert scores[idx] == pytest.approx(best, abs=1e-12)
    assert RougePool().best("anything") == (0.0, None)


# --- cache -----------------------------------------------------------------------------------


def test_cache_persists_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "c" / "cache.jsonl"
    with RequestCache(path) as cache:
        cache.put(request_key({"a": 1}), "one", purpose="x")
        cache.put(request_key({"a": 2}), "two", purpose="x")
    with open(path, "ab") as fh:
        fh.write(b'{"key": "torn", "rep')  # a crash mid-write
    with RequestCache(path) as cache:
        assert len(cache) == 2 and cache.get(request_key({"a": 2})) == "two" and "torn" not in cache
        cache.put("k3", "three")
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)
    assert request_key({"b": 1, "a": 2}) == request_key({"a": 2, "b": 1})


def test_cache_corrupt_middle_line_is_an_input_error(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "reply": "x"}\nnot json\n{"key": "b", "reply": "y"}\n')
    with pytest.raises(InputError) as err:
        RequestCache(path)
    assert err.value.line == 2


# --- seeds -----------------------------------------------------------------------------------


def test_seeds_from_a_seed_task_file():
    seeds, shard_set = load_seeds(SEEDS)
    assert shard_set is None and len(seeds) == 5
    assert (seeds[1].id, seeds[1].input, seeds[1].output, seeds[1].is_classification) == (
        "s1",
        "The soup was cold and bland.",
        "Negative",
        True,
    )


def test_the_175_self_instruct_seeds(shared_data):
    seeds, _ = load_seeds(shared_data / "alpaca_seed_tasks.jsonl")
    assert len(seeds) == 175
    assert sum(s.is_classification for s in seeds) > 10 and all(s.instruction and s.output for s in seeds)


def test_seeds_from_a_shard_set_and_errors(tmp_path):
    with ShardWriter(tmp_path / "set", stage="test") as w:
        w.count_in(2)
        w.write(make_record("sft", messages=[message("user", "Explain tides."), message("assistant", "Moon.")]))
        w.write(make_record("prompt", prompt=[message("user", "Name a colour.")]))
    seeds, shard_set = load_seeds(tmp_path / "set")
    assert shard_set is not None and [(s.instruction, s.output) for s in seeds] == [
        ("Explain tides.", "Moon."),
        ("Name a colour.", ""),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok", "instances": [{"input": "", "output": "x"}]}\n{"name": "no instruction"}\n')
    with pytest.raises(InputError) as err:
        load_seeds(bad)
    assert err.value.line == 2
    with pytest.raises(InputError):
        load_seeds(tmp_path / "missing.jsonl")
