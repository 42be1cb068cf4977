"""`python -m gis_patrimoine.cli`."""

from gis_patrimoine.cli import main

main()
