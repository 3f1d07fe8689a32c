"""`instructkit sft` / `reward` (not implemented yet)."""

from instructkit.errors import InstructkitError


def sft() -> None:
    """Not implemented yet."""
    raise InstructkitError("'sft' is not implemented yet")


def reward() -> None:
    """Not implemented yet."""
    raise InstructkitError("'reward' is not implemented yet")
