"""Length bounds per role, in characters, words or tokens, and bounds on the number of turns.

Each turn of a role is measured on its own (``min: {assistant: 1}`` means every assistant turn has at
least one word); ``max_total`` bounds the whole conversation, which is what a context window limits.
Words are CJK-aware (one CJK character is one word, see ``filters/_text.py``); tokens need a tokenizer
directory (``tokenizer``), e.g. the model you will train, so the bound matches its context length.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Literal

from instructkit.errors import ConfigError
from instructkit.filters._text import detail, turns
from instructkit.filters.analysis import count_words  # memoised: shared with other rules
from instructkit.records import ROLES
from instructkit.stage import Drop, Filter, register


@dataclasses.dataclass(kw_only=True)
class LengthParams:
    unit: Literal["chars", "words", "tokens"] = field(
        default="words",
        metadata={"help": "What is counted: chars, words (a CJK character is one word) or tokens (needs tokenizer)."},
    )
    min: dict[str, int] = field(
        default_factory=dict, metadata={"help": "Minimum length of each turn, per role, e.g. {assistant: 1, user: 2}."}
    )
    max: dict[str, int] = field(
        default_factory=dict, metadata={"help": "Maximum length of each turn, per role, e.g. {assistant: 2000}."}
    )
    max_total: int | None = field(
        default=None,
        metadata={"help": "Maximum length of all turns together (e.g. the context length in tokens); null: no bound."},
    )
    min_turns: int | None = field(
        default=None,
        metadata={"help": "Minimum number of user+assistant messages (one exchange is 2); null: no bound."},
    )
    max_turns: int | None = field(
        default=None, metadata={"help": "Maximum number of user+assistant messages; null: no bound."}
    )
    tokenizer: str | None = field(
        default=None, metadata={"help": "Tokenizer directory (or hub id where a hub is reachable) for unit: tokens."}
    )


@register("filter", "length")
class LengthFilter(Filter):
    """Drops records whose turns are too short or too long, or that have too few or too many turns."""

    Params = LengthParams

    def __init__(self, params: LengthParams):
        super().__init__(params)
        self._tok = None
        if params.unit == "tokens":
            from instructkit.errors import InputError
            from instructkit.models import load_tokenizer

            try:
                self._tok = load_tokenizer(params.tokenizer)
            except InputError as exc:  # the tokenizer is named in the filter config: a config problem here
                raise ConfigError(
                    f"length.tokenizer: cannot load {params.tokenizer!r}: {exc.message}",
                    file=exc.file,
                    hint="give a directory with tokenizer files, e.g. one written by instructkit model tiny",
                ) from None

    @staticmethod
    def validate(params: LengthParams) -> None:
        for bound in ("min", "max"):
            for role, n in getattr(params, bound).items():
                if role not in ROLES:
                    raise ConfigError(f"length.{bound} has unknown role {role!r}", hint=f"roles: {', '.join(ROLES)}")
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise ConfigError(f"length.{bound}.{role} must be a non-negative integer, got {n!r}")
        if params.unit == "tokens" and not params.tokenizer:
            raise ConfigError(
                "length.unit is tokens but no tokenizer is set",
                hint="set length.tokenizer to a tokenizer directory, or use unit: words",
            )

    def measure(self, text: str) -> int:
        if self.params.unit == "chars":
            return len(text)
        if self.params.unit == "words":
            return count_words(text)
        return len(self._tok(text, add_special_tokens=False)["input_ids"])

    def check(self, record: dict) -> Drop | None:
        p = self.params
        all_turns = list(turns(record))
        n_turns = sum(1 for _, role, _ in all_turns if role in ("user", "assistant"))
        if p.min_turns is not None and n_turns < p.min_turns:
            return Drop("length.min_turns", detail("length", n_turns, p.min_turns))
        if p.max_turns is not None and n_turns > p.max_turns:
            return Drop("length.max_turns", detail("length", n_turns, p.max_turns))
        total = 0
        for where, role, text in all_turns:
            n = self.measure(text)
            total += n
            if role in p.min and n < p.min[role]:
                return Drop(f"length.min_{role}", detail("length", n, p.min[role], unit=p.unit, turn=where))
            if role in p.max and n > p.max[role]:
                return Drop(f"length.max_{role}", detail("length", n, p.max[role], unit=p.unit, turn=where))
        if p.max_total is not None and total > p.max_total:
            return Drop("length.max_total", detail("length", total, p.max_total, unit=p.unit))
        return None
