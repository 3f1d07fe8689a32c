"""The one error family of instructkit.

Library code raises these; only the CLI prints them and picks the exit code. A message says what
happened and where (file, line); ``hint`` says what to do next.
"""

from __future__ import annotations


class InstructkitError(Exception):
    """Base class: a user-facing problem with a location and a hint.

    Args:
        message: What went wrong, with the bad value.
        file: The file the problem is in, if any.
        line: The 1-based line (or row) in that file, if known.
        hint: The next thing the user should do.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class RecordError(InstructkitError):
    """A record that does not match its kind's schema."""


class InputError(InstructkitError):
    """An input file that cannot be read or parsed."""


class ShardError(InstructkitError):
    """A shard set that is missing, incomplete or corrupt."""


class ConfigError(InstructkitError):
    """A bad configuration key or value (YAML, --set, flags)."""


class TruncatedInput(InputError):
    """A compressed input that ends early: the rows before the break are good, the rest is lost.

    Args:
        file: The input file.
        rows: Rows read before the break.
        detail: How the stream broke off (``the gzip stream ends before its end marker``).
    """

    def __init__(self, file: str, rows: int, detail: str):
        super().__init__(
            f"truncated after {rows} rows",
            file=file,
            hint=f"{detail}; the rest of the file cannot be read: re-download or re-create it, or pass "
            f"--on-error skip to keep the {rows} rows read and count the rest as lost",
        )
        self.rows, self.detail = rows, detail
