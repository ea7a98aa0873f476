"""Run options: the JSON config file (validated against ``run_config.schema.json``) merged
with command-line flags (flags win)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from capture.domains import ordered
from capture.settings import CAPTURE_NASA_GRADE_THRESHOLD as NASA_GRADE_THRESHOLD
from capture.settings import CAPTURE_QUALITY_THRESHOLD as QUALITY_THRESHOLD

GB = 1024**3
TB = 1024**4
DEFAULT_DOWNLOAD_GB = 1024.0  # 1 TB


class ConfigError(ValueError):
    """A bad config file or flag, named precisely."""


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(
        resources.files("capture.schemas").joinpath("run_config.schema.json").read_text()
    )
    return Draft202012Validator(schema)


def validate_config(data: Any, source: str = "config") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a JSON object")
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return data
    messages = []
    for err in errors:
        if err.validator == "additionalProperties" and not err.absolute_path:
            known = ", ".join(sorted(_validator().schema["properties"]))
            extra = sorted(set(data) - set(_validator().schema["properties"]))
            messages.append(
                f"unknown key(s) {', '.join(repr(k) for k in extra)} (known keys: {known})"
            )
            continue
        key = ".".join(str(p) for p in err.absolute_path) or "<config>"
        messages.append(f"key {key!r}: {err.message}")
    raise ConfigError(f"{source}: " + "; ".join(messages))


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    return validate_config(data, str(path))


@dataclass
class RunOptions:
    data_dir: str = "./data"
    domains: list[str] = field(default_factory=list)
    priority_domains: list[str] = field(default_factory=list)
    max_storage_tb: float | None = None
    # The mission: "A run with no arguments is a whole first round with a 1 TB download
    # limit". A config's max_download_size_gb (or --max-download-gb) replaces it.
    max_download_gb: float | None = DEFAULT_DOWNLOAD_GB
    quality_threshold: float = QUALITY_THRESHOLD
    nasa_grade_threshold: float = NASA_GRADE_THRESHOLD
    # One domain at a time: under a budget the priority order is then strict.
    max_concurrent_domains: int = 1
    rate_limit_delay: float | None = None
    dry_run: bool = False
    #: An update round: files gone upstream are marked retracted (CAPTURE_UPDATE).
    update: bool = False
    enable_real_data_sources: bool = True
    enable_quality_validation: bool = True
    enable_metadata_tracking: bool = True
    spider_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    spider_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: spider name -> base_url of a mirror of its archive (how tests point at emulators).
    mirrors: dict[str, str] = field(default_factory=dict)
    #: spider name -> its CAPTURE_REPLICAS entries (declared names, name=url, "all").
    replicas: dict[str, list[str]] = field(default_factory=dict)
    feed_uri: str | None = None
    notify_webhook: str | None = None
    notify_email: str | None = None
    run_id: str | None = None

    @property
    def ordered_domains(self) -> list[str]:
        return ordered(self.domains or None, self.priority_domains or None)

    @property
    def max_download_bytes(self) -> int | None:
        return None if self.max_download_gb is None else int(self.max_download_gb * GB)

    @property
    def max_storage_bytes(self) -> int | None:
        return None if self.max_storage_tb is None else int(self.max_storage_tb * TB)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOptions:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


CONFIG_TO_OPTION = {
    "base_path": "data_dir",
    "max_download_size_gb": "max_download_gb",
}


def merge(config: dict[str, Any], flags: dict[str, Any]) -> RunOptions:
    """Config values first, then every flag the user actually gave."""
    values: dict[str, Any] = {}
    for key, value in config.items():
        values[CONFIG_TO_OPTION.get(key, key)] = value
    values.update({k: v for k, v in flags.items() if v is not None})
    options = RunOptions.from_dict(values)
    for name in ("quality_threshold", "nasa_grade_threshold"):
        v = getattr(options, name)
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"--{name.replace('_', '-')} must be between 0 and 1, got {v}")
    if options.max_concurrent_domains < 1:
        raise ConfigError("--max-concurrent-domains must be at least 1")
    try:
        options.ordered_domains  # noqa: B018 (validates domain names)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return options
