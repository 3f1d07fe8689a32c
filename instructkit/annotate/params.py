"""The knobs of ``annotate-export`` and ``annotate-import``, declared once (flags, ``--config`` YAML,
``--set``, recipe params and Python keywords all use these field names).

The Label Studio server (``label_studio_url``, ``project``) steers where tasks and exports travel, not
what is computed: it is left out of every manifest, and the API key is only ever read from the
environment (``LABEL_STUDIO_API_KEY``, see ``live.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from instructkit.errors import ConfigError
from instructkit.params import OnError


@dataclass(kw_only=True)
class LabelStudio:
    """A running Label Studio to push tasks to or pull an export from."""

    label_studio_url: str | None = field(
        default=None,
        metadata={
            "help": "A running Label Studio (e.g. http://localhost:8080); the API key is read from the "
            "environment variable LABEL_STUDIO_API_KEY and never written anywhere.",
            "record": False,
        },
    )


@dataclass(kw_only=True)
class ExportParams(LabelStudio):
    """Every knob of ``instructkit annotate-export``."""

    template: str = field(
        default="pairwise",
        metadata={"help": "rating | pairwise | ranking | edit | demonstration.", "flags": ("-t",)},
    )
    criteria: list[str] = field(
        default_factory=lambda: ["overall"],
        metadata={
            "help": "Rating template: criteria, each rated 1..max_rating, e.g. helpfulness,correctness,harmlessness."
        },
    )
    max_rating: int = field(default=5, metadata={"help": "Top of the rating scale (2 to 10)."})
    batch_size: int | None = field(
        default=None, metadata={"help": "Also split the tasks into batches/tasks-NNNNN.json files of this many tasks."}
    )
    overlap: int = field(
        default=1,
        metadata={
            "help": "Annotators per task (written to project.json as maximum_annotations; import reports tasks "
            "with fewer)."
        },
    )
    gold: str | None = field(
        default=None,
        metadata={
            "help": 'JSONL of gold items with known answers: {"prompt", "responses", "answer"} (see docs/annotate.md).'
        },
    )
    gold_rate: float = field(default=0.1, metadata={"help": "Gold tasks to mix in, as a share of the real tasks."})
    seed: int = field(default=0, metadata={"help": "Seed for left/right order, ranking order and gold placement."})
    predictions: str | None = field(
        default=None,
        metadata={
            "help": "Pre-annotations from per-response scores: 'judgments' (the records' rating judgments) or "
            "'meta.KEY' (a list of numbers, one per response)."
        },
    )
    title: str | None = field(
        default=None,
        metadata={"help": "Project title in project.json (default: instructkit TEMPLATE FINGERPRINT; 50 characters)."},
    )
    select: int | None = field(
        default=None,
        metadata={
            "help": "Export only this many tasks, spent on the items chosen --by (see docs/annotate.md, "
            "'Choosing what to annotate')."
        },
    )
    by: Literal["disagreement", "uncertainty", "random"] = field(
        default="uncertainty",
        metadata={
            "help": "With --select: uncertainty (closest reward pair), disagreement (reward models split; needs "
            "two or more) or random (the control)."
        },
    )
    reward_model: list[str] | None = field(
        default=None, metadata={"help": "With --select: reward model directories that score the candidates."}
    )

    def __post_init__(self) -> None:
        self.template_spec()  # an unknown template or a bad criterion name fails before any work
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.overlap < 1:
            raise ConfigError(f"overlap must be at least 1, got {self.overlap}")
        if not 0.0 <= self.gold_rate <= 1.0:
            raise ConfigError(f"gold_rate must be between 0 and 1, got {self.gold_rate}")
        if self.predictions and self.predictions != "judgments" and not self.predictions.startswith("meta."):
            raise ConfigError(f"predictions must be 'judgments' or 'meta.KEY', got {self.predictions!r}")
        if self.select is not None and self.select < 1:
            raise ConfigError(f"select must be at least 1 task, got {self.select}")

    def template_spec(self):
        """The labeling ``Template`` these params describe."""
        from instructkit.annotate.templates import build

        if not 2 <= self.max_rating <= 10:
            raise ConfigError(f"max_rating must be between 2 and 10, got {self.max_rating}")
        return build(self.template, [c.strip() for c in self.criteria if c.strip()], self.max_rating)


@dataclass(kw_only=True)
class ImportParams(LabelStudio, OnError):
    """Every knob of ``instructkit annotate-import``."""

    tasks: str | None = field(
        default=None,
        metadata={
            "help": "The tasks directory annotate-export wrote: enables full validation, gold accuracy and exact "
            "prompts."
        },
    )
    binarize: Literal["best-worst", "all-pairs"] = field(
        default="best-worst", metadata={"help": "best-worst (one pair per item) or all-pairs."}
    )
    min_margin: float = field(
        default=0.0,
        metadata={
            "help": "Smallest score difference that makes a pair (rating points, Borda share, vote share; z units "
            "with --calibrate). Ties never make pairs."
        },
    )
    min_gold_accuracy: float | None = field(
        default=None, metadata={"help": "Exclude annotators whose accuracy on gold tasks is below this."}
    )
    calibrate: bool = field(
        default=False,
        metadata={"help": "Z-score each annotator's ratings before aggregating (corrects lenient and harsh raters)."},
    )
    disputed: str | None = field(
        default=None,
        metadata={
            "help": "Write the low-agreement tasks to this tasks directory for another round.",
            "record": False,
        },
    )
    dispute_below: float = field(
        default=0.5,
        metadata={
            "help": "A task is disputed when its agreement is below this (share of agreeing annotator pairs; "
            "ratings: 1 - spread/(max-1))."
        },
    )
    report: str | None = field(default=None, metadata={"help": "Also copy the Markdown report here.", "record": False})
    project: int | None = field(
        default=None,
        metadata={"help": "With --label-studio-url: the project id to pull the JSON export from.", "record": False},
    )

    def __post_init__(self) -> None:
        if self.min_margin < 0:
            raise ConfigError(f"min_margin must be >= 0, got {self.min_margin}")
        for name in ("min_gold_accuracy", "dispute_below"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {value}")
        if self.project is not None and not self.label_studio_url:
            raise ConfigError("--project needs --label-studio-url", hint="pass the server to pull the export from")
        super().__post_init__()
