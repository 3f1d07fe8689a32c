"""Instruction-data defects: the checklist that cleaned Alpaca, ShareGPT and Dolly.

Sources of the checks: Alpaca-cleaned (gururise/AlpacaDataCleaned: empty and ``<nooutput>`` outputs,
merged ``2. Instruction:`` outputs, URL and image inputs the model cannot see, outputs that echo the
input, Wikipedia-style citation brackets); FastChat's ShareGPT cleaning (HTML remnants and "Copy code"
artefacts from the ChatGPT web page, rate-limit and network-error replies); the "unfiltered" ShareGPT
and WizardLM sets (AI-identity and refusal boilerplate such as "As an AI language model", not counted
when the prompt itself is about AI); Self-Instruct
(Wang et al. 2023, instructions shorter than 3 words are dropped). Each check is a sub-reason,
``defects.<check>``; ``skip`` turns checks off by name.

Response checks look at the assistant turns of sft and the ``chosen`` side of preference records. The
``rejected`` side and the candidate responses of feedback records are only checked for emptiness (an
empty rejected answer, or feedback whose every response is empty): a rejected answer or a low-rated
candidate that refuses is exactly what preference data needs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import field

from instructkit.errors import ConfigError
from instructkit.filters._defects_phrases import ERRORS, PLACEHOLDERS, REFUSALS
from instructkit.filters._text import detail, good_responses
from instructkit.filters.analysis import Phrases, count_words, fold, icase_guard, norm, strip_code  # memoised
from instructkit.stage import Drop, Filter, register

CHECKS = (
    "empty_output",
    "placeholder_output",
    "merged_instructions",
    "url_only_input",
    "media_input",
    "echo",
    "refusal",
    "error_string",
    "html",
    "copy_code",
    "citation",
    "template_placeholder",
    "role_order",
    "ends_on_user",
    "instruction_words",
)

_MERGED = re.compile(r"\b\d{1,2}\.\s?Instruction:|^\s*#{2,}\s*(?:Instruction|Input|Response)\s*:?\s*$", re.M)
_URL = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.I)
_MENTIONS_URL = re.compile(r"\b(?:url|link|domain|website address|hyperlink)s?\b|网址|链接|域名", re.I)
_MEDIA = re.compile(
    r"<image>|<img\b|!\[[^\]]*\]\([^)]+\)|\[(?:image|photo|picture|attachment|video|audio)\]"
    r"|\battached (?:image|photo|picture|file|document|screenshot|pdf|video|audio)s?\b"
    r"|\b(?:image|photo|picture|screenshot|diagram|figure)s? (?:below|above|attached|provided)\b"
    r"|\b(?:see|refer to|look at|open) the (?:attached|attachment|enclosed)\b"
    r"|\bthis (?:image|photo|picture|screenshot|video|audio clip)\b"
    r"|如图所示|如下图|见附件|附图|这张图片|这张照片|截图中",
    re.I,
)
_HTML = re.compile(
    r"</?(?:div|span|p|br|li|ul|ol|table|tr|td|th|a|img|strong|em|b|i|pre|code|h[1-6]|svg|path)"
    r"\b[^>]{0,200}>|&(?:nbsp|amp|lt|gt|quot|#\d{1,5});",
    re.I,
)
_COPY_CODE = re.compile(r"^[ \t]*(?:```)?[A-Za-z0-9+#._-]{0,20}(?:Copy code|Copy to clipboard)\b", re.M)
_CITATION = re.compile(
    r"(?<=[.,;:)\"\u201d])\[\d{1,3}\]|\[\d{1,3}\]\[\d{1,3}\]"
    r"|\[(?:citation needed|clarification needed|edit|note \d+)\]",
    re.I,
)
# An AI-identity phrase is not boilerplate when the prompt asked about AI ("Pretend to be an AI language
# model in 2100"): on GPTeacher role-play both hits of the refusal list were such requests.
_AI_TOPIC = re.compile(r"\b(?:ai|a\.i\.|artificial intelligence|language model|llm|chatbot)\b|人工智能|语言模型", re.I)
_TEMPLATE = re.compile(r"\{\{\s*[^{}\s][^{}]{0,40}?\}\}")
# False only where _MEDIA cannot match (ASCII text, in C). Each of its ASCII alternatives holds one of
# these: <image> <img: "<im"; ![..](..) and [image]: "["; attached, attachment: "attach"; "... below/above/
# provided"; "the enclosed"; and "this image" ... "this audio clip".
_MEDIA_NEEDS = ("<im", "[", "attach", "below", "above", "provided", "enclosed", "this image", "this photo",
                "this picture", "this screenshot", "this video", "this audio clip")  # fmt: skip
_MEDIA_GUARD = icase_guard(_MEDIA, needs=_MEDIA_NEEDS)


@dataclasses.dataclass(kw_only=True)
class DefectsParams:
    skip: list[str] = field(default_factory=list, metadata={"help": "Checks to turn off: " + ", ".join(CHECKS)})
    placeholders: list[str] = field(
        default_factory=lambda: list(PLACEHOLDERS),
        metadata={"help": "Whole outputs that are placeholders, compared case-folded without surrounding punctuation."},
    )
    refusals: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in REFUSALS.items()},
        metadata={
            "help": "AI-identity and refusal phrases per language (substring, case-folded); add or remove languages."
        },
    )
    errors: list[str] = field(
        default_factory=lambda: list(ERRORS),
        metadata={"help": "Rate-limit and error strings (substring, case-folded) in short responses."},
    )
    error_max_words: int = field(
        default=50,
        metadata={
            "help": "An error string drops a response this short or one that starts with it (longer answers "
            "may discuss errors)."
        },
    )
    max_html_tags: int = field(
        default=2,
        metadata={
            "help": "HTML tags or entities allowed in a response outside code (ShareGPT page remnants have dozens)."
        },
    )
    max_citations: int = field(
        default=0,
        metadata={
            "help": "Wikipedia citation brackets ([1] after punctuation, [citation needed]) allowed in a response."
        },
    )
    min_instruction_words: int = field(
        default=3,
        metadata={"help": "Minimum words of the first user turn (Self-Instruct drops instructions under 3 words)."},
    )
    max_instruction_words: int | None = field(
        default=None, metadata={"help": "Maximum words of the first user turn; null: no bound."}
    )
    echo_min_words: int = field(
        default=4,
        metadata={
            "help": "An output equal to a paragraph of its prompt drops only if it has this many words "
            "(an output equal to the whole prompt always drops)."
        },
    )


def _responses(record: dict):
    """``(where, prompt_text, response_text)`` for each response, with the user turn it answers.

    Assistant turns of sft and ``chosen``; tool-call turns without text are skipped.
    """
    last_user = ""
    for i, m in enumerate(record.get("messages") or []):
        if m["role"] == "user":
            last_user = m["content"] or ""
        elif m["role"] == "assistant" and not (m.get("tool_calls") and not m.get("content")):
            yield f"messages[{i}]", last_user, m["content"] or ""
    users = [m.get("content") or "" for m in record.get("prompt") or [] if m.get("role") == "user"]
    prompt_user = users[-1] if users else ""
    for field_, msgs in good_responses(record):
        if field_ != "messages":
            for i, m in enumerate(msgs):
                if m.get("role") == "assistant" and not (m.get("tool_calls") and not m.get("content")):
                    yield f"{field_}[{i}]", prompt_user, m.get("content") or ""


def _empty_sides(record: dict) -> str | None:
    """``rejected`` with an empty answer (a pair that teaches nothing), or feedback whose responses are
    all empty. Other checks skip these: a bad rejected answer or a bad candidate is the point of them."""
    for field_ in ("rejected", "completion"):
        for i, m in enumerate(record.get(field_) or []):
            if m.get("role") == "assistant" and not (m.get("content") or "").strip() and not m.get("tool_calls"):
                return f"{field_}[{i}]"
    responses = record.get("responses")
    if responses and not any((r.get("content") or "").strip() for r in responses):
        return "responses"
    return None


def _user_turns(record: dict) -> list[tuple[str, str]]:
    field_ = "messages" if "messages" in record else "prompt"
    return [
        (f"{field_}[{i}]", m.get("content") or "")
        for i, m in enumerate(record.get(field_) or [])
        if m.get("role") == "user"
    ]


@register("filter", "defects")
class DefectsFilter(Filter):
    """Drops records with instruction-data defects (empty, placeholder, refusal, artefacts, role order...)."""

    Params = DefectsParams

    def __init__(self, params: DefectsParams):
        super().__init__(params)
        self.on = set(CHECKS) - set(params.skip)
        self.placeholders = {self._bare(p) for p in params.placeholders}
        self.refusals = [(lang, fold(p)) for lang, phrases in params.refusals.items() for p in phrases]
        self.errors = [fold(e) for e in params.errors]
        # An ASCII response holds no non-ASCII phrase: its loops skip them (same first match, in list order).
        self.ascii_refusals = [(lang, p) for lang, p in self.refusals if p.isascii()]
        self.ascii_errors = [e for e in self.errors if e.isascii()]
        # Each list looked up in one pass over the text (analysis.Phrases: C when built)
        self.refusal_phrases = Phrases([p for _, p in self.refusals])
        self.ascii_refusal_phrases = Phrases([p for _, p in self.ascii_refusals])
        self.error_phrases, self.ascii_error_phrases = Phrases(self.errors), Phrases(self.ascii_errors)

    @staticmethod
    def validate(params: DefectsParams) -> None:
        bad = sorted(set(params.skip) - set(CHECKS))
        if bad:
            raise ConfigError(f"defects.skip has unknown checks {bad}", hint=f"checks: {', '.join(CHECKS)}")
        for lang, phrases in params.refusals.items():
            if not isinstance(phrases, list):
                raise ConfigError(f"defects.refusals.{lang} must be a list of phrases, got {phrases!r}")

    @staticmethod
    def _bare(text: str) -> str:
        return fold(text).strip(" \t\r\n.。!！?？:：;；,，<>[](){}\"'`*_-")

    def check(self, record: dict) -> Drop | None:
        for check in (self._roles, self._inputs, self._outputs):
            verdict = check(record)
            if verdict is not None:
                return verdict
        return None

    def _drop(self, name: str, value, threshold, **extra) -> Drop | None:
        return Drop(f"defects.{name}", detail(f"defects.{name}", value, threshold, **extra))

    def _roles(self, record: dict) -> Drop | None:
        on = self.on
        field_ = "messages" if "messages" in record else "prompt"
        seq = [m.get("role") for m in record.get(field_) or [] if m.get("role") != "system"]
        if "role_order" in on and seq and seq[0] != "user":
            return self._drop("role_order", seq[0], "first non-system turn is user", field=field_)
        if field_ == "messages" and "ends_on_user" in on and seq and seq[-1] == "user":
            return self._drop("ends_on_user", "user", "last turn is assistant")
        if field_ == "prompt" and "role_order" in on and seq and seq[-1] == "assistant":
            return self._drop("role_order", "assistant", "prompt ends with a user (or tool) turn", field=field_)
        return None

    def _inputs(self, record: dict) -> Drop | None:
        on, p = self.on, self.params
        users = _user_turns(record)
        if users and "instruction_words" in on:
            n = count_words(users[0][1])
            if n < p.min_instruction_words:
                return self._drop("instruction_words", n, p.min_instruction_words, turn=users[0][0])
            if p.max_instruction_words is not None and n > p.max_instruction_words:
                return self._drop("instruction_words", n, p.max_instruction_words, turn=users[0][0])
        for where, text in users:
            # Guards in front of regexes (a literal each match needs) skip most scans: same verdicts.
            if "url_only_input" in on and ("://" in text or "www." in text.lower()):
                paragraphs = [x for x in re.split(r"\n\s*\n", text) if x.strip()]
                url_paras = [x for x in paragraphs if _URL.match(x)]
                rest = " ".join(x for x in paragraphs if not _URL.match(x))
                if url_paras and not _MENTIONS_URL.search(rest):
                    return self._drop(
                        "url_only_input", url_paras[0].strip()[:200], "input is more than a URL", turn=where
                    )
            if "media_input" in on and _MEDIA_GUARD(text) and (m := _MEDIA.search(text)):
                return self._drop("media_input", m.group(0), "no reference to an image or attachment", turn=where)
            if "template_placeholder" in on and "{{" in text and (m := _TEMPLATE.search(strip_code(text))):
                return self._drop("template_placeholder", m.group(0), "no {{...}} outside code", turn=where)
        return None

    def _outputs(self, record: dict) -> Drop | None:
        on, p = self.on, self.params
        if "empty_output" in on and (where := _empty_sides(record)):
            return self._drop("empty_output", 0, "non-whitespace output", turn=where)
        for where, prompt, text in _responses(record):
            if not text.strip():
                if "empty_output" in on:
                    return self._drop("empty_output", len(text), "non-whitespace output", turn=where)
                continue
            folded = fold(text)
            bare = self._bare(text)
            if "placeholder_output" in on and (bare in self.placeholders or not count_words(text)):
                return self._drop("placeholder_output", text.strip()[:100], "not a placeholder", turn=where)
            if "merged_instructions" in on and ("Instruction:" in text or "##" in text) and (m := _MERGED.search(text)):
                return self._drop("merged_instructions", m.group(0).strip(), "one instruction per output", turn=where)
            if "echo" in on and (verdict := self._echo(where, prompt, text)):
                return verdict
            ascii_ = folded.isascii()
            if "refusal" in on:
                ai_prompt = None  # searched only when a phrase is found (rare)
                pairs = self.ascii_refusals if ascii_ else self.refusals
                phrases = self.ascii_refusal_phrases if ascii_ else self.refusal_phrases
                i = phrases.first_in(folded)  # the phrases in list order, as a loop of `in` would find them
                while i >= 0:
                    lang, phrase = pairs[i]
                    if ai_prompt is None:
                        ai_prompt = bool(_AI_TOPIC.search(prompt))
                    if not (ai_prompt and _AI_TOPIC.search(phrase)):
                        return self._drop(
                            "refusal", phrase, "no refusal or AI-identity boilerplate", turn=where, lang=lang
                        )
                    i = phrases.first_in(folded, i + 1)
            if "error_string" in on:
                n_words = count_words(text)
                errors = self.ascii_errors if ascii_ else self.errors
                matcher = self.ascii_error_phrases if ascii_ else self.error_phrases
                i = matcher.first_in(folded)
                while i >= 0:
                    phrase = errors[i]
                    if n_words <= p.error_max_words or folded.lstrip().startswith(phrase):
                        return self._drop(
                            "error_string",
                            phrase,
                            f"no error string in a response of <= {p.error_max_words} words",
                            turn=where,
                        )
                    i = matcher.first_in(folded, i + 1)
            if "copy_code" in on and "Copy " in text and (m := _COPY_CODE.search(text)):
                return self._drop("copy_code", m.group(0).strip(), "no 'Copy code' artefacts", turn=where)
            prose = strip_code(text)
            if "html" in on:
                n = len(_HTML.findall(prose)) if ("<" in prose or "&" in prose) else 0
                if n > p.max_html_tags:
                    return self._drop("html", n, p.max_html_tags, turn=where)
            if "citation" in on:
                n = len(_CITATION.findall(prose)) if "[" in prose else 0
                if n > p.max_citations:
                    return self._drop("citation", n, p.max_citations, turn=where)
            if "template_placeholder" in on and "{{" in prose and (m := _TEMPLATE.search(prose)):
                return self._drop("template_placeholder", m.group(0), "no {{...}} outside code", turn=where)
        return None

    def _echo(self, where: str, prompt: str, text: str) -> Drop | None:
        out = norm(text)
        if not out or not prompt.strip():
            return None
        if len(prompt) < len(out) and prompt.isascii():
            return None  # norm() never lengthens ASCII text: neither the prompt nor a paragraph of it can equal out
        if out == norm(prompt):
            return self._drop("echo", text.strip()[:100], "output differs from its prompt", turn=where)
        if count_words(text) >= self.params.echo_min_words:
            for para in re.split(r"\n\s*\n", prompt):
                if norm(para) == out:
                    return self._drop(
                        "echo", text.strip()[:100], "output differs from each prompt paragraph", turn=where
                    )
        return None
