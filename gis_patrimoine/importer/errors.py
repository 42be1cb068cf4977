"""Errors that stop an import as a whole (the database is left as it was)."""

from __future__ import annotations


class ImportFailed(Exception):
    """A fatal import error; the message names the file (and the feature and field where there is one)."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None):
        self.path = path
        self.hint = hint
        full = f"{path}: {message}" if path else message
        super().__init__(f"{full}\n  → {hint}" if hint else full)
