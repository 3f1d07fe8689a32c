"""Re-exports for the training stages: the trainer progress callback lives in :mod:`instructkit.progress`
(one progress layer for every stage). New code should import from there."""

from __future__ import annotations

from instructkit.progress import trainer_callback as progress_callback
from instructkit.progress import use_on_trainer as use_our_progress

__all__ = ["progress_callback", "use_our_progress"]
