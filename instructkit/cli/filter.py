"""`instructkit filter` (not implemented yet)."""

from instructkit.errors import InstructkitError


def filter_() -> None:
    """Not implemented yet."""
    raise InstructkitError("'filter' is not implemented yet")
