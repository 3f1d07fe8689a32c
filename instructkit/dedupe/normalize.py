"""What text of a record is compared, and how it is normalised before hashing.

Exact mode hashes the whole normalised string; near mode (MinHash) turns it into tokens and then
shingles. Both derive from the same folding rules, so two records that are exact duplicates under the
default normalisation also have identical shingle sets (and a Jaccard similarity of 1.0).
"""

from __future__ import annotations

import re
import unicodedata

from instructkit.errors import ConfigError
from instructkit.records import conversation_text, prompt_of, response_of, text_of

FIELDS = ("prompt", "response", "conversation")

_WS = re.compile(r"\s+")
# Tokens for MinHash: runs of word characters; each CJK ideograph or kana is a token of its own
# (Chinese and Japanese do not separate words with spaces; Korean does, so Hangul stays in words).
_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_RANGES}]")
_TOKEN = re.compile(f"[{_CJK_RANGES}]|[^\\W{_CJK_RANGES}]+")


def text_for(record: dict, fields: str) -> str:
    """The text of ``record`` that is compared: its prompt, its response, or the whole conversation.

    Args:
        record: A record of any kind.
        fields: ``prompt``, ``response`` or ``conversation``.
    """
    if fields == "prompt":
        return text_of(prompt_of(record))
    if fields == "response":
        return response_of(record)
    if fields == "conversation":
        return conversation_text(record)
    raise ConfigError(f"unknown --fields {fields!r}", hint=f"use one of {', '.join(FIELDS)}")


# Punctuation and symbols: everything that is neither a word character nor whitespace, plus "_".
_PUNCT = re.compile(r"[^\w\s]|_")


def normalize(text: str, *, case: bool = True, whitespace: bool = True, punctuation: bool = True) -> str:
    """Fold a text for exact hashing; each folding can be switched off.

    Args:
        text: The text.
        case: Case-fold (``str.casefold``: also folds the German sharp s and similar).
        whitespace: Collapse runs of whitespace to one space and strip the ends.
        punctuation: Replace punctuation and symbols (anything but word characters and whitespace) by spaces.
    """
    text = unicodedata.normalize("NFKC", text)
    if case:
        text = text.casefold()
    if punctuation:
        # To spaces, not to nothing: "don't" -> "don t" like the MinHash tokens "don", "t", so an
        # exact duplicate is always a Jaccard-1.0 near duplicate too.
        text = _PUNCT.sub(" ", text)
    if whitespace:
        text = _WS.sub(" ", text).strip()
    return text


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; every CJK ideograph or kana is a token of its own."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def is_spaceless(text: str, share: float = 0.3) -> bool:
    """Whether at least ``share`` of the non-space characters are CJK/kana (written without spaces)."""
    chars = len(text) - text.count(" ") - text.count("\n")
    return chars > 0 and len(_CJK.findall(text)) >= share * chars
