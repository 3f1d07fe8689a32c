"""LLM-as-a-judge: MT-Bench single-answer grading and pairwise comparison with position swapping.

Prompts and parsing follow MT-Bench (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
Chatbot Arena", FastChat's ``single-v1`` and ``pair-v2`` judge prompts):

- Single-answer grading: the judge explains, then rates 1-10 as ``[[rating]]``; ``[rating]`` is
  accepted as a fallback, as FastChat does. A reply with no rating in 1-10 is counted as
  unparseable (``None``), never guessed.
- Pairwise: the judge sees answers A and B and ends with ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie).
  LLM judges favour a position (the paper measured up to 30-65% inconsistent verdicts for some
  judges), so each pair is judged in both orders: a side wins only if it wins in both; a split
  (or a tie in either order) is a tie; an unparseable verdict in either order makes the pair an
  ``error``, counted apart and left out of the win rate.

The judge is any ``Generator`` (``instructkit.generation``): usually an ``HttpGenerator`` on an
OpenAI-compatible endpoint, greedy (temperature 0) as in MT-Bench.

``mode="logprobs"`` (local judges): no explanation is generated. The judge's reply is started for it
(``Rating: [[`` or ``Verdict: [[``) and the rating is the expectation of the next token's probabilities
over the digits (G-Eval, Liu et al. 2023, weights scores by token probabilities the same way; ``1``
is split between 1 and 10 by a second pass on ``Rating: [[1``), the verdict its most probable of
``A``/``B``/``C``. A small model that cannot follow the MT-Bench format (SmolLM2-135M writes prose
and no ``[[x]]``) still gives a reading, never an unparseable one; ``format_mass``, the probability it
put on the allowed tokens, says how much that reading is worth (near 1: it understood the format).
"""

from __future__ import annotations

import re
import statistics

from instructkit.errors import ConfigError

SINGLE_SYSTEM = "You are a helpful assistant."
SINGLE_TEMPLATE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI "
    "assistant to the user question displayed below. Your evaluation should consider factors such as the "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your "
    "evaluation by providing a short explanation. Be as objective as possible. After providing your explanation, "
    'you must rate the response on a scale of 1 to 10 by strictly following this format: "[[rating]]", for '
    'example: "Rating: [[5]]".\n\n[Question]\n{question}\n\n[The Start of Assistant\'s Answer]\n{answer}\n'
    "[The End of Assistant's Answer]"
)
PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. You should choose the assistant that follows the user's instructions and "
    "answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of the "
    "responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly following this format: "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
PAIR_TEMPLATE = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's "
    "Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)

_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
_VERDICT = re.compile(r"\[\[([ABC])\]\]")


