"""`instructkit run` (not implemented yet)."""

from instructkit.errors import InstructkitError


def run() -> None:
    """Not implemented yet."""
    raise InstructkitError("'run' is not implemented yet")
