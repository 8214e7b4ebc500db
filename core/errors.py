"""Errors a user can act on.

Each carries a one-line message and the fix, so the CLI can print a single clear
line instead of a traceback.
"""

from __future__ import annotations

from typing import NamedTuple


class HypodiscError(Exception):
    """Base class: ``str(err)`` is what the user reads; ``fix`` says what to do."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class ConfigError(HypodiscError):
    """Bad settings: unknown backend, unreadable TOML, conflicting options."""


class UnknownModelError(HypodiscError):
    """A model name that is neither registered nor a path that exists."""


class ModelNotInstalledError(HypodiscError):
    """A registered model whose files are not in the local store yet."""


class ModelIntegrityError(HypodiscError):
    """An assembled model whose sha256 does not match the pinned one."""


class BackendUnavailableError(HypodiscError):
    """The backend's library is not installed, or its server cannot be reached."""


class PromptTooLongError(HypodiscError):
    """A prompt that does not fit the model's context window."""


class BackendResponseError(HypodiscError):
    """A server answered, but not with what the protocol needs."""


class UnsupportedInputError(HypodiscError):
    """Input the chosen backend cannot take, such as an image for a text-only model (never silently dropped)."""


class InputRejected(HypodiscError):
    """Input a workflow refuses, with a stable machine-readable ``code`` and the HTTP ``status`` it maps to.

    Raised by a workflow's input checks (:mod:`hypodisc.workflows.contract`), so the CLI prints it as
    one line and the service answers it as ``{"error": {"code": ..., "message": ...}}`` with ``status``.
    """

    def __init__(self, message: str, fix: str | None = None, *, code: str = "invalid_input", status: int = 422):
        super().__init__(message, fix)
        self.code, self.status = code, status


class Problem(NamedTuple):
    """The first problem of a pydantic ValidationError, for a one-line message."""

    loc: tuple          # field path, with ``rename`` applied to its names
    msg: str            # pydantic's message, plus "(and N more problems)" when there are more
    input: object       # the offending value


def pydantic_problem(exc, rename: dict[str, str] | None = None) -> Problem:
    """The one way a pydantic ValidationError becomes one line (CLI options, settings, files, requests)."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(rename.get(p, p) if rename and isinstance(p, str) else p for p in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return Problem(loc, msg, first.get("input"))
