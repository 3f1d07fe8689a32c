"""Model-based eval pieces on the tiny model: perplexity by hand, reward scoring, RewardBench accuracy."""

from __future__ import annotations

import math
import shutil

import pytest

from instructkit.records import make_record, message

CONV = [{"role": "user", "content": "What is 12 + 30?"}, {"role": "assistant", "content": "The answer is 42."}]
CONV2 = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Say yes."},
    {"role": "assistant", "content": "Yes."},
]


@pytest.fixture(scope="module")
def lm(tiny_model):
    from instructkit.generation import load_causal_lm

    return load_causal_lm(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def reward_dir(tiny_model, tmp_path_factory):
    """The tiny model with a (random) one-output score head: a reward model for mechanics."""
    import torch
    from transformers import AutoModelForSequenceClassification

    out = tmp_path_factory.mktemp("rm") / "rm"
    shutil.copytree(tiny_model, out)
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1).save_pretrained(out)
    return out


def _hand_nll(model, tokenizer, prompt_text: str, reply_text: str) -> tuple[float, int]:
    """Sum of -log p(token) over the reply tokens, one token at a time from the full logits."""
    import torch

    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(reply_text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + reply_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    total = 0.0
    for k, tok in enumerate(reply_ids):
        pos = len(prompt_ids) + k  # token at pos is predicted by the logits at pos - 1
        total -= float(torch.log_softmax(logits[pos - 1], dim=-1)[tok])
    return total, len(reply_ids)


def test_perplexity_is_exp_of_hand_computed_nll(lm):
    from instructkit.eval.perplexity import perplexity

    model, tok = lm
    # The ChatML template: the assistant tokens are the content plus <|im_end|> (inside {% generation %}).
    prompt = "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n"
    assert tok.apply_chat_template(CONV[:1], tokenize=False, add_generation_prompt=True) == prompt
    nll, n = _hand_nll(model, tok, prompt, "The answer is 42.<|im_end|>")
    result = perplexity(model, tok, [CONV])
    assert result["tokens"] == n
    assert result["nll"] == pytest.approx(nll / n, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(nll / n), rel=1e-5)


def test_perplexity_pools_tokens_and_ignores_padding(lm):
    from instructkit.eval.perplexity import perplexity, token_nll

    model, tok = lm
    single = [token_nll(model, tok, [c])[0] for c in (CONV, CONV2)]
    batched = token_nll(model, tok, [CONV, CONV2], batch_size=2)  # CONV is right-padded here
    for (a, n), (b, m) in zip(single, batched, strict=True):
        assert n == m and a == pytest.approx(b, rel=1e-4)
    # CONV2 scores both assistant turns ("Hello!" and "Yes.", each with <|im_end|>), not the user turns.
    first = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    n_hello = len(tok("Hello!<|im_end|>", add_special_tokens=False)["input_ids"])
    n_yes = len(tok("Yes.<|im_end|>", add_special_tokens=False)["input_ids"])
    assert batched[1][1] == n_hello + n_yes
    assert _hand_nll(model, tok, first, "Hello!<|im_end|>")[1] == n_hello
    pooled = perplexity(model, tok, [CONV, CONV2], batch_size=2)
    total = sum(a for a, _ in single) / sum(n for _, n in single)  # token-weighted, not a mean of means
    assert pooled["nll"] == pytest.approx(total, rel=1e-4)


def test_assistant_mask_without_generation_markers(lm):
    from instructkit.eval.perplexity import assistant_tokens

    _, tok = lm
    ids, mask = assistant_tokens(tok, CONV2)
    plain = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tok2 = type(tok).from_pretrained(tok.name_or_path)
    tok2.chat_template = plain
    ids2, mask2 = assistant_tokens(tok2, CONV2)  # the prefix-difference fallback
    assert ids2 == ids
    # The fallback also counts the "\n" after <|im_end|> (outside the generation block) per turn.
    assert sum(mask2) == sum(mask) + 2
    assert all(m2 >= m for m, m2 in zip(mask, mask2, strict=True))


def test_reward_scores_are_batch_independent_and_accuracy_counts(reward_dir):
    from instructkit.eval.rewardbench import RewardScorer, preference_accuracy

    convs = [
        CONV,
        CONV2,
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a much longer reply here"}],
    ]
    one = RewardScorer(reward_dir, batch_size=1).score(convs)
    scorer = RewardScorer(reward_dir, batch_size=3)
    many = scorer.score(convs)  # right padding: the score is read at each row's last real token
    assert many == pytest.approx(one, rel=1e-4, abs=1e-5)
    assert len(set(round(s, 6) for s in many)) == 3
    records = [
        make_record(
            "preference",
            prompt=[message("user", "q")],
            chosen=[message("assistant", "yes")],
            rejected=[message("assistant", "yes")],
        ),
        make_record(
            "preference",
            prompt=[message("user", "q2")],
            chosen=[message("assistant", "Sure, here")],
            rejected=[message("assistant", "No.")],
        ),
    ]
    acc = preference_accuracy(scorer, records)
    assert acc["n"] == 2 and acc["ties"] == 1  # identical chosen and rejected: a tie, counted wrong
    c, r = acc["chosen_scores"][1], acc["rejected_scores"][1]
    assert acc["correct"] == int(c > r) and acc["accuracy"] == pytest.approx(int(c > r) / 2)


def test_reward_model_must_have_one_output(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from instructkit.errors import ConfigError, InputError
    from instructkit.eval.rewardbench import RewardScorer

    out = tmp_path / "two"
    shutil.copytree(tiny_model, out)
    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=2).save_pretrained(out)
    with pytest.raises(ConfigError, match="one output"):
        RewardScorer(out)
    with pytest.raises(InputError):
        RewardScorer(tmp_path / "missing")