def parse_rating(text: str) -> float | None:
    """The last ``[[x]]`` (else ``[x]``) rating in 1-10 in a judgment, or None."""
    for pattern in (_RATING, _RATING_BACKUP):
        found = pattern.findall(text or "")
        if found:
            value = float(found[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


def parse_verdict(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"C"`` (tie) from the last ``[[A]]``/``[[B]]``/``[[C]]`` in a judgment, or None.

    The last marker counts: the prompt asks for the final verdict after the explanation, which may
    quote the format.
    """
    found = _VERDICT.findall(text or "")
    return found[-1] if found else None


def question_text(prompt: list[dict]) -> str:
    """The question shown to the judge: the user turn, or a transcript for multi-turn prompts."""
    turns = [m for m in prompt if m["role"] != "system"]
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in turns)


def combine(first: str | None, second_swapped: str | None) -> str:
    """Combine the verdicts of both orders into ``A``, ``B``, ``tie`` or ``error``.

    ``first`` judged (A, B); ``second_swapped`` judged (B, A), so its ``A`` means our B.
    """
    if first is None or second_swapped is None:
        return "error"
    second = {"A": "B", "B": "A", "C": "C"}[second_swapped]
    if first == second and first in ("A", "B"):
        return first
    return "tie"


class Judge:
    """MT-Bench-style judge over any generator.

    Args:
        generator: The judge model (``generate(conversations, ...) -> list[str]``).
        max_new_tokens: Judgment length (an explanation then the verdict; MT-Bench allows 2048).
        temperature: 0 (greedy) as in MT-Bench.
        seed: Passed to the generator.
    """

    def __init__(
        self, generator, *, max_new_tokens: int = 512, temperature: float = 0.0, seed: int = 0, mode: str = "generate"
    ):
        if mode not in ("generate", "logprobs"):
            raise ConfigError(f"judge mode must be generate or logprobs, got {mode!r}")
        if mode == "logprobs" and not hasattr(generator, "next_token_probs"):
            raise ConfigError("judge mode logprobs needs a local judge model", hint="use --judge-mode generate")
        self.generator, self.max_new_tokens = generator, max_new_tokens
        self.temperature, self.seed, self.mode = temperature, seed, mode

    def _probs(self, system: str, users: list[str], prefix: str, tokens: list[str]) -> list[list[float]]:
        convs = [[{"role": "system", "content": system}, {"role": "user", "content": u}] for u in users]
        return self.generator.next_token_probs(convs, [prefix] * len(convs), tokens)

    def _ratings_by_probs(self, users: list[str]) -> tuple[list[float | None], list[float]]:
        digits = [str(d) for d in range(1, 10)]
        first = self._probs(SINGLE_SYSTEM, users, "Rating: [[", digits)
        ten = [p[0] for p in self._probs(SINGLE_SYSTEM, users, "Rating: [[1", ["0"])]  # "1" then "0": 10
        ratings, mass = [], []
        for probs, p10 in zip(first, ten, strict=True):
            weights = {1: probs[0] * (1 - p10), 10: probs[0] * p10} | {d: probs[d - 1] for d in range(2, 10)}
            total = sum(weights.values())
            ratings.append(sum(r * w for r, w in weights.items()) / total if total > 0 else None)
            mass.append(total)
        return ratings, mass

    def _ask(self, system: str, users: list[str]) -> list[str]:
        convs = [[{"role": "system", "content": system}, {"role": "user", "content": u}] for u in users]
        return self.generator.generate(
            convs, max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=self.seed
        )

    def grade(self, questions: list[str], answers: list[str]) -> dict:
        """Single-answer 1-10 ratings: per item (None when unparseable) and their mean."""
        if len(questions) != len(answers):
            raise ConfigError(f"{len(questions)} questions but {len(answers)} answers")
        users = [SINGLE_TEMPLATE.format(question=q, answer=a) for q, a in zip(questions, answers, strict=True)]
        extra: dict = {}
        if self.mode == "logprobs":
            ratings, mass = self._ratings_by_probs(users)
            raw: list = [None] * len(users)
            extra["format_mass"] = statistics.fmean(mass) if mass else None
        else:
            raw = self._ask(SINGLE_SYSTEM, users)
            ratings = [parse_rating(t) for t in raw]
        parsed = [r for r in ratings if r is not None]
        return {
            "n": len(ratings),
            "parsed": len(parsed),
            "unparseable": len(ratings) - len(parsed),
            "mean": statistics.fmean(parsed) if parsed else None,
            "mode": self.mode,
            **extra,
            "ratings": ratings,
            "judgments": raw,
        }

    def _verdicts(self, users: list[str]) -> tuple[list[str | None], list, float | None]:
        """Verdicts (A, B, C or None) for pairwise prompts, the raw judgments, and the format mass."""
        if self.mode == "generate":
            raw = self._ask(PAIR_SYSTEM, users)
            return [parse_verdict(t) for t in raw], raw, None
        probs = self._probs(PAIR_SYSTEM, users, "Verdict: [[", ["A", "B", "C"])
        verdicts = ["ABC"[max(range(3), key=p.__getitem__)] if sum(p) > 0 else None for p in probs]
        return verdicts, [dict(zip("ABC", p, strict=True)) for p in probs], statistics.fmean(map(sum, probs))

    def pairwise(
        self, questions: list[str], answers_a: list[str], answers_b: list[str], *, n_boot: int = 1000, seed: int = 0
    ) -> dict:
        """Both-order pairwise verdicts and A's win rate over B (ties half, errors left out)."""
        from instructkit.eval.winrate import win_rate

        if not (len(questions) == len(answers_a) == len(answers_b)):
            raise ConfigError("questions and answers differ in number")
        ab = [
            PAIR_TEMPLATE.format(question=q, answer_a=a, answer_b=b)
            for q, a, b in zip(questions, answers_a, answers_b, strict=True)
        ]
        ba = [
            PAIR_TEMPLATE.format(question=q, answer_a=b, answer_b=a)
            for q, a, b in zip(questions, answers_a, answers_b, strict=True)
        ]
        parsed, raw, mass = self._verdicts(ab + ba)
        first, second = parsed[: len(ab)], parsed[len(ab) :]
        verdicts = [combine(f, s) for f, s in zip(first, second, strict=True)]
        both_parsed = [(f, s) for f, s in zip(first, second, strict=True) if f is not None and s is not None]
        consistent = sum(f == {"A": "B", "B": "A", "C": "C"}[s] for f, s in both_parsed)
        outcome = [{"A": 1.0, "tie": 0.5, "B": 0.0}[v] for v in verdicts if v != "error"]
        summary = win_rate(outcome, n_boot=n_boot, seed=seed)
        return {
            "n": len(verdicts),
            "wins_a": verdicts.count("A"),
            "wins_b": verdicts.count("B"),
            "ties": verdicts.count("tie"),
            "errors": verdicts.count("error"),
            "win_rate_a": summary["win_rate"],
            "ci": summary["ci"],
            "position_consistency": consistent / len(both_parsed) if both_parsed else None,
            "mode": self.mode,
            **({"format_mass": mass} if mass is not None else {}),
            "verdicts": verdicts,
            "first_order": first,
            "second_order": second,
            "judgments": raw,
        }
