"""How much the Hugging Face libraries and our own logger say: ``-q``, default, ``-v``, ``-vv``.

The level lives in ``INSTRUCTKIT_VERBOSITY`` so the child processes recipes start for training stages
follow the same flag. A variable the user set for a library wins over our flag, as in every HF tool:
``TRANSFORMERS_VERBOSITY``, ``DATASETS_VERBOSITY`` and ``HF_HUB_VERBOSITY`` (and
``TRANSFORMERS_NO_ADVISORY_WARNINGS`` is never touched).

Default and ``-q``: errors only, no tqdm bars (our progress bar and summary table say what matters);
``-v``: info logs and the libraries' own bars; ``-vv``: debug.
"""

from __future__ import annotations

import logging
import os

ENV = "INSTRUCTKIT_VERBOSITY"
_NAMES = {-1: "error", 0: "error", 1: "info", 2: "debug"}


def set_level(level: int) -> None:
    """Record the verbosity for this process and its children (-1 quiet, 0 default, 1 -v, 2 -vv)."""
    level = max(-1, min(2, level))
    os.environ[ENV] = str(level)
    if level >= 1:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("instructkit").setLevel(logging.INFO if level == 1 else logging.DEBUG)


def level() -> int:
    """The verbosity set by ``set_level`` (or inherited from a parent process); 0 when unset."""
    try:
        return max(-1, min(2, int(os.environ.get(ENV, "0"))))
    except ValueError:
        return 0


def apply_to_hf_libraries() -> None:
    """Set transformers' and datasets' log level and bars from our level, unless the user set theirs."""
    import datasets
    import transformers

    name = _NAMES[level()]
    if "TRANSFORMERS_VERBOSITY" not in os.environ:
        transformers.utils.logging.set_verbosity(transformers.utils.logging.log_levels[name])
    if "DATASETS_VERBOSITY" not in os.environ:
        datasets.logging.set_verbosity(datasets.logging.log_levels[name])
    if "HF_HUB_VERBOSITY" not in os.environ:
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity(hub_logging.log_levels[name])
    if level() < 1:
        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
