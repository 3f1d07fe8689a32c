"""`instructkit eval` (not implemented yet)."""

from instructkit.errors import InstructkitError


def eval_() -> None:
    """Not implemented yet."""
    raise InstructkitError("'eval' is not implemented yet")
