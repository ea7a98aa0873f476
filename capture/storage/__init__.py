"""Where verified files are published: the local data root (S3 comes later behind the same API)."""

from capture.storage.local import LocalStore

__all__ = ["LocalStore"]
