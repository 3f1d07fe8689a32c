"""``instructkit synth``: instruction data from a generator (Self-Instruct and Evol-Instruct).

The stage lives in ``stage.py`` (``run`` is registered in ``instructkit/stages.py``; ``run_synth``
runs it with a ready generator); its knobs are ``SynthParams`` in ``common.py``.
"""

from __future__ import annotations

from instructkit.synth.common import SynthParams
from instructkit.synth.seeds import SeedTask, load_seeds
from instructkit.synth.stage import default_cache_path, run_synth

__all__ = ["SynthParams", "SeedTask", "load_seeds", "run_synth", "default_cache_path"]
