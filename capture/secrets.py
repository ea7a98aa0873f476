"""Credentials come from the environment and never reach a log line or the catalog.

Every secret read through :func:`secret_from_env` is registered with a logging filter that
masks it wherever it would appear (message or arguments), as a last line of defence.
"""

from __future__ import annotations

import logging
import os

_SECRETS: set[str] = set()
MASK = "***"


class SecretRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        if any(s in message for s in _SECRETS):
            for s in _SECRETS:
                message = message.replace(s, MASK)
            record.msg, record.args = message, None
        return True


_FILTER = SecretRedactor()


def _install() -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)


def secret_from_env(name: str) -> str | None:
    value = os.environ.get(name) or None
    if value and len(value) >= 4:
        _SECRETS.add(value)
        _install()
    return value
