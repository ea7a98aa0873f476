"""Where verified files are published: the local data root (S3 comes later behind the same API)."""

from typing import Any

from capture.storage.local import LocalStore

__all__ = ["LocalStore", "s3_settings", "store_for"]


def store_for(settings: Any, data: Any) -> Any:
    """The configured store: the local data root, or S3 (``CAPTURE_STORE=s3://...``)."""
    uri = settings.get("CAPTURE_STORE") or ""
    if uri.startswith("s3://"):
        from capture.storage.s3 import S3Store

        return S3Store(uri, s3_settings(settings))
    return LocalStore(data)


def s3_settings(settings: Any) -> Any:
    from capture.storage.s3 import S3Settings

    return S3Settings(
        part_size=settings.getint("CAPTURE_S3_PART_SIZE", 16 * 1024 * 1024),
        sse=settings.get("CAPTURE_S3_SSE") or None,
        kms_key_id=settings.get("CAPTURE_S3_SSE_KMS_KEY_ID") or None,
    )
