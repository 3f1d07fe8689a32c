"""Refusals and AI disclaimers in responses: the phrase list of the "unfiltered" datasets.

Reference: the cleaning behind WizardLM_alpaca_evol_instruct_70k_unfiltered and
ShareGPT_Vicuna_unfiltered (Eric Hartford, 2023) dropped every conversation whose answers contain
phrases such as "As an AI language model" or "I'm sorry, but I cannot", so a model tuned on the rest
does not learn to refuse or moralise. Their list also held topic words ("bias", "feminism",
"capitalism", ...) that drop legitimate answers about those topics; the default here keeps only the
refusal, AI-identity and guideline boilerplate. Add words with ``extra`` or replace the list with
``phrases``.

Phrases match case-insensitively as substrings (NFKC, curly quotes read as straight ones) on the
assistant turns of responses meant to be good (sft ``messages``, ``chosen``, a desirable
``completion``); a refusing ``rejected`` answer is what preference data wants. The ``defects`` rule
has a shorter refusal check that spares prompts about AI; this rule is the blunt one, opt-in.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import field

from instructkit.errors import ConfigError
from instructkit.filters._text import detail, fold, good_responses
from instructkit.stage import Drop, Filter, register

PHRASES = [
    "as an ai language model",
    "as a language model",
    "as a large language model",
    "as an ai",
    "an ai language",
    "i'm sorry, but i cannot",
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i'm sorry, i cannot",
    "i apologize, but i cannot",
    "i cannot fulfill your request",
    "i cannot assist with",
    "i can't assist with",
    "i'm not able to provide",
    "cannot provide guidance",
    "cannot provide information",
    "unable to offer assistance",
    "cannot engage in discussions",
    "cannot support or promote",
    "it is not appropriate",
    "it's not appropriate",
    "against my programming",
    "programming prohibits",
    "ethical guidelines",
    "my guidelines",
    "ethical principles",
    "responsible ai",
    "ai principles",
    "prioritize user safety",
    "prioritize human safety",
    "prioritize user well-being",
    "harmful to human beings",
    "involves an illegal subject",
    "illegal actions or intentions",
    "responsible information sharing",
]


@dataclasses.dataclass(kw_only=True)
class RefusalParams:
    phrases: list[str] = field(
        default_factory=lambda: list(PHRASES),
        metadata={"help": "Refusal and disclaimer phrases (case-insensitive substrings); replaces the default list."},
    )
    extra: list[str] = field(
        default_factory=list, metadata={"help": "Phrases added to phrases (keeps the default list)."}
    )


@register("filter", "refusal")
class RefusalFilter(Filter):
    """Drops records whose assistant answer refuses or disclaims ("As an AI language model", "I'm sorry, but I cannot")."""

    Params = RefusalParams

    def __init__(self, params: RefusalParams):
        super().__init__(params)
        self.by_folded = {fold(p): p for p in [*params.phrases, *params.extra] if p.strip()}
        # One alternation, longest first: at a given position the most specific phrase is the one reported.
        alts = sorted(self.by_folded, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, alts))) if alts else None

    @staticmethod
    def validate(params: RefusalParams) -> None:
        bad = [p for p in [*params.phrases, *params.extra] if not isinstance(p, str)]
        if bad:
            raise ConfigError(f"refusal phrases must be strings, got {bad[0]!r}")
        if not any(p.strip() for p in [*params.phrases, *params.extra]):
            raise ConfigError("refusal needs at least one phrase", hint="drop the rule, or give phrases: [...]")

    def check(self, record: dict) -> Drop | None:
        if self.pattern is None:
            return None
        for field_, msgs in good_responses(record):
            for i, m in enumerate(msgs):
                if m.get("role") != "assistant" or not m.get("content"):
                    continue
                hit = self.pattern.search(fold(m["content"]))
                if hit:
                    phrase = self.by_folded[hit.group(0)]
                    return Drop("refusal", detail("refusal", phrase, "no refusal phrase", turn=f"{field_}[{i}]"))
        return None
