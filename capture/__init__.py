"""capture: verified, resumable capture of scientific archives, built on Scrapy."""

from capture.__version__ import __version__

__all__ = ["__version__"]
