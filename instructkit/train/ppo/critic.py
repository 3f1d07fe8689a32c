"""A separate critic (``critic=separate``): its own transformer trunk plus a scalar per-token value head,
trained by its own optimizer, as in InstructGPT (Ouyang et al. 2022, section 3.5: "we initialize the
value function from the RM").

Built from a sequence model directory: a reward model (``instructkit reward`` output: the trunk, and
the value head copied from its one-label ``score`` head, so V starts as the RM's per-token score), a
causal LM (the trunk; the head starts at zero, V = 0) or a critic saved by a run (``critic/``: trunk
plus ``value_head.safetensors``). Weights load from safetensors only; model code from the directory
runs only with ``trust_remote_code``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from instructkit.errors import ConfigError
from instructkit.train.ppo.value import hidden_size_of

HEAD_FILE = "value_head.safetensors"


class Critic(nn.Module):
    """A base transformer (no LM head) and a float32 linear value head on its last hidden state."""

    def __init__(self, trunk: nn.Module):
        super().__init__()
        self.trunk = trunk
        self.value_head = nn.Linear(hidden_size_of(trunk), 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids, attention_mask, position_ids, n_response: int) -> torch.Tensor:
        """Values ``[B, n_response]``: V_t from the hidden state before completion token t (the same
        positions ``PolicyWithValue`` uses, so both critics see the same states)."""
        out = self.trunk(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
        hidden = out.last_hidden_state[:, -n_response - 1 : -1]
        return self.value_head(hidden.float()).squeeze(-1)

    def save(self, path: Path, tokenizer=None) -> None:
        """``path/``: the trunk (``save_pretrained``, safetensors), the head as safetensors and the tokenizer,
        so :func:`load_critic` (and ``AutoModel``) can load it back."""
        from safetensors.torch import save_file

        path = Path(path)
        self.trunk.save_pretrained(path)
        head = {k: v.detach().float().cpu().contiguous() for k, v in self.value_head.state_dict().items()}
        save_file(head, str(path / HEAD_FILE))
        if tokenizer is not None:
            tokenizer.save_pretrained(path)


def _architectures(path: Path) -> list[str]:
    cfg = path / "config.json"
    return (json.loads(cfg.read_text("utf-8")).get("architectures") or []) if cfg.is_file() else []


def load_critic(path: str | Path, *, tokenizer, trust_remote_code: bool = False) -> Critic:
    """The critic from ``path`` (a reward model, a causal LM or a saved critic), in float32.

    Args:
        path: The model directory (or hub id).
        tokenizer: The policy's tokenizer: the critic reads the policy's token ids, so its vocabulary
            must be the same (checked when ``path`` has a tokenizer) and its embeddings large enough.
        trust_remote_code: Allow model code from ``path``.
    """
    from instructkit.models import load_base_model, load_sequence_classifier

    path_ = Path(path)
    head_weight = None
    if any("SequenceClassification" in a for a in _architectures(path_)):
        clf = load_sequence_classifier(path, trust_remote_code=trust_remote_code, dtype="float32")
        score = getattr(clf, "score", None)
        if isinstance(score, nn.Linear) and score.out_features == 1:
            head_weight = score.weight.detach().clone()
        trunk = clf.base_model
    else:
        trunk = load_base_model(path, trust_remote_code=trust_remote_code, dtype="float32")
    _check_vocab(path, trunk, tokenizer, trust_remote_code)
    if len(tokenizer) > trunk.get_input_embeddings().weight.shape[0]:
        trunk.resize_token_embeddings(len(tokenizer))
    critic = Critic(trunk)
    if (path_ / HEAD_FILE).is_file():
        from safetensors.torch import load_file

        critic.value_head.load_state_dict(load_file(str(path_ / HEAD_FILE)))
    elif head_weight is not None:
        with torch.no_grad():
            critic.value_head.weight.copy_(head_weight.float())
    return critic.eval()


def _check_vocab(path, trunk, tokenizer, trust_remote_code: bool) -> None:
    """Refuse a critic whose tokenizer differs from the policy's: it would read other tokens' embeddings."""
    from instructkit.models import load_tokenizer

    try:
        own = load_tokenizer(path, trust_remote_code=trust_remote_code)
    except Exception:  # noqa: BLE001 - no tokenizer in the directory: the embedding size check below decides
        own = None
    if own is not None and own.get_vocab() != tokenizer.get_vocab():
        raise ConfigError(
            f"the critic model {path} has a different tokenizer from the policy",
            hint="initialise the critic from a model trained from the policy (e.g. the reward model of its SFT "
            "model), or use --set critic=shared",
        )
    if own is None and trunk.get_input_embeddings().weight.shape[0] < len(tokenizer):
        raise ConfigError(
            f"the critic model {path} has {trunk.get_input_embeddings().weight.shape[0]} embeddings for the "
            f"policy's {len(tokenizer)} tokens",
            hint="initialise the critic from a model with the policy's tokenizer",
        )
