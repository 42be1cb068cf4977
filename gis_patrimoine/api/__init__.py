"""The HTTP service: OGC API Features, OGC API Tiles (vector tiles), styles and a map page."""
