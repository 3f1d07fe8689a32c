"""`instructkit annotate-export` / `annotate-import` (not implemented yet)."""

from instructkit.errors import InstructkitError


def annotate_export() -> None:
    """Not implemented yet."""
    raise InstructkitError("'annotate-export' is not implemented yet")


def annotate_import() -> None:
    """Not implemented yet."""
    raise InstructkitError("'annotate-import' is not implemented yet")
