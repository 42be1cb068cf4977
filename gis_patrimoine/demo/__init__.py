"""The demo territory: Laval Agglomération's real communes with a synthetic, plausible asset inventory."""
