"""Evaluation: metrics, perplexity, reward-model win rates and accuracy, an LLM judge, and the report.

``runner.evaluate`` ties them together for ``instructkit eval``; each module also works alone.
"""

# `instructkit.eval(...)` runs the stage; the package's names stay importable (api.py).
__import__("instructkit.api").api.callable_package(__name__, "eval")
