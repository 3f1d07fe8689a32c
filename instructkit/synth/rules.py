"""Rejection rules for generated instructions and evolutions, each returning a ``Drop`` with a reason.

Self-Instruct rules, as Stanford Alpaca's ``post_process_gpt3_response`` applies them (Taori et al.
2023; Wang et al. 2022 section 2.3):

- ``too_short`` / ``too_long``: ``<= 3`` or ``> 150`` whitespace-separated words;
- ``blocklist``: a whole-word, case-insensitive match of a keyword a text-only model cannot serve
  (image, graph, picture, file, map, draw, plot, go to, video, audio, music, flowchart, diagram);
- ``write_a_program``: starts with "Write a program" (Alpaca: the model tended to add it everywhere);
- ``starts_with_punctuation``: the first character is in ``string.punctuation``;
- ``non_ascii_start``: the first character is not ASCII (Alpaca's ``not inst[0].isascii()``: it
  filters non-English starts; a digit or an ASCII letter passes);
- ``rouge_similar``: ROUGE-L F > 0.7 against any instruction in the pool (checked in the loop).

Evol-Instruct elimination (WizardLM, Xu et al. 2023, section 3.3): ``no_information_gain``
(judged in the loop), ``sorry_short`` (the response contains "sorry" and is under 80 words),
``stopwords_only`` (the response is only punctuation and stop words), ``copied_prompt_words`` (the
evolved instruction copies words of the evolving prompt such as "#Rewritten Prompt#").
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from instructkit.stage import Drop

BLOCKLIST = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)

# Words of the evolving prompts that must not leak into an evolved instruction (WizardLM).
COPIED_WORDS = (
    "#given prompt#",
    "#the given prompt#",
    "#rewritten prompt#",
    "#created prompt#",
    "given prompt",
    "rewritten prompt",
    "created prompt",
)

# NLTK's English stop-word list (179 words), inlined: no download at run time.
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their theirs themselves
what which who whom this that that'll these those am is are was were be been being have has had having do does
did doing a an the and but if or because as until while of at by for with about against between into through
during before after above below to from up down in out on off over under again further then once here there when
where why how all any both each few more most other some such no nor not only own same so than too very s t can
will just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn
doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan
shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't""".split()
)


@dataclass
class InstructionRules:
    """Self-Instruct's instruction filters with Alpaca's settings.

    Args:
        min_words: Instructions with this many words or fewer are rejected (Alpaca: 3).
        max_words: Instructions with more words are rejected (Alpaca: 150).
        blocklist: Whole-word keywords that reject an instruction.
    """

    min_words: int = 3
    max_words: int = 150
    blocklist: tuple[str, ...] = BLOCKLIST
    _pattern: re.Pattern | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.blocklist:
            words = "|".join(re.escape(w) for w in self.blocklist)
            self._pattern = re.compile(rf"\b({words})\b", re.IGNORECASE)

    def check(self, instruction: str) -> Drop | None:
        """The first rule the instruction breaks, or None."""
        text = instruction.strip()
        n = len(text.split())
        if n <= self.min_words:
            return Drop("too_short", {"value": n, "threshold": self.min_words})
        if n > self.max_words:
            return Drop("too_long", {"value": n, "threshold": self.max_words})
        if self._pattern is not None and (m := self._pattern.search(text)):
            return Drop("blocklist", {"value": m.group(1).lower()})
        if text.startswith("Write a program"):
            return Drop("write_a_program", {})
        if text[0] in string.punctuation:
            return Drop("starts_with_punctuation", {"value": text[0]})
        if not text[0].isascii():
            return Drop("non_ascii_start", {"value": text[0]})
        return None


def copied_prompt_words(evolved: str) -> Drop | None:
    """WizardLM check 4: the evolution leaked words of the evolving prompt."""
    low = evolved.lower()
    for phrase in COPIED_WORDS:
        if phrase in low:
            return Drop("copied_prompt_words", {"value": phrase})
    return None


def sorry_short(response: str, max_words: int = 80) -> Drop | None:
    """WizardLM check 2: the response contains "sorry" and is short (< 80 words): the model gave up."""
    n = len(response.split())
    if "sorry" in response.lower() and n < max_words:
        return Drop("sorry_short", {"value": n, "threshold": max_words})
    return None


def stopwords_only(response: str) -> Drop | None:
    """WizardLM check 3: the response holds only punctuation and stop words (or nothing)."""
    words = [w for w in re.split(r"\s+", response.lower().strip()) if w]
    words = [w.strip(string.punctuation + "\u2019\u2018\u201c\u201d") for w in words]
    if all(not w or w in STOPWORDS for w in words):
        return Drop("stopwords_only", {"value": len(words)})
    return None
