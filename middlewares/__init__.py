"""Downloader middlewares: host guard, retry with backoff, credentials."""
