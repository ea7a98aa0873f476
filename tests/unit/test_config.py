"""CaptureSettings: every CAPTURE_* setting, typed, defaults only in capture/settings.py."""

from __future__ import annotations

import dataclasses

import pytest
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from capture import settings as defaults
from capture.config import CaptureSettings, config_of


def test_every_capture_setting_is_a_field_and_nothing_else() -> None:
    names = {n for n in vars(defaults) if n.startswith("CAPTURE_")} - {"CAPTURE_CONTACT"}
    fields = {CaptureSettings.setting_name(f.name) for f in dataclasses.fields(CaptureSettings)}
    only_settings, only_config = sorted(names - fields), sorted(fields - names)
    assert fields == names, f"in settings.py only: {only_settings}; in config.py: {only_config}"


def test_defaults_come_from_settings_module() -> None:
    config = CaptureSettings.from_settings(Settings())
    for f in dataclasses.fields(CaptureSettings):
        default = getattr(defaults, CaptureSettings.setting_name(f.name))
        value = getattr(config, f.name)
        if isinstance(default, dict):
            assert dict(value) == default
        elif isinstance(default, list):
            assert list(value) == default
        else:
            assert value == default and type(value) is type(default), f.name


def test_command_line_strings_are_read_with_the_defaults_type() -> None:
    # -s NAME=VALUE gives strings; the getter follows the default's type.
    config = CaptureSettings.from_settings(
        Settings(
            {
                "CAPTURE_IO_THREADS": "3",
                "CAPTURE_STALL_TIMEOUT": "2.5",
                "CAPTURE_DEDUP": "False",
                "CAPTURE_EXTRA_ALLOWED_HOSTS": "a.org,b.org",
                "CAPTURE_QUALITY_PLUGINS": '{"csv": "pkg.mod:score"}',
            }
        )
    )
    assert config.io_threads == 3
    assert config.stall_timeout == 2.5
    assert config.dedup is False
    assert config.extra_allowed_hosts == ("a.org", "b.org")
    assert dict(config.quality_plugins) == {"csv": "pkg.mod:score"}


def test_frozen() -> None:
    config = CaptureSettings.from_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.io_threads = 1  # type: ignore[misc]


def test_config_of_a_bare_crawler_reads_its_settings() -> None:
    crawler = get_crawler(settings_dict={"CAPTURE_RETRY_JITTER": 0.1})
    assert config_of(crawler).retry_jitter == 0.1
    assert config_of(crawler).retry_backoff_max == defaults.CAPTURE_RETRY_BACKOFF_MAX
