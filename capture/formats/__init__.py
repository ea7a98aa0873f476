"""Format readers, one module per format, shared by spiders, quality scorers and the catalog.

Each reads what an archive or a file format writes and nothing else (no Scrapy, no catalog):
``detection`` (a file's format from its name, media type and first bytes), ``fits`` (header
cards), ``pds3`` (labels, checksum manifests), ``netcdf`` (header metadata, truncation),
``tapcsv`` and ``tap_results`` (NASA Exoplanet Archive TAP results), ``mast_portal`` (MAST
portal and JWST metadata answers), ``psg_output`` (PSG ``api.php`` answers), ``autoindex``
(HTML directory listings) and ``textio`` (big text files, line by line off the reactor).
How to *ask* an archive (request building, paging) stays with its spider.
"""

from capture.formats.detection import guess_format, looks_like_html_page, read_head

__all__ = ["guess_format", "looks_like_html_page", "read_head"]
