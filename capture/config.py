"""Capture's settings, read once per crawl into a frozen, typed object.

Scrapy settings stay the interface (``-s``, ``custom_settings``, scrapyd, ``capture run``'s
per-spider settings); their defaults and their documentation live in one place,
``capture/settings.py``. :class:`CaptureSettings` reads every ``CAPTURE_*`` setting once, with
the getter its default's type calls for, so components read ``config.io_threads`` instead of
repeating ``settings.getint("CAPTURE_IO_THREADS", 8)`` (and its default) in many files.

A crawler's instance is on its services (:class:`capture.services.CrawlServices`); code that
has only a ``Settings`` object (the CLI, a spider's ``from_crawler``) calls
:meth:`CaptureSettings.from_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from capture import settings as defaults

PREFIX = "CAPTURE_"
#: The crawler attribute that holds its :class:`capture.context.CrawlServices`.
SERVICES_ATTR = "capture_services"


class SettingsError(ValueError):
    """A capture setting whose value cannot work (an unknown store scheme, an unknown monitor
    name): one line for the user, before anything starts."""


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """Every ``CAPTURE_<NAME>`` setting as the field ``<name>`` (see capture/settings.py)."""

    data_dir: str
    catalog_url: str
    run_id: str
    dry_run: bool
    dry_run_head: bool
    diff: bool
    update: bool
    retract_max_fraction: float
    circuit_failures: int
    circuit_window: float
    circuit_lost_window: float
    needs_attention_rounds: int
    verify_interval_days: float
    verify_rate_mb: float
    store: str
    s3_part_size: int
    s3_sse: str
    s3_sse_kms_key_id: str
    s3_scratch_max: int
    ftp_user: str
    ftp_password_env: str
    s3_replica_endpoint: str
    s3_replica_region: str
    s3_replica_threads: int
    replicas: tuple[str, ...]
    replica_demote_after: int
    stall_timeout: float
    write_buffer: int
    checkpoint_bytes: int
    group_durability: bool
    write_after_max_bytes: int
    lean_http: bool
    stage_transfers: bool
    fast_exit: bool
    catalog_group_wait: float
    io_threads: int
    error_body_max: int
    body_slack_bytes: int
    max_file_bytes: int
    estimate_size_factor: float
    max_transfer_seconds: float
    min_speed: float
    min_speed_window: float
    listing_max_directories: int
    listing_max_requests: int
    listing_max_queued: int
    listing_max_bytes: int
    mast_max_pages: int
    min_free_bytes: int
    retry_backoff_base: float
    retry_backoff_max: float
    retry_jitter: float
    retry_after_max: float
    retry_progress_times: int
    backoff_time_scale: float
    keep_versions: bool
    dedup: bool
    cold_dir: str
    tier_prices: Mapping[str, float]
    tier_warm_after_days: int
    tier_cold_after_days: int
    tier_archive_after_days: int
    tier_min_bytes: int
    tier_listed_within_days: int
    tier_second_copy: bool
    compress: str
    compress_level: int
    compress_min_gain: float
    retransfer_on_mismatch: int
    quality_enabled: bool
    quality_threshold: float
    nasa_grade_threshold: float
    quality_mode: str
    quality_workers: int
    quality_inline_max_bytes: int
    quality_worker_idle_seconds: float
    quality_time_budget: float
    quality_hard_timeout_factor: float
    quality_hard_timeout_grace: float
    quality_memory_limit: int
    quality_plugins: Mapping[str, str]
    quality_sample_bytes: int
    monitors: Mapping[str, bool]
    monitor_interval: float
    monitor_max_error_rate: float
    monitor_max_quarantine_rate: float
    monitor_stall_seconds: float
    monitor_min_files: int
    notify_webhook: str
    notify_email: str
    max_download_bytes: int
    max_storage_bytes: int
    frontier_url: str
    frontier_name: str
    frontier_claim_idle: float
    frontier_idle_exit: float
    frontier_prefetch: int
    extra_allowed_hosts: tuple[str, ...]
    rate_limit_burst: float
    max_items_in_flight: int

    @classmethod
    def from_settings(
        cls, settings: BaseSettings | Mapping[str, Any] | None = None
    ) -> CaptureSettings:
        """Read from Scrapy settings; a setting absent there takes capture/settings.py's value
        (so a bare ``Settings()`` or a test's ``get_crawler`` still gets capture's defaults)."""
        if settings is None:
            settings = BaseSettings()
        elif not isinstance(settings, BaseSettings):
            settings = BaseSettings(dict(settings))
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            values[f.name] = _read(settings, name, getattr(defaults, name))
        return cls(**values)

    @staticmethod
    def setting_name(field_name: str) -> str:
        """The Scrapy setting behind a field: ``io_threads`` -> ``CAPTURE_IO_THREADS``."""
        return PREFIX + field_name.upper()


def _read(settings: BaseSettings, name: str, default: Any) -> Any:
    """The value with the getter for ``default``'s type (``-s`` gives strings)."""
    if isinstance(default, bool):
        return settings.getbool(name, default)
    if isinstance(default, int):
        return settings.getint(name, default)
    if isinstance(default, float):
        return settings.getfloat(name, default)
    if isinstance(default, dict):
        return MappingProxyType(dict(settings.getdict(name, default)))
    if isinstance(default, list):
        return tuple(settings.getlist(name, default))
    value = settings.get(name, default)
    return default if value is None else str(value)


def config_of(crawler: Crawler) -> CaptureSettings:
    """A crawler's capture settings: its services' copy when the crawl has them (built once),
    else read now (a spider's ``from_crawler`` runs before extensions; a test's bare
    ``get_crawler`` has none)."""
    services = getattr(crawler, SERVICES_ATTR, None)
    config = getattr(services, "config", None)
    if isinstance(config, CaptureSettings):
        return config
    return CaptureSettings.from_settings(crawler.settings)


def check_settings(settings: BaseSettings) -> CaptureSettings:
    """Read and check the settings a crawl would start with; raises :class:`SettingsError`
    with one line for the user (the crawl command and ``capture run`` call it first)."""
    from capture.monitors import enabled_monitors
    from capture.storage import store_class

    config = CaptureSettings.from_settings(settings)
    store_class(config.store)
    enabled_monitors(config)
    return config
