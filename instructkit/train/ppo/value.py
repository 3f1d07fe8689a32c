"""The critic: a scalar value head on the policy's last hidden state (shared trunk), and the one
forward pass that gives PPO its token log-probs, entropies and values.

Sharing the trunk halves memory against a separate critic (Ouyang et al. 2022 initialise a separate
value model from the reward model); ``vf_coef`` keeps the value loss from dominating the policy's
gradients. Policy and head live in one ``nn.Module`` so ``accelerator.prepare`` wraps both (DDP,
FSDP and DeepSpeed need a single module).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from instructkit.train.ppo.losses import entropy_from_logits, logprobs_from_logits

# The shared value head's weights: in a subfolder of the policy directory (or checkpoint), so the top
# level holds the policy's weights only (vLLM loads every top-level *.safetensors when there is no index).
VALUE_DIR = "value_head"
HEAD_NAME = "value_head.safetensors"


def head_file(directory: Path) -> Path:
    """The value head file of a policy directory or checkpoint: ``value_head/value_head.safetensors``, or
    the top-level ``value_head.safetensors`` of directories written before the subfolder (still resumable)."""
    new = Path(directory) / VALUE_DIR / HEAD_NAME
    old = Path(directory) / HEAD_NAME
    return old if old.is_file() and not new.is_file() else new


def hidden_size_of(model) -> int:
    config = model.config
    for name in ("hidden_size", "n_embd", "d_model"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    text = getattr(config, "text_config", None)
    if text is not None and getattr(text, "hidden_size", None):
        return int(text.hidden_size)
    raise ValueError(f"cannot find the hidden size of {type(model).__name__}")


class PolicyWithValue(nn.Module):
    """A causal LM (plain or peft-wrapped) plus a float32 linear value head; ``value_head=False`` (a
    separate critic, ``critic.py``) leaves the head out, and ``forward`` must then get ``with_values=False``."""

    def __init__(self, policy: nn.Module, value_head: bool = True):
        super().__init__()
        self.policy = policy
        self.value_head = nn.Linear(hidden_size_of(policy), 1) if value_head else None
        if self.value_head is not None:
            # Zero init: V = 0 at the start, so the first advantages are the shaped returns themselves.
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        n_response: int,
        temperature: float = 1.0,
        with_values: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Log-probs, entropies and values for the last ``n_response`` tokens of ``input_ids``.

        Logits at position i predict token i + 1, so the completion's tokens are scored by positions
        [L - T - 1, L - 1); the value V_t of the state before token t uses the same positions.
        Logits are divided by the sampling temperature, so log-probs are those of the sampler.
        """
        out = self.policy(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_hidden_states=with_values,
            use_cache=False,
            logits_to_keep=n_response + 1,
        )
        logits = out.logits[:, :-1].float() / temperature
        tokens = input_ids[:, -n_response:]
        result = {"logprobs": logprobs_from_logits(logits, tokens), "entropy": entropy_from_logits(logits)}
        if with_values:
            hidden = out.hidden_states[-1][:, -n_response - 1 : -1]
            result["values"] = self.value_head(hidden.float()).squeeze(-1)
        return result

    def save_head(self, path: Path) -> None:
        """The head's weights as safetensors (no pickle in a model directory)."""
        from safetensors.torch import save_file

        save_file(
            {k: v.detach().float().cpu().contiguous() for k, v in self.value_head.state_dict().items()}, str(path)
        )

    def load_head(self, path: Path) -> None:
        from safetensors.torch import load_file

        self.value_head.load_state_dict(load_file(str(path)))


@torch.no_grad()
def reference_logprobs(
    model: nn.Module, input_ids, attention_mask, position_ids, n_response: int, temperature: float
) -> torch.Tensor:
    """Token log-probs of the completion under a frozen causal LM (the reference)."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
        logits_to_keep=n_response + 1,
    )
    logits = out.logits[:, :-1].float() / temperature
    return logprobs_from_logits(logits, input_ids[:, -n_response:])
