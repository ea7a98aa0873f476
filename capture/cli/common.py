"""Shared command-line plumbing: project settings from any directory, data root, catalog."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from scrapy.settings import Settings

from capture.catalog import Catalog, catalog_url_for


def project_settings() -> Settings:
    """capture.settings whatever the working directory (no scrapy.cfg needed)."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "capture.settings")
    from scrapy.utils.project import get_project_settings

    return get_project_settings()


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data root (default: $CAPTURE_DATA_DIR, else the config's base_path, else ./data)",
    )
    parser.add_argument(
        "--catalog-url",
        default=None,
        help="catalog database URL (default: $CAPTURE_CATALOG_URL, else "
        "<data root>/catalog.sqlite)",
    )


def data_dir(args: argparse.Namespace, config_base: str | None = None) -> Path:
    chosen = args.data_dir or os.environ.get("CAPTURE_DATA_DIR") or config_base or "./data"
    return Path(chosen).expanduser().resolve()


def open_catalog(args: argparse.Namespace, root: Path) -> Catalog:
    url = args.catalog_url or os.environ.get("CAPTURE_CATALOG_URL") or None
    return Catalog(catalog_url_for(root, url))


class CliError(Exception):
    """A user error: printed as one clear line, exit status 2."""
