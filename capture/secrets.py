"""Credentials come from the environment and never reach a log line or the catalog.

Every secret read through :func:`secret_from_env` is masked in every log record of the
process, whichever handler formats it: the log record factory is wrapped so that
``getMessage()`` replaces the secret, which covers handlers installed before or after.
"""

from __future__ import annotations

import logging
import os
from typing import Any

_SECRETS: set[str] = set()
MASK = "***"
_installed = False


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _install() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        original = record.getMessage

        def get_message() -> str:
            return redact(original())

        record.getMessage = get_message  # type: ignore[method-assign]
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def secret_from_env(name: str) -> str | None:
    value = os.environ.get(name) or None
    if value and len(value) >= 4:
        _SECRETS.add(value)
        _install()
    return value
