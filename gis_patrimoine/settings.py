"""All settings in one place, read from the environment (and a `.env` file).

`DATABASE_URL` points every command, the API and the tests at an existing PostGIS; without it the
local cluster under the project's data folder is used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _project_root() -> Path:
    """The source checkout when running from one (editable install), else the working directory."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").exists() else Path.cwd()


PROJECT_ROOT = _project_root()

DEFAULT_SRID = 2154


class Settings(BaseSettings):
    """Where things are and which database to use."""

    model_config = SettingsConfigDict(env_prefix="GIS_PATRIMOINE_", env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = PROJECT_ROOT / ".data"
    catalogue_dir: Path = PROJECT_ROOT / "layers"
    migrations_dir: Path = PROJECT_ROOT / "sql"
    pg_version: int = 15
    local_db_name: str = "gis_patrimoine"
    # API
    api_title: str = "gis-patrimoine"
    default_limit: int = 100
    max_limit: int = 10_000
    pool_min: int = 2
    pool_max: int = 16
    pool_timeout_s: float = 5.0
    statement_timeout_ms: int = 15_000
    tile_cache_mb: int = 256
    slow_tile_ms: int = 500
    static_dir: Path = PROJECT_ROOT / "node_modules"
    # security and limits
    read_requires_token: bool = False  # reads public (the default: pooling needs transparency) or token-only
    cors_origins: list[str] = []  # e.g. ["https://sig.agglo-laval.fr"]; none by default
    max_body_mb: int = 50  # request bodies (edits, uploads)


@lru_cache
def get_settings() -> Settings:
    return Settings()
