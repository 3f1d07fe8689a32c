"""`instructkit synth` (not implemented yet)."""

from instructkit.errors import InstructkitError


def synth() -> None:
    """Not implemented yet."""
    raise InstructkitError("'synth' is not implemented yet")
