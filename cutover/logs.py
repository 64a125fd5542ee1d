"""Logging set-up, at its historical import path: it lives in :mod:`ground.logs`."""

from __future__ import annotations

from ground.logs import configure_logging, get_logger, mask_text, mask_url

__all__ = ["configure_logging", "get_logger", "mask_text", "mask_url"]
