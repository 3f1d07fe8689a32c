"""Repetition and composition of responses: Gopher, C4 and FineWeb rules, with floors for short answers.

References:
- Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training Gopher",
  appendix A (MassiveText quality and repetition filters): duplicate line / paragraph fractions (0.30)
  and their character shares (0.20), top 2/3/4-gram character shares (0.20/0.18/0.16), duplicated
  5..10-gram character shares (0.15 .. 0.10), symbol-to-word ratio (0.1), words with an alphabetic
  character (0.8), mean word length (3..10).
- Raffel et al. 2020 (C4): drop pages with "lorem ipsum".
- Penedo et al. 2024 (FineWeb): lines ending in punctuation, newline-per-word ratio (0.3); off by
  default here because answers are often lists.

Gopher fitted its thresholds to web documents of at least 50 words; on a 10-word answer a single repeated
phrase swings every ratio, so the n-gram checks need ``min_words`` words and the composition checks need
``min_words_composition``. A 3-word correct answer is never dropped by this rule. Only responses are
checked (assistant turns and ``chosen``), with fenced code removed (code repeats
brackets and symbols on purpose). Words are CJK-aware (``filters/_text.py``): a Chinese character is a
word, so mean word length and longest word skip CJK characters, and a response mostly written in a script
without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan: ``filters/_script.py``) is not
judged by the word-length checks at all (on LLaMA-Factory's alpaca_zh demo they dropped 15 correct Chinese
maths answers, whose only "words" were formulas glued to Chinese punctuation).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import field

from instructkit.filters._script import is_spaceless
from instructkit.filters._text import detail, good_responses
from instructkit.filters.analysis import alpha_words, icase_guard, latin_words, strip_code, words
from instructkit.filters.analysis import ascii_response as _ascii_response
from instructkit.filters.ngrams import ngram_first_over
from instructkit.stage import Drop, Filter, register

_HASH_RUN = re.compile(r"#+")
_ELLIPSIS = re.compile(r"\.\.\.|\u2026")
_LOREM = re.compile(r"lorem ipsum", re.I)
_LOREM_GUARD = icase_guard(_LOREM)  # on ASCII text: "lorem ipsum" in the lower-cased text, exactly
_URLISH = re.compile(r"^(?:https?://|www\.)|/", re.I)


def symbols(text: str) -> int:
    """Runs of ``#`` and ellipses, as ``_HASH_RUN`` and ``_ELLIPSIS`` find them: the ellipsis matches are the
    non-overlapping counts of its two literals (str.count in C), and text without ``#`` has no run."""
    return (len(_HASH_RUN.findall(text)) if "#" in text else 0) + text.count("...") + text.count("\u2026")


