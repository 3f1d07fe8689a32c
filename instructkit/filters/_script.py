"""Writing systems: which script a text is mostly written in, and the language that script decides.

Language detectors confuse languages that share a script with their neighbours, and they also
confuse scripts that only one language of their 176 uses with others: fastText's lid.176 lite model
labels plain Mandarin as ``wuu`` (Wu), ``yue`` (Cantonese), ``ko``, ``vi``, ``de``, ``hy`` or ``ga``
on short or mixed texts (seen on LLaMA-Factory's alpaca_zh demo). When a text is mostly written in
one of the scripts below, the script decides and the detector is not asked. ``SCRIPT_LANGUAGE`` is
that table (Unicode blocks -> ISO 639-1):

=================  ==========  ==========================================================
script             language    note
=================  ==========  ==========================================================
Han (no kana)      zh          Wu, Cantonese and Classical Chinese texts count as zh too
Han + kana         ja          kana at least 10% of the Han and kana characters
Hangul             ko
Thai               th
Lao                lo
Khmer              km
Myanmar            my
Tibetan            bo
Georgian           ka
Armenian           hy
Greek              el
Sinhala            si
Gujarati           gu
Gurmukhi           pa
Oriya              or
Tamil              ta
Telugu             te
Kannada            kn
Malayalam          ml
Ethiopic           am          Tigrinya shares it; lid.176 has no ti
=================  ==========  ==========================================================

Latin, Cyrillic, Arabic, Devanagari, Bengali and Hebrew are shared by several languages that the
detector tells apart well on sentences, so they stay with the detector. "Mostly" is counted in
words (a Han or kana character is a word, other words are whitespace-separated): at least
``MOSTLY`` (half) of the words. Thai, Lao, Khmer, Myanmar, Tibetan, Han and kana are written without
spaces between words (``SPACELESS``): word-length rules cannot judge them.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter

from instructkit.filters._text import words

# (first code point, last code point, script); sorted by first code point.
BLOCKS = sorted(
    [
        (0x0370, 0x03FF, "Greek"),
        (0x1F00, 0x1FFF, "Greek"),
        (0x0530, 0x058F, "Armenian"),
        (0x0A80, 0x0AFF, "Gujarati"),
        (0x0A00, 0x0A7F, "Gurmukhi"),
        (0x0B00, 0x0B7F, "Oriya"),
        (0x0B80, 0x0BFF, "Tamil"),
        (0x0C00, 0x0C7F, "Telugu"),
        (0x0C80, 0x0CFF, "Kannada"),
        (0x0D00, 0x0D7F, "Malayalam"),
        (0x0D80, 0x0DFF, "Sinhala"),
        (0x0E00, 0x0E7F, "Thai"),
        (0x0E80, 0x0EFF, "Lao"),
        (0x0F00, 0x0FFF, "Tibetan"),
        (0x1000, 0x109F, "Myanmar"),
        (0x10A0, 0x10FF, "Georgian"),
        (0x1100, 0x11FF, "Hangul"),
        (0x1200, 0x139F, "Ethiopic"),
        (0x1780, 0x17FF, "Khmer"),
        (0x3040, 0x30FF, "Kana"),
        (0x3130, 0x318F, "Hangul"),
        (0x3400, 0x4DBF, "Han"),
        (0x4E00, 0x9FFF, "Han"),
        (0xAC00, 0xD7AF, "Hangul"),
        (0xF900, 0xFAFF, "Han"),
        (0x20000, 0x2FA1F, "Han"),
    ]
)
_STARTS = [b[0] for b in BLOCKS]
SCRIPT_LANGUAGE = {
    "Hangul": "ko",
    "Thai": "th",
    "Lao": "lo",
    "Khmer": "km",
    "Myanmar": "my",
    "Tibetan": "bo",
    "Georgian": "ka",
    "Armenian": "hy",
    "Greek": "el",
    "Sinhala": "si",
    "Gujarati": "gu",
    "Gurmukhi": "pa",
    "Oriya": "or",
    "Tamil": "ta",
    "Telugu": "te",
    "Kannada": "kn",
    "Malayalam": "ml",
    "Ethiopic": "am",
}
SPACELESS = frozenset({"Han", "Kana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan"})
MOSTLY = 0.5  # share of words in one script
KANA_SHARE = 0.1  # Japanese runs about 30-60% kana; a Chinese text quoting one Japanese name has a few
_FAST_LATIN = re.compile(r"[\x00-\u036f]+")
_NON_LATIN = re.compile(r"[^\x00-\u036f]")  # one C-level scan: most English turns stop here


def script_of(char: str) -> str | None:
    """The script of one character from ``BLOCKS`` (None: Latin, digits, punctuation, other scripts)."""
    cp = ord(char)
    if cp < 0x0370:
        return None
    i = bisect.bisect_right(_STARTS, cp) - 1
    if i >= 0 and BLOCKS[i][0] <= cp <= BLOCKS[i][1]:
        return BLOCKS[i][2]
    return None


def scripts(text: str) -> tuple[Counter, int]:
    """Words per script (by each word's first non-Latin letter) and the number of words."""
    counts: Counter = Counter()
    toks = words(text)
    for tok in toks:
        if _FAST_LATIN.fullmatch(tok):
            continue  # Latin, digits and ASCII punctuation: the common case, no per-character lookup
        for ch in tok:
            s = script_of(ch)
            if s is not None:
                counts[s] += 1
                break
    return counts, len(toks)


def script_language(text: str) -> str | None:
    """The language a text's script decides (see the table above), or None to ask the detector."""
    if text.isascii() or not _NON_LATIN.search(text):
        return None
    counts, n = scripts(text)
    if not n:
        return None
    cjk = counts["Han"] + counts["Kana"]
    if cjk >= MOSTLY * n:
        return "ja" if counts["Kana"] >= KANA_SHARE * cjk else "zh"
    for script, lang in SCRIPT_LANGUAGE.items():
        if counts[script] >= MOSTLY * n:
            return lang
    return None


def is_spaceless(text: str) -> bool:
    """Whether the text is mostly in scripts written without spaces between words (Han, kana, Thai...)."""
    if text.isascii() or not _NON_LATIN.search(text):
        return False
    counts, n = scripts(text)
    return bool(n) and sum(counts[s] for s in SPACELESS) >= MOSTLY * n
