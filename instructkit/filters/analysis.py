"""Each text analysed once, shared by every rule: memoised text helpers, exact shortcuts, and C.

The default chain (language, defects, length, repetition, pii) looked at every turn four or five times:
``strip_code`` ran in three rules, ``count_words`` up to five times per response, ``fold`` in two, and
the repetition rule built all nine n-gram lists of every long response. Here:

- ``strip_code``, ``count_words``, ``fold`` and ``norm`` are the ``_text`` functions behind a small
  per-process memo keyed by the text itself (a record's turns are the same ``str`` objects in every
  rule, so the key's hash is computed once). Results are immutable strings and ints, so a rule cannot
  change what another reads. The memo holds the last ``MEMO`` texts (about a batch of records), so
  memory stays bounded.
- The hottest work on ASCII text (most instruction data) is C, in ``_speedups.c``: word counts and
  lists, ``norm``, the PII digit shapes, phrase lists looked up in one pass (``Phrases``), and the
  repetition rule's measures of a response (``ascii_response``: no ``str`` made per word). Each has a
  Python twin (``*_py`` and ``PhrasesPy`` here, ``NGrams`` in ``ngrams.py``) that runs where the extension was not built.
- The repetition rule's n-gram checks are in ``ngrams.py`` (``first_over`` in C, ``NGrams`` its twin).
- ``alpha_words`` and ``latin_words`` give the same counts as the plain loops, with a fast path for
  the common case (ASCII text; text without CJK).

Every function returns exactly what the plain implementation returns: tests/filters/test_filter_analysis.py
keeps that plain implementation as the oracle, checks verdicts on real and adversarial text, and checks
each C function against its Python twin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from instructkit.filters import _text

try:  # the hottest helpers in C (_speedups.c), built by `pip install -e .`; without it, the Python below
    from instructkit.filters import _speedups
except ImportError:  # pragma: no cover - depends on the build
    _speedups = None

MEMO = 4096  # texts remembered per helper: a batch of 256 records has ~1,000-2,000 turns


class _Memo(dict):
    """text -> fn(text), filled on a miss; cleared when it holds ``MEMO`` texts (cheaper than LRU
    bookkeeping; the next batch refills it)."""

    def __init__(self, fn: Callable[[str], Any]):
        super().__init__()
        self.fn = fn

    def __missing__(self, text: str) -> Any:
        if len(self) >= MEMO:
            self.clear()
        hit = self[text] = self.fn(text)
        return hit


def _memo(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    """``fn`` remembered: the returned callable is the memo's own ``__getitem__``, so a hit is one C-level
    dict lookup, with no Python frame (these helpers are called ~15 times per record)."""
    return _Memo(fn).__getitem__


# --- ASCII text in one C pass ---------------------------------------------------------------------
# ``bytes.translate`` over the ASCII-encoded text replaces the regexes (about 5x faster). The whitespace of
# ``str.split`` and of a str regex's ``\s`` (Py_UNICODE_ISSPACE) includes \x1c-\x1f, which
# ``bytes.split`` does not: the tables map those to spaces first.
_TO_SPACE = bytes.maketrans(b"\x1c\x1d\x1e\x1f", b"    ")
_NOT_ALNUM_OR_SPACE = bytes(i for i in range(128) if not (chr(i).isalnum() or chr(i).isspace()))
_NOT_ALPHA_OR_SPACE = bytes(i for i in range(128) if not (chr(i).isalpha() or chr(i).isspace()))
_NORM = bytes(ord(chr(i).lower()) if chr(i).isalnum() else 32 for i in range(128)) + bytes(range(128, 256))
# A whitespace token with a letter or digit, whole: it starts only where a token starts, so one pass.
_WORD_TOKEN = re.compile(r"(?<!\S)\S*?[^\W_]\S*")


def count_words_ascii_py(text: str) -> int:
    """Words of ASCII text: the whitespace tokens left once every character that is not a letter, digit or
    space is deleted (a token of symbols vanishes, a word keeps its letters)."""
    return len(text.encode("ascii").translate(_TO_SPACE, _NOT_ALNUM_OR_SPACE).split())


def words_ascii_py(text: str) -> list[str]:
    """``_text.words`` of ASCII text: its whitespace tokens when ``count_words`` counts them all (most
    prose), else one regex pass for the tokens with a letter or digit."""
    tokens = text.split()
    return tokens if len(tokens) == count_words_ascii(text) else _WORD_TOKEN.findall(text)


def alpha_words_ascii_py(text: str) -> int:
    """Whitespace tokens of ASCII text with a letter: delete all but letters and spaces, count."""
    return len(text.encode("ascii").translate(_TO_SPACE, _NOT_ALPHA_OR_SPACE).split())


def norm_ascii_py(text: str) -> str:
    """``_text.norm`` of ASCII text: NFKC and casefold leave ASCII as ``lower()`` does, and each run of
    characters that are not letters or digits becomes one space, stripped at both ends."""
    return b" ".join(text.encode("ascii").translate(_NORM).split()).decode("ascii")


def squeeze_py(text: str, max_chars: int) -> str:
    """The first ``max_chars`` characters with each run of whitespace made one space, stripped."""
    return " ".join(text[:max_chars].split())


def squeeze(text: str, max_chars: int) -> str:
    """``squeeze_py``, in one C pass on ASCII text when _speedups is built."""
    if _speedups is not None and text.isascii():
        return _speedups.squeeze_ascii(text, max_chars)
    return squeeze_py(text, max_chars)


def first_in_py(text: str, phrases: list[str] | tuple[str, ...], start: int = 0) -> int:
    """The index of the first of ``phrases[start:]`` that occurs in ``text``, or -1."""
    for i in range(max(start, 0), len(phrases)):
        if phrases[i] in text:
            return i
    return -1


class PhrasesPy:
    """``Phrases(phrases).first_in(text, start=0)``: ``first_in_py`` over a list given once."""

    def __init__(self, phrases: list[str] | tuple[str, ...]):
        self.phrases = tuple(phrases)

    def first_in(self, text: str, start: int = 0) -> int:
        if start <= 0:  # the usual call: one loop, no indexing
            for i, phrase in enumerate(self.phrases):
                if phrase in text:
                    return i
            return -1
        return first_in_py(text, self.phrases, start)


# One C pass each when _speedups is built (no intermediate bytes, lists or token objects).
Phrases = _speedups.Phrases if _speedups else PhrasesPy
count_words_ascii = _speedups.count_words_ascii if _speedups else count_words_ascii_py
words_ascii = _speedups.words_ascii if _speedups else words_ascii_py
alpha_words_ascii = _speedups.alpha_words_ascii if _speedups else alpha_words_ascii_py
norm_ascii = _speedups.norm_ascii if _speedups else norm_ascii_py


def _count_words(text: str) -> int:
    """``_text.count_words``, on ASCII text in one pass."""
    if text.isascii():
        return count_words_ascii(text)
    return _text.count_words(text)


def _strip_code(text: str) -> str:
    """``_text.strip_code``: both of its patterns need a backtick; most texts have none."""
    return _text.strip_code(text) if "`" in text else text


def _fold(text: str) -> str:
    """``_text.fold``: NFKC leaves ASCII as it is, casefold lowers it, and the curly quotes it straightens
    are not ASCII: on ASCII text, ``lower()``."""
    return text.lower() if text.isascii() else _text.fold(text)


def _norm(text: str) -> str:
    """``_text.norm``, on ASCII text in one pass."""
    if text.isascii():
        return norm_ascii(text)
    return _text.norm(text)


strip_code = _memo(_strip_code)
count_words = _memo(_count_words)
count_words_uncached = _count_words  # for one-off texts (the language rule's slices) that would crowd the memo
fold = _memo(_fold)
norm = _memo(_norm)


def words(text: str) -> list[str]:
    """``_text.words(text)``; text without CJK is split in C. ASCII text: ``words_ascii``; other text's
    tokens are checked one by one only when it has a token without a letter or digit (``-``, ``=``)."""
    if text.isascii():
        return words_ascii(text)
    if _text._CJK_CHAR.search(text):
        return _text.words(text)
    tokens = text.split()  # the same whitespace as the regex's \s (both Py_UNICODE_ISSPACE)
    if _text._NON_WORD.search(text) is None:
        return tokens
    return [t for t in tokens if _text._HAS_ALNUM.search(t)]


# --- word composition ---------------------------------------------------------------------------


def alpha_words(text: str, tokens: tuple[str, ...] | list[str]) -> int:
    """How many of ``tokens`` (``words(text)``) contain a letter (``str.isalpha``)."""
    if text.isascii():  # the whitespace tokens with a letter
        return alpha_words_ascii(text)
    return sum(1 for t in tokens if any(c.isalpha() for c in t))


def latin_words(text: str, tokens: tuple[str, ...] | list[str]) -> tuple[str, ...] | list[str]:
    """``tokens`` without the CJK characters (all of them when the text has none)."""
    if text.isascii() or not _text._CJK_CHAR.search(text):
        return tokens
    return [t for t in tokens if not _text.is_cjk(t)]


_ASCII_DIGIT = re.compile(r"[0-9]")


def has_digit(text: str) -> bool:
    """``any(c.isdigit() for c in text)`` (superscripts and other digits count), in C for ASCII text."""
    if text.isascii():
        return _ASCII_DIGIT.search(text) is not None
    return any(c.isdigit() for c in text)


_METACHARS = frozenset(".^$*+?{}[]\\|()")


def icase_guard(pattern: re.Pattern, needs: tuple[str, ...] = ()) -> Callable[[str], bool]:
    """A cheap test that is False only where ``pattern.search(text)`` finds nothing (run it when True).

    For a case-insensitive pattern written in lower case (so no ``\\S``/``\\W``/``\\D``/``\\B``), on ASCII
    text ``re.I`` equates exactly the ASCII upper and lower case letters (its four non-ASCII extras, such
    as the Kelvin sign, cannot occur), so the same pattern without ``re.I`` over ``text.lower()`` finds a
    match exactly when the original does, and sre searches it several times faster (its literal
    prefix scan works only without ``re.I``). Non-ASCII text, or a pattern this does not apply to: True.

    A pattern that is only literals joined by ``|`` matches ASCII text exactly when one of its ASCII
    literals is in the lower-cased text: that is the whole test (``in``, no regex). ``needs``: substrings
    of which every match of a pattern holds at least one (lower case); the regex runs only when one is there.
    """
    source = pattern.pattern
    if not pattern.flags & re.I or not isinstance(source, str) or source != source.lower():
        return lambda text: True
    if any(not c.isascii() and (c.lower().isascii() or c.upper().isascii()) for c in source):
        return lambda text: True  # "ſ", "ı" or the Kelvin sign: under re.I they match ASCII letters
    if not needs and not pattern.flags & re.X and not _METACHARS.intersection(source.replace("|", "")):
        literals = tuple(a for a in source.split("|") if a.isascii())

        def any_literal(text: str) -> bool:
            if not text.isascii():
                return True
            low = text.lower()
            for a in literals:  # a loop, not any(<generator>): no generator per call
                if a in low:
                    return True
            return False

        return any_literal
    plain = re.compile(source, pattern.flags & ~re.I)
    needs_ = Phrases(needs) if needs else None  # all of them looked up in one pass

    def guard(text: str) -> bool:
        if not text.isascii():
            return True
        low = text.lower()
        if needs_ is not None and needs_.first_in(low) < 0:
            return False
        return plain.search(low) is not None

    return guard


# --- pii.py's digit patterns ---------------------------------------------------------------------

_DIGIT_0 = bytes.maketrans(b"123456789", b"000000000")
_GLUE = bytes(i for i in range(128) if chr(i).isspace()) + b".-()"  # \s of a str regex on ASCII, and . - ( )


def pii_shapes(text: str) -> tuple[bool, bool, bool]:
    """Whether pii.py's CARD, IPV4 and PHONE can match ``text``: False only where they cannot.

    On ASCII text with every digit written ``0``: an IPv4 address holds ``0.0``; with whitespace, ``.``,
    ``-``, ``(`` and ``)`` deleted as well, a card number is 13 digits in a row (13-19 digits with single
    spaces or dashes), and every phone form is ``+`` and 6 digits (``+CC`` then at least 1 + 2 + 2 digits)
    or 10 digits in a row (``(555) 123-4567``, ``555-123-4567``, 11-digit mobiles). Other text: True.
    """
    if not text.isascii():
        return True, True, True
    shape = text.encode("ascii").translate(_DIGIT_0)
    glued = shape.translate(None, _GLUE)
    return b"0" * 13 in glued, b"0.0" in shape, b"0" * 10 in glued or b"+000000" in glued


def pii_shapes_ascii_py(text: str) -> tuple[bool, bool, bool]:
    """``pii_shapes`` of ASCII text, all False when it has no digit."""
    if _ASCII_DIGIT.search(text) is None:
        return False, False, False
    return pii_shapes(text)


# The repetition rule's measures of an ASCII response in one C pass (None without _speedups: the rule then
# measures the word list, as for any other text)
ascii_response = _speedups.ascii_response if _speedups else None

# has_digit and pii_shapes in one C pass when _speedups is built
pii_shapes_ascii = _speedups.pii_shapes_ascii if _speedups else pii_shapes_ascii_py
