"""The one kind of error an analysis raises when it cannot be done as asked.

Nothing to plan, a depot off the road, assets no crew can reach, rounds that do not fit the shifts, zones that
cannot be balanced: each says in its message what to change. The API answers them 422 (one handler in the
app factory) and the CLI prints the message, whichever analysis raised them.
"""

from __future__ import annotations


class AnalysisRefused(ValueError):
    """An analysis cannot be done as asked; the message says what to change."""
