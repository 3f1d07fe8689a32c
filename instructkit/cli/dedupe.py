"""`instructkit dedupe` (not implemented yet)."""

from instructkit.errors import InstructkitError


def dedupe() -> None:
    """Not implemented yet."""
    raise InstructkitError("'dedupe' is not implemented yet")
