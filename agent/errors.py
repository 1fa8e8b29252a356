"""Expected failures: each carries a message a user can act on and the exit code it ends with."""

from __future__ import annotations


class HeronError(Exception):
    """A failure heron expects and reports without a traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(HeronError):
    """A bad flag, file or configuration value (exit 2)."""

    exit_code = 2


class ServerError(HeronError):
    """The model server failed: unreachable, protocol error, unknown model (exit 3)."""

    exit_code = 3


class ContextOverflow(ServerError):
    """The request did not fit the server's context window."""


class Interrupted(HeronError):
    """The user interrupted the run (exit 130)."""

    exit_code = 130


class ToolError(Exception):
    """A tool's own failure (bad path, no match, non-zero exit): its message goes to the model."""
