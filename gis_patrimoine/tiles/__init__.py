"""Vector tiles: SQL per layer from the catalogue, a cache keyed by data version, TileJSON and style.json."""
