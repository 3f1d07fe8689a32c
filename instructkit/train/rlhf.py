"""``instructkit rlhf``: align a policy with one of the algorithms of :mod:`instructkit.train.algos`.

The stage knows no algorithm by name: ``--algo NAME`` is looked up in the algorithm registry, whose
entry brings its Params class (a subclass of :class:`RLHFParams`: its fields are the valid YAML /
``--set`` keys), the record kinds it accepts, its reward and reference rules, its trainer and its
summary keys. The CLI flags are the fields of :class:`RLHFParams`, shared by every algorithm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from instructkit.errors import ConfigError
from instructkit.train.params import TrainParams


@dataclass(kw_only=True)
class RLHFParams(TrainParams):
    """The knobs every rlhf algorithm has (the command's flags); each algorithm's Params extends it."""

    LOSSES: ClassVar[tuple[str, ...]] = ()  # the loss_type values of an algorithm that has variants

    algo: str | None = field(
        default=None,
        metadata={"help": "The algorithm (see --list-params --algo NAME for its keys).", "flags": ("-a",)},
    )
    policy: str | None = field(
        default=None,
        metadata={
            "help": "Policy to train (required; usually the sft output): a model directory or a hub id.",
            "flags": ("-m",),
        },
    )
    reward_model: str | None = field(
        default=None, metadata={"help": "Reward model: the output of `instructkit reward` (online algorithms)."}
    )
    reward_fn: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Reward function module:function or file.py:function, signature f(prompts, completions, **kw) "
            "-> a list of floats (TRL's; summed with the reward model; online algorithms)."
        },
    )
    ref_model: str | None = field(
        default=None, metadata={"help": "Frozen reference (ppo, dpo, kto); default: the initial policy."}
    )
    loss_type: str | None = field(
        default=None,
        metadata={
            "help": "Loss variant of algorithms that have several (dpo: comma-separated to combine); "
            "--list-params --algo NAME lists them.",
            "flags": ("--loss",),
        },
    )

    def __post_init__(self) -> None:
        losses = self.loss_type if isinstance(self.loss_type, list) else [self.loss_type]
        if self.loss_type is not None and not self.LOSSES:
            raise ConfigError(f"--loss (loss_type) does not apply to --algo {self.algo}")
        for loss in losses if self.LOSSES else ():
            if loss not in self.LOSSES:
                raise ConfigError(f"loss_type must be one of {', '.join(self.LOSSES)}, got {loss!r}")
        super().__post_init__()


def params_for(values: dict[str, Any]) -> type:
    """The Params class of the algorithm named in ``values`` (RLHFParams when none is named yet)."""
    name = values.get("algo")
    if not name:
        return RLHFParams
    from instructkit.train.algos import lookup

    return lookup(str(name).lower()).params


def params_class(algo: str) -> type:
    """The params dataclass of an algorithm (its fields are the valid YAML / --set keys)."""
    return params_for({"algo": algo})


def run(inputs: list[str], out: Path, params: RLHFParams):
    """The ``rlhf`` stage (registry entry): train with ``params.algo``; summary rows for the table."""
    from instructkit.train.runner import as_result

    algo = _algorithm(params)
    return as_result(algo, run_rlhf(inputs, out=out, params=params))


def run_rlhf(
    inputs: list[str | Path],
    *,
    out: str | Path,
    params: RLHFParams,
    callbacks: list[Any] = (),
    log: Any = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``params.policy`` with ``params.algo`` on the shard sets ``inputs`` (Python API).

    ``overrides`` (``policy=``, ``reward_model=``, ``resume=`` ...) replace fields of ``params``;
    ``log`` receives each step's stats where the algorithm reports them (ours: PPO).

    Returns:
        ``{"path", "metrics", "manifest"}``.
    """
    from instructkit.train.runner import run_training

    if overrides:
        params = dataclasses.replace(params, **overrides)
    algo = _algorithm(params)
    if type(params) is not algo.params:  # a plain RLHFParams (or another algorithm's): build the right one
        params = algo.params(**_shared_values(params, algo.params))
    return run_training(algo, inputs, out, params, callbacks=callbacks, log=log)


def _algorithm(params: RLHFParams):
    from instructkit.train.algos import lookup, names

    if not params.algo:
        raise ConfigError("rlhf needs 'algo'", hint=f"pass --algo NAME, one of {', '.join(names())}")
    return lookup(params.algo.lower())


def _shared_values(params: Any, cls: type) -> dict[str, Any]:
    """The fields of ``params`` that ``cls`` has and that were set (not left at their default)."""
    wanted = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for f in dataclasses.fields(params):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if f.name in wanted and getattr(params, f.name) != default:
            out[f.name] = getattr(params, f.name)
    return out
