"""Where files go: the local data root or S3, behind one :class:`~capture.storage.base.Store`
protocol, chosen by the scheme of ``CAPTURE_STORE`` here and nowhere else (Scrapy's
``FilesPipeline.STORE_SCHEMES`` is the model).

A new store is one module here: a class with ``from_settings(uri, settings, data)`` that
satisfies :class:`~capture.storage.base.Store` (and builds its own
:class:`~capture.storage.base.Sink`, sharing :class:`~capture.transfer.basesink.BaseSink`),
registered under its scheme in :data:`STORE_SCHEMES`; ``tests/test_storage.py`` runs the
shared contract on every store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from capture.config import CaptureSettings, SettingsError
from capture.storage.base import Sink, Store, StoreClass
from capture.storage.local import LocalStore
from capture.storage.s3 import S3Store

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

    from capture.paths import DataRoot

__all__ = ["SAVES", "STORE_SCHEMES", "LocalStore", "S3Store", "Sink", "Store", "store_for"]

#: ``CAPTURE_STORE`` scheme -> store class ("": the data root itself).
STORE_SCHEMES: dict[str, StoreClass] = {
    "": LocalStore,
    "file": LocalStore,
    "s3": S3Store,
}

#: ``link_copy``/``dedupe`` methods that store identical bytes once (an ``s3-copy`` is billed
#: again: recorded as a copy, never counted as bytes saved).
SAVES: frozenset[str] = frozenset({"hardlink", "reflink"})


def store_for(settings: BaseSettings | CaptureSettings, data: DataRoot) -> Store:
    """The configured store (``CAPTURE_STORE``: empty for the data root, ``s3://bucket/prefix``)."""
    config = settings
    if not isinstance(config, CaptureSettings):
        config = CaptureSettings.from_settings(config)
    uri = config.store
    cls = store_class(uri)
    return cls.from_settings(uri, config, data)


def store_class(uri: str) -> StoreClass:
    """The store class for a ``CAPTURE_STORE`` value, chosen by its scheme (one place)."""
    scheme = "file" if Path(uri).is_absolute() else urlsplit(uri).scheme
    cls = STORE_SCHEMES.get(scheme)
    if cls is None:
        supported = ", ".join(f"{s}://" for s in STORE_SCHEMES if s)
        raise SettingsError(
            f"CAPTURE_STORE={uri!r}: unknown scheme {scheme!r}; supported: {supported} "
            "(or empty for the data root)"
        )
    return cls
