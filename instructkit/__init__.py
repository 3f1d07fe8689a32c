"""instructkit: curate instruction data and human feedback, and train aligned models on it."""

__version__ = "0.1.0"
