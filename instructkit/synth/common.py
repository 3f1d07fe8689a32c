"""What both synth methods share: the parameters, provenance, record builders and the progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from instructkit.params import Requests, SetOutput
from instructkit.records import make_record, message
from instructkit.synth.prompts import EVOL_OPS, TEMPLATE_VERSION
from instructkit.synth.rules import BLOCKLIST


@dataclass(kw_only=True)
class SynthParams(SetOutput, Requests):
    """Every knob of ``instructkit synth``: flags, ``--config`` YAML keys, ``--set`` keys, recipe params.

    Defaults follow Stanford Alpaca's ``generate_instruction.py`` for Self-Instruct and WizardLM for
    Evol-Instruct. API keys are never a knob: ``api_key_env`` names the environment variable that
    holds one, read at request time.
    """

    generator: str | None = field(
        default=None,
        metadata={
            "help": "A local model directory (transformers, batched) or an OpenAI-compatible server URL, "
            "e.g. http://127.0.0.1:8000/v1 (required by the stage; the manifest records its identity).",
            "flags": ("-g",),
            "record": False,
        },
    )
    model: str | None = field(
        default=None,
        metadata={
            "help": "HTTP: the model name the server expects (default: the only one /v1/models lists).",
            "record": False,
        },
    )
    method: Literal["self-instruct", "evol"] = field(
        default="self-instruct",
        metadata={
            "help": "self-instruct (Wang et al. 2022, as Alpaca ran it) or evol (Xu et al. 2023, WizardLM).",
            "flags": ("-m",),
        },
    )
    num_instructions: int = field(
        default=100, metadata={"help": "Stop after this many accepted records.", "flags": ("-n",)}
    )
    rounds: int = field(default=4, metadata={"help": "Evol-Instruct: evolution rounds (WizardLM: 4)."})
    prompt_tasks: int = field(default=3, metadata={"help": "Example tasks per instruction prompt (Alpaca: 3)."})
    prompt_machine_tasks: int = field(
        default=1,
        metadata={
            "help": "How many of the example tasks come from generated ones once there are some (Self-Instruct "
            "mixes 2 of 8; Alpaca used 0)."
        },
    )
    instructions_per_request: int = field(default=20, metadata={"help": "Tasks the list asks for (Alpaca: 20)."})
    batch_size: int = field(default=5, metadata={"help": "Requests sent together (Alpaca: 5)."})
    instances: Literal["inline", "separate"] = field(
        default="inline",
        metadata={
            "help": "inline: take input/output from the instruction list when given (Alpaca); separate: always "
            "classify, then generate the instance input-first or output-first (Self-Instruct)."
        },
    )
    prompt_style: Literal["alpaca", "short"] = field(
        default="alpaca",
        metadata={
            "help": "alpaca: Alpaca's 20-task list prompt (for large generators); short: one new task per chat "
            "request, then the generator's own answer as its output, for small chat models such as "
            "SmolLM2-135M (instruction requests capped at 48 tokens, answers at instance_max_new_tokens)."
        },
    )
    instance_examples: int = field(default=2, metadata={"help": "Seed examples in an instance prompt."})
    max_new_tokens: int = field(
        default=3072, metadata={"help": "Token limit of an instruction-list reply (Alpaca: 3072)."}
    )
    instance_max_new_tokens: int = field(default=512, metadata={"help": "Token limit of an instance reply."})
    evol_max_new_tokens: int = field(default=512, metadata={"help": "Token limit of an evolved instruction."})
    response_max_new_tokens: int = field(default=1024, metadata={"help": "Token limit of an Evol response."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of generation (Alpaca: 1.0)."})
    response_temperature: float = field(default=0.7, metadata={"help": "Temperature of Evol responses."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling top-p."})
    seed: int = field(default=0, metadata={"help": "Seed of task sampling and generation."})
    rouge_threshold: float = field(
        default=0.7, metadata={"help": "Reject when ROUGE-L F with the pool exceeds this (Self-Instruct: 0.7)."}
    )
    min_words: int = field(default=3, metadata={"help": "Reject instructions with this many words or fewer."})
    max_words: int = field(default=150, metadata={"help": "Reject instructions with more words."})
    blocklist: list[str] = field(
        default_factory=lambda: list(BLOCKLIST), metadata={"help": "Whole-word keywords that reject an instruction."}
    )
    evol_ops: list[str] = field(
        default_factory=lambda: list(EVOL_OPS),
        metadata={
            "help": "Evol operations drawn uniformly: constraints, deepen, concretize, reasoning, "
            "complicate_input (in-depth) and breadth (in-breadth)."
        },
    )
    judge: Literal["generator", "similarity"] = field(
        default="generator",
        metadata={
            "help": "No-information-gain check: ask the generator WizardLM's equality question, or compare "
            "ROUGE-L with the parent (no extra request)."
        },
    )
    similarity_threshold: float = field(
        default=0.9, metadata={"help": "judge=similarity: ROUGE-L F with the parent at or above this means no gain."}
    )
    sorry_max_words: int = field(
        default=80, metadata={"help": "A response with 'sorry' under this many words fails (WizardLM: 80)."}
    )
    patience: int = field(default=10, metadata={"help": "Stop after this many batches in a row that add nothing."})
    system: str | None = field(default=None, metadata={"help": "Optional system message for every request."})

    def __post_init__(self) -> None:
        from instructkit.errors import ConfigError
        from instructkit.synth.prompts import EVOL_OPS as ops

        for name in (
            "num_instructions",
            "rounds",
            "prompt_tasks",
            "instructions_per_request",
            "batch_size",
            "max_new_tokens",
            "instance_max_new_tokens",
            "evol_max_new_tokens",
            "response_max_new_tokens",
            "patience",
            "concurrency",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.prompt_machine_tasks <= self.prompt_tasks:
            raise ConfigError(f"prompt_machine_tasks must be between 0 and prompt_tasks ({self.prompt_tasks})")
        bad = [op for op in self.evol_ops if op not in ops]
        if bad or not self.evol_ops:
            raise ConfigError(
                f"unknown evol_ops {bad}" if bad else "evol_ops is empty", hint=f"valid: {', '.join(ops)}"
            )
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError(f"max_requests must be at least 1, got {self.max_requests}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be at least 0, got {self.max_retries}")
        super().__post_init__()


def provenance(method: str, generator: dict, *, parents: list[str], round: int, request: str, **extra: Any) -> dict:
    """``meta.synth``: how a record was made (never an API key: ``generator`` is ``engine.identity``)."""
    return {
        "method": method,
        "generator": generator,
        "template": TEMPLATE_VERSION,
        "parents": parents,
        "round": round,
        "request": request,
        **{k: v for k, v in extra.items() if v is not None},
    }


def user_text(instruction: str, inp: str = "") -> str:
    """The user turn, as ingest writes Alpaca rows: the instruction, a blank line, the input."""
    return f"{instruction}\n\n{inp}" if inp else instruction


def sft_record(instruction: str, inp: str, output: str, synth: dict) -> dict:
    return make_record(
        "sft",
        messages=[message("user", user_text(instruction, inp)), message("assistant", output)],
        source={"synth": synth["method"], "request": synth["request"]},
        meta={"synth": synth},
    )


def candidate_record(instruction: str, inp: str | None, output: str | None, synth: dict) -> dict:
    """A rejected candidate: an ``sft`` record when it has an output, else a ``prompt`` record."""
    if output:
        return sft_record(instruction, inp or "", output, synth)
    return make_record(
        "prompt",
        prompt=[message("user", user_text(instruction, inp or ""))],
        source={"synth": synth["method"], "request": synth["request"]},
        meta={"synth": synth},
    )


class SynthProgress:
    """The synth bar (:class:`instructkit.progress.Progress`): accepted records of the target, with the
    acceptance rate and the requests sent as its note."""

    def __init__(self, method: str, total: int):
        from instructkit.progress import Progress

        self.method, self.total = method, total
        self._bar = Progress(method, total, unit="records")

    def __enter__(self) -> SynthProgress:
        self._bar.__enter__()
        return self

    def update(self, accepted: int, seen: int, requests: int) -> None:
        note = (
            f"accepted {accepted}/{seen} candidates ({accepted / seen:.0%}), {requests} requests"
            if seen
            else f"{requests} requests"
        )
        self._bar.update(completed=accepted, note=note)

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)
