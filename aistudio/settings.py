"""Workspace settings (``settings.json``), validated with pydantic. Torch-free."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(ValueError):
    """settings.json is unreadable or invalid."""


class Settings(BaseModel):
    """What a workspace lets a user tune without code."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    max_upload_mb: int = Field(default=1024, gt=0)
    max_image_pixels: int = Field(default=89_478_485, gt=0)
    """Decompression-bomb limit: an image with more pixels is refused."""
    thumbnail_px: int = Field(default=128, ge=16, le=512)
    worker_rescan_s: float = Field(default=2.0, gt=0)
    progress_interval_s: float = Field(default=2.0, ge=0)
    serve_token: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._~-]{12,256}$")
    """The token ``aistudio serve`` requires of every request (``--token`` overrides it); when
    unset, serve generates one whenever it binds anything but loopback."""

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read ``path``; defaults when it does not exist."""
        if not path.exists():
            return cls()
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise SettingsError(f"{path} is invalid: {exc.errors()[0]['msg']}") from None
