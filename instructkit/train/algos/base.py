"""What every RL algorithm declares: a training :class:`~instructkit.train.runner.Task` plus its rules."""

from __future__ import annotations

from typing import Any, ClassVar

from instructkit.errors import ConfigError
from instructkit.train.runner import Run, Task

REWARD_REQUIRED, REWARD_REFUSED = "required", "refused"


class Algorithm(Task):
    """An ``rlhf --algo NAME`` algorithm. Subclasses set the class attributes and ``train``.

    Attributes:
        name: The ``--algo`` value.
        params: Its Params dataclass (extends RLHFParams; its fields are its YAML / ``--set`` keys).
        kinds: Record kinds it trains on.
        reward: ``"required"`` (online: a reward model and/or reward functions) or ``"refused"``
            (offline: it learns from preferences).
        accepts_ref_model: Whether ``--ref-model`` picks its frozen reference.
        summary_keys: Metrics shown in the end-of-stage table, in order, when present.
    """

    name: ClassVar[str] = ""
    params: ClassVar[type]
    reward: ClassVar[str] = REWARD_REFUSED
    accepts_ref_model: ClassVar[bool] = False
    summary_keys: ClassVar[tuple[str, ...]] = ()
    model_field = "policy"

    @property
    def stage(self) -> str:  # type: ignore[override]
        return f"rlhf-{self.name}"

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"rlhf --algo {self.name}"

    def check(self, p: Any) -> None:
        has_reward = bool(p.reward_model or p.reward_fn)
        if self.reward == REWARD_REQUIRED and not has_reward:
            raise ConfigError(f"{self.name} needs a reward: --reward-model RM and/or --reward-fn module:function")
        if self.reward == REWARD_REFUSED and has_reward:
            raise ConfigError(f"{self.name} learns from preferences, not rewards: drop --reward-model/--reward-fn")
        if p.ref_model and not self.accepts_ref_model:
            from instructkit.train.algos import lookup, names

            takers = [n for n in names() if lookup(n).accepts_ref_model]
            raise ConfigError(
                f"{self.name}: the reference is the initial policy; --ref-model is only for {', '.join(takers)}"
            )

    def check_tokenizer(self, tokenizer: Any, model: str, p: Any) -> None:
        if not tokenizer.chat_template:
            raise ConfigError(f"{model} has no chat template", hint="pass --chat-template chatml")

    def extra(self, run: Run) -> dict[str, Any]:
        p = run.params
        return {
            "algo": self.name,
            "policy": run.model,
            "reward_model": p.reward_model,
            "reward_fns": list(p.reward_fn),
            "ref_model": p.ref_model or "policy (TRL)",
        }

    def summary(self, result: dict[str, Any]) -> dict[str, Any]:
        m = result["metrics"]
        rows = {k: m[k] for k in self.summary_keys if m.get(k) is not None}
        if not m:
            rows["metrics"] = "none recorded"
        return rows
