"""`instructkit rlhf`: PPO (ours), GRPO / RLOO / DPO / KTO (TRL) on shard sets.

Only typer/rich/stdlib at module top: torch, transformers and trl are imported inside the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import ConfigOpt, SetOpt, console, print_table

_LOG_KEYS = (
    ("reward/mean", "reward"),
    ("objective/kl", "kl"),
    ("objective/kl_coef", "beta"),
    ("policy/entropy", "entropy"),
    ("policy/clipfrac", "clipfrac"),
    ("loss/value", "vf_loss"),
    ("response/length", "len"),
)


def _ppo_logger(total: int):
    """One line per PPO step on stderr (a log file stays readable; a terminal sees the same)."""

    def log(stats: dict) -> None:
        parts = [f"{short}={stats[k]:.4g}" for k, short in _LOG_KEYS if k in stats]
        print(f"ppo step {stats['step']}/{total} " + " ".join(parts), file=sys.stderr, flush=True)

    return log


def rlhf(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Input shard sets: prompt/sft/preference for ppo, grpo, "
            "rloo (their prompts are used); preference for dpo; preference "
            "or unpaired (prompt+completion+label) for kto."
        ),
    ],
    algo: Annotated[
        str, typer.Option("--algo", "-a", help="ppo (ours), grpo, rloo (TRL, online), dpo, kto (TRL, offline).")
    ],
    policy: Annotated[
        str,
        typer.Option("--policy", "-m", help="Policy to train (usually the sft output): a model directory or a hub id."),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Model directory to write (trained in OUT.partial/, renamed at the end)."),
    ],
    reward_model: Annotated[
        Optional[str],
        typer.Option("--reward-model", help="Reward model: the output of `instructkit reward` (ppo, grpo, rloo)."),
    ] = None,
    reward_fn: Annotated[
        Optional[list[str]],
        typer.Option(
            "--reward-fn",
            help="Reward function module:function or file.py:function, signature "
            "f(prompts, completions, **kw) -> list[float] (TRL's; repeatable; summed with the reward model).",
        ),
    ] = None,
    ref_model: Annotated[
        Optional[str],
        typer.Option("--ref-model", help="Frozen reference (ppo, dpo, kto); default: the initial policy."),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    loss: Annotated[
        Optional[str],
        typer.Option(
            "--loss",
            help="Loss variant: dpo sigmoid|hinge|ipo|exo_pair|nca_pair|robust|bco_pair|sppo_hard|aot|"
            "aot_unpaired|apo_zero|apo_down|discopop|sft|sigmoid_norm (comma-separated to combine); kto kto|"
            "apo_zero_unpaired; grpo grpo|dr_grpo|dapo|bnpo|cispo|sapo|luspo|vespo.",
        ),
    ] = None,
    lora: Annotated[
        Optional[bool],
        typer.Option(
            "--lora/--no-lora", help="Train LoRA adapters (peft), merged into the saved model.", show_default=False
        ),
    ] = None,
    max_steps: Annotated[
        Optional[int], typer.Option("--max-steps", min=1, help="Stop after N steps (PPO: rollout iterations).")
    ] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest checkpoint of an interrupted run.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing non-empty OUT.")] = False,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code", help="Allow model code from the model repository (off: it runs arbitrary Python)."
        ),
    ] = False,
    list_params: Annotated[
        bool,
        typer.Option(
            "--list-params", help="Print the algorithm's parameters (YAML / --set keys) with defaults and exit."
        ),
    ] = False,
) -> None:
    """Align a policy: PPO against a reward model / reward functions with a KL penalty (ours; InstructGPT),
    GRPO and RLOO (TRL, online, same rewards), or DPO and KTO (TRL, offline, on preferences).

    Writes a Hugging Face model directory (AutoModelForCausalLM loads it) plus manifest.json with the
    data fingerprints, every parameter, library versions, final metrics and the per-step log (mean
    reward, KL to the reference, entropy, clip fraction, value loss for PPO; reward margins and
    accuracy for DPO/KTO). Settings: defaults < --config YAML < flags < --set key=value; see
    --list-params for the keys of each algorithm.

    Example: instructkit rlhf out/prompts --algo ppo --policy out/sft --reward-model out/rm -o out/ppo --max-steps 100
    """
    from instructkit.config import describe
    from instructkit.train.common import load_params
    from instructkit.train.rlhf import params_class, run_rlhf

    algo = algo.lower()
    cls = params_class(algo)
    if list_params:
        print_table(
            f"rlhf --algo {algo} parameters",
            [(n, t, d, h) for n, t, d, h in describe(cls)],
            ("key", "type", "default", "help"),
        )
        return
    flags = {"lora": lora, "learning_rate": lr, "seed": seed, "trust_remote_code": trust_remote_code or None}
    flags["steps" if algo == "ppo" else "max_steps"] = max_steps
    if loss is not None:
        if algo not in ("dpo", "kto", "grpo"):
            from instructkit.errors import ConfigError

            raise ConfigError(f"--loss applies to dpo, kto and grpo, not {algo}")
        flags["loss_type"] = [x.strip() for x in loss.split(",")] if algo == "dpo" else loss
    params = load_params(cls, config=config, sets=set_, flags=flags, what=f"rlhf --algo {algo}")
    extra = {"log": _ppo_logger(params.steps)} if algo == "ppo" else {}
    if algo == "ppo":
        from instructkit.train.ppo.run import run_ppo

        result = run_ppo(
            inputs,
            policy=policy,
            out=output,
            cfg=params,
            reward_model=reward_model,
            reward_fns=reward_fn or [],
            ref_model=ref_model,
            force=force,
            resume=resume,
            **extra,
        )
    else:
        result = run_rlhf(
            inputs,
            algo=algo,
            policy=policy,
            out=output,
            params=params,
            reward_model=reward_model,
            reward_fns=reward_fn or [],
            ref_model=ref_model,
            force=force,
            resume=resume,
        )
    m = result["metrics"]
    keys = [
        k
        for k in (
            "steps",
            "global_step",
            "reward/mean",
            "objective/kl",
            "policy/entropy",
            "policy/clipfrac",
            "loss/value",
            "last_reward",
            "last_kl",
            "last_entropy",
            "last_rewards/margins",
            "last_rewards/accuracies",
            "eval/start_reward",
            "eval/end_reward",
            "eval/end_kl",
            "train_loss",
            "heldout_start_logp_margin",
            "heldout_logp_margin",
            "heldout_reward_margin",
            "heldout_reward_accuracy",
        )
        if k in m
    ]
    rows = [(k, f"{m[k]:.4f}" if isinstance(m[k], float) else m[k]) for k in keys]
    rows.append(("output", str(result["path"])))
    print_table(f"rlhf --algo {algo}", rows, ("", "value"))
    if not m:
        console.print("[yellow]no metrics recorded[/]")
    typer.echo(str(result["path"]))
