"""Settings of a running service (built by ``trufor serve`` from its flags, or by tests directly)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MAX_UPLOAD = 50 * 2**20
DEFAULT_MAX_FILES = 32


@dataclass
class ServiceConfig:
    data_dir: Path
    database_url: str
    #: what the dedup key and the reports name: {"name", "licence", "weights", "fingerprint", ...}
    model_info: dict[str, Any]
    read_options: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    max_files: int = DEFAULT_MAX_FILES
    request_timeout: float = 120.0
    cors_origins: tuple[str, ...] = ()
    retention_days: float | None = None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the service to this machine only."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
