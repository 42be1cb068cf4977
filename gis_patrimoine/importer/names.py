"""Loose matching of names and codes: accents, case, articles and punctuation do not matter.

"L'Huisserie" = "Huisserie" = "l huisserie"; "Saint-Berthevin" = "St Berthevin"; "Forêt fermée" = "foret fermee".
"""

from __future__ import annotations

import re
import unicodedata

ARTICLES = ("le ", "la ", "les ", "l ")


def normalise(value: str) -> str:
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9:*]+", " ", text).strip()
    text = re.sub(r"\bst\b", "saint", text)
    text = re.sub(r"\bste\b", "sainte", text)
    return text


def normalise_place(value: str) -> str:
    """A place name without its leading article."""
    text = normalise(value)
    for article in ARTICLES:
        if text.startswith(article):
            return text[len(article) :]
    return text
