"""One spider per archive; shared behaviour lives in :mod:`spiders.base`."""
