"""Evaluation: metrics, perplexity, reward-model win rates and accuracy, an LLM judge, and the report.

``runner.evaluate`` ties them together for ``instructkit eval``; each module also works alone.
"""
