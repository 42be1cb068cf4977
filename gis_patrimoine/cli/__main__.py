"""`python -m gis_patrimoine.cli`."""

from gis_patrimoine.cli import app

app()