def duplicates(items: list[str]) -> tuple[int, int]:
    """``(duplicate items, characters in them)``: every repeat after the first occurrence counts."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def _responses(record: dict):
    # sft assistant turns, chosen, desirable completions; rejected answers and candidates may be bad on purpose.
    for field_, msgs in good_responses(record):
        for i, m in enumerate(msgs):
            if m.get("role") == "assistant":
                yield f"{field_}[{i}]", m.get("content") or ""


@dataclasses.dataclass(kw_only=True)
class RepetitionParams:
    min_words: int = field(
        default=50,
        metadata={
            "help": "Responses with fewer words skip the n-gram checks (Gopher fitted them to >= 50-word documents)."
        },
    )
    min_words_composition: int = field(
        default=10,
        metadata={"help": "Responses with fewer words skip symbol, alphabetic-word and mean-word-length checks."},
    )
    min_lines: int = field(default=4, metadata={"help": "Responses with fewer non-empty lines skip the line checks."})
    dup_line_frac: float = field(default=0.30, metadata={"help": "Max fraction of lines that repeat an earlier line."})
    dup_para_frac: float = field(default=0.30, metadata={"help": "Max fraction of paragraphs that repeat."})
    dup_line_char_frac: float = field(default=0.20, metadata={"help": "Max share of characters in repeated lines."})
    dup_para_char_frac: float = field(
        default=0.20, metadata={"help": "Max share of characters in repeated paragraphs."}
    )
    # Gopher's web values (2: 0.20 ... 10: 0.10) dropped 5% of GSM8K's correct step-by-step answers, whose
    # steps repeat phrases on purpose ("the sunflowers from Packet A"); on GSM8K + GPTeacher (10.6k answers)
    # the largest shares were 0.29 (top 2-gram) to 0.41 (dup 7-gram). A looping generation scores > 0.6.
    top_ngram_frac: dict[int, float] = field(
        default_factory=lambda: {2: 0.35, 3: 0.40, 4: 0.45},
        metadata={"help": "n -> max character share of the most frequent n-gram (Gopher: 2: 0.20, 3: 0.18, 4: 0.16)."},
    )
    dup_ngram_frac: dict[int, float] = field(
        default_factory=lambda: {5: 0.50, 6: 0.49, 7: 0.48, 8: 0.47, 9: 0.46, 10: 0.45},
        metadata={"help": "n -> max character share of repeated n-grams (Gopher: 5: 0.15 down to 10: 0.10)."},
    )
    max_symbol_word_ratio: float = field(
        default=0.10,
        metadata={"help": "Max (runs of '#' + ellipses) per word (Gopher; a markdown heading's '##' counts once)."},
    )
    min_alpha_word_frac: float = field(
        default=0.30,
        metadata={
            "help": "Min fraction of words with a letter (Gopher: 0.8 on web text; GSM8K answers such as "
            "'33 * 16 = $528' go down to 0.375)."
        },
    )
    mean_word_length: list[float] = field(
        default_factory=lambda: [2.0, 12.0],
        metadata={
            "help": "Allowed [min, max] mean length of non-CJK words (Gopher: [3, 10]; GSM8K + GPTeacher: 2.7 to 9.8)."
        },
    )
    max_word_length: int = field(
        default=100,
        metadata={"help": "Longest non-URL word in characters (base64 blobs, hashes and run-together junk)."},
    )
    lorem_ipsum: bool = field(default=True, metadata={"help": "Drop responses with 'lorem ipsum' (C4)."})
    max_newline_ratio: float | None = field(
        default=None,
        metadata={"help": "Max newlines per word (FineWeb uses 0.3 on web pages); null: off, answers are often lists."},
    )


@register("filter", "repetition")
class RepetitionFilter(Filter):
    """Drops degenerate responses: repeated lines, paragraphs and n-grams, symbol soup, junk words."""

    Params = RepetitionParams

    def __init__(self, params: RepetitionParams):
        super().__init__(params)
        # (n as configured, frac) in the order checked, and the (int n, frac) the n-gram code takes
        self._top_keys = sorted(params.top_ngram_frac.items())
        self._dup_keys = sorted(params.dup_ngram_frac.items())
        self._top = [(int(n), frac) for n, frac in self._top_keys]
        self._dup = [(int(n), frac) for n, frac in self._dup_keys]

    def check(self, record: dict) -> Drop | None:
        for where, text in _responses(record):
            verdict = self._check_text(strip_code(text).strip())
            if verdict is not None:
                reason, value, threshold = verdict
                return Drop(f"repetition.{reason}", detail(f"repetition.{reason}", value, threshold, turn=where))
        return None

    def _check_text(self, text: str):
        p = self.params
        if not text:
            return None
        if p.lorem_ipsum and _LOREM_GUARD(text) and _LOREM.search(text):
            return "lorem_ipsum", "lorem ipsum", "absent"
        n_chars = len(text)
        if _ascii_response is not None and text.isascii():
            # One C pass: word count, longest word, total word length, words with a letter and the n-gram
            # checks, with no str made per word. ASCII text is never spaceless and all its words are latin.
            n_words, longest, total, n_alpha, hit = _ascii_response(text, n_chars, p.min_words, self._top, self._dup)
            toks = latin = None  # made only if a word is too long (rare)
            n_latin = n_words
        else:
            toks = words(text)
            n_words = len(toks)
            # Scripts written without spaces (Chinese, Japanese, Thai...) have no word lengths to judge: a Chinese
            # maths answer's only space-separated "words" are formulas glued to punctuation ("x(x-3)=0。根据").
            latin = [] if is_spaceless(text) else latin_words(text, toks)
            n_latin, longest, total = len(latin), max(map(len, latin), default=0), sum(map(len, latin))  # in C
        lines = [x.strip() for x in text.split("\n") if x.strip()]
        if len(lines) >= p.min_lines:
            n, chars = duplicates(lines)
            if n / len(lines) > p.dup_line_frac:
                return "dup_line_frac", round(n / len(lines), 4), p.dup_line_frac
            if chars / n_chars > p.dup_line_char_frac:
                return "dup_line_char_frac", round(chars / n_chars, 4), p.dup_line_char_frac
        paras = [x.strip() for x in re.split(r"\n\s*\n", text) if x.strip()]
        if len(paras) >= p.min_lines:
            n, chars = duplicates(paras)
            if n / len(paras) > p.dup_para_frac:
                return "dup_para_frac", round(n / len(paras), 4), p.dup_para_frac
            if chars / n_chars > p.dup_para_char_frac:
                return "dup_para_char_frac", round(chars / n_chars, 4), p.dup_para_char_frac
        if n_words >= p.min_words:
            if toks is not None:
                hit = ngram_first_over(toks, n_chars, self._top, self._dup)  # in C when built (analysis.py)
            if hit is not None:
                kind, i, share = hit
                n, frac = (self._top_keys if kind == "top" else self._dup_keys)[i]
                return f"{kind}_{n}gram", round(share, 4), frac
        if n_latin and longest > p.max_word_length:  # almost no response has a word that long
            if latin is None:
                latin = words(text)
            long_words = [t for t in latin if len(t) > p.max_word_length and not _URLISH.search(t)]
            if long_words:
                return "max_word_length", len(long_words[0]), p.max_word_length
        if n_words >= p.min_words_composition:
            n_symbols = symbols(text)
            if n_symbols / n_words > p.max_symbol_word_ratio:
                return "symbol_word_ratio", round(n_symbols / n_words, 4), p.max_symbol_word_ratio
            alpha = (n_alpha if toks is None else alpha_words(text, toks)) / n_words
            if alpha < p.min_alpha_word_frac:
                return "alpha_word_frac", round(alpha, 4), p.min_alpha_word_frac
            if n_latin >= p.min_words_composition:
                mean = total / n_latin
                lo, hi = p.mean_word_length
                if not lo <= mean <= hi:
                    return "mean_word_length", round(mean, 3), p.mean_word_length
            if p.max_newline_ratio is not None and text.count("\n") / n_words > p.max_newline_ratio:
                return "newline_ratio", round(text.count("\n") / n_words, 4), p.max_newline_ratio
        return None
