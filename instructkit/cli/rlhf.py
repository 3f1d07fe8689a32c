"""`instructkit rlhf` (not implemented yet)."""

from instructkit.errors import InstructkitError


def rlhf() -> None:
    """Not implemented yet."""
    raise InstructkitError("'rlhf' is not implemented yet")
