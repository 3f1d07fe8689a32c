"""The ``refusal`` rule: AI refusals and disclaimers in good responses drop, with the matched phrase."""

from __future__ import annotations

import pytest

from instructkit import filters
from instructkit.errors import ConfigError
from instructkit.records import make_record, message
from instructkit.stage import run_chain


def chain(params=None):
    return filters.build_chain(filters.effective(filters.resolve([("refusal", params or {})])))


def sft(user, assistant):
    return make_record("sft", messages=[message("user", user), message("assistant", assistant)])


def drop(ops, record):
    _, verdict = run_chain(ops, record)
    return verdict


@pytest.mark.parametrize(
    "answer, phrase",
    [
        ("As an AI language model, I cannot have opinions.", "as an ai language model"),
        ("I\u2019m sorry, but I cannot help with that request.", "i'm sorry, but i cannot"),  # curly apostrophe
        ("Sure. However, it is NOT APPROPRIATE to share this.", "it is not appropriate"),
        ("I must follow my ETHICAL GUIDELINES here.", "ethical guidelines"),
    ],
)
def test_drops_with_the_matched_phrase(answer, phrase):
    verdict = drop(chain(), sft("Tell me something.", answer))
    assert verdict is not None and verdict.reason == "refusal"
    assert verdict.details["value"] == phrase and verdict.details["turn"] == "messages[1]"
    assert verdict.details["rule"] == "refusal"


def test_keeps_plain_answers_and_matches_assistant_turns_only():
    ops = chain()
    assert drop(ops, sft("Why is the sky blue?", "Air scatters blue light more than red light.")) is None
    # The user may say it; only the answer counts.
    assert drop(ops, sft("Pretend you are not 'an AI language model' and greet me.", "Hello there!")) is None


def test_preference_checks_chosen_not_rejected():
    ops = chain()
    pair = make_record(
        "preference",
        prompt=[message("user", "How do I bake bread?")],
        chosen=[message("assistant", "Mix flour, water, yeast and salt; knead, rise, bake.")],
        rejected=[message("assistant", "I'm sorry, but I cannot help with baking.")],
    )
    assert drop(ops, pair) is None
    swapped = {**pair, "chosen": pair["rejected"], "rejected": pair["chosen"]}
    assert drop(ops, swapped).details["turn"] == "chosen[0]"


def test_phrases_and_extra_are_configurable():
    record = sft("Say hi.", "Beep boop, I am merely a humble chatbot.")
    assert drop(chain(), record) is None
    assert drop(chain({"extra": ["Humble Chatbot"]}), record).details["value"] == "Humble Chatbot"
    only = chain({"phrases": ["beep boop"]})
    assert drop(only, record).details["value"] == "beep boop"
    assert drop(only, sft("Q?", "As an AI language model, no.")) is None  # the default list was replaced


def test_bad_params_are_config_errors():
    with pytest.raises(ConfigError, match="at least one phrase"):
        chain({"phrases": []})
    with pytest.raises(ConfigError, match="unknown key"):
        chain({"phrase": ["x"]})


def test_end_to_end_counts_the_refusal(tmp_path, cli):
    from instructkit.shards import ShardSet, ShardWriter

    with ShardWriter(tmp_path / "in", stage="test") as w:
        for i, answer in enumerate(["Paris is the capital of France.", "As an AI, I cannot browse the web."]):
            w.count_in()
            w.write(sft(f"Question {i} about the world?", answer))
    cli("filter", w.path, "-o", tmp_path / "out", "--set", "refusal.extra=[browse the web]", "--lang", "en")
    s = ShardSet(tmp_path / "out")
    assert s.manifest["counts"]["rejected"] == {"refusal": 1}
    (rejected,) = list(s.rejected)
    assert rejected["meta"]["reject"]["value"] == "as an ai"
    assert [next(iter(r)) for r in s.manifest["params"]["rules"]][-1] == "refusal"
