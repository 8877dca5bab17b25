"""One settings object for the whole package, read from ``DEEPTRUST_*`` environment variables.

Nothing else in deeptrust reads ``os.environ``: take a ``Settings`` (or call ``get_settings()``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository's own models/ folder, where the shipped models live next to the source tree.
BUNDLED_MODELS = Path(__file__).resolve().parents[2] / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPTRUST_", env_file=None, extra="ignore")

    # Working directory for imported datasets, extracted archives, decoded-image caches and runs.
    home: Path = Field(default=Path(".deeptrust"))
    # Where `deeptrust models list` and name lookups search, first match wins.
    model_paths: list[Path] = Field(default_factory=lambda: [Path(".deeptrust/models"), BUNDLED_MODELS])
    # Largest image accepted by the decoder, in pixels (decompression-bomb guard).
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    # ONNX Runtime threads per session; 0 lets ONNX Runtime choose (one per core).
    onnx_threads: int = Field(default=0, ge=0)
    # MLflow tracking URI (MLflow's own MLFLOW_TRACKING_URI is honoured too); empty: SQLite under `home`.
    mlflow_tracking_uri: str = Field(
        default="",
        validation_alias=AliasChoices("DEEPTRUST_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
