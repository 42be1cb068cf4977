"""What a request to a collection can get wrong, in the collection's words; the API maps them to 400 and 404."""

from __future__ import annotations


class QueryError(ValueError):
    """A parameter the collection cannot honour (unknown property, bad filter, box too wide): answered 400."""


class NotFound(LookupError):
    """No such collection or feature: answered 404."""
