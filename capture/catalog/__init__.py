"""The catalog: the durable record of every archive file (state, provenance, digests).

Scrapy's JOBDIR only survives a clean stop; the catalog survives anything. One row per archive
file, keyed by (archive, archive_path); every state change is one transaction.
"""

from capture.catalog.store import Catalog, catalog_url_for
from capture.catalog.writer import CatalogWriter

__all__ = ["Catalog", "CatalogWriter", "catalog_url_for"]
