"""gis-patrimoine: inventory and pooling of local authorities' public-space assets."""

__version__ = "0.1.0"
