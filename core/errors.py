"""Errors a user can act on.

Each carries a one-line message and the fix, so the CLI can print a single clear
line instead of a traceback.
"""

from __future__ import annotations


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
