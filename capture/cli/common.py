"""Shared command-line plumbing: data root, catalog (project settings: capture.project)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from capture.catalog import Catalog, catalog_url_for


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
