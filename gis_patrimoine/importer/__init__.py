"""Import of GIS files into the inventory: one transaction per file, journalled, with a report."""

from gis_patrimoine.importer.communes import CommuneOptions, import_communes
from gis_patrimoine.importer.errors import ImportFailed
from gis_patrimoine.importer.report import ImportReport
from gis_patrimoine.importer.run import ImportOptions, ImportRefused, import_layer

__all__ = [
    "CommuneOptions",
    "ImportFailed",
    "ImportOptions",
    "ImportRefused",
    "ImportReport",
    "import_communes",
    "import_layer",
]
