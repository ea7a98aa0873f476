"""``capture cat PATH|SHA256``: the archive's original bytes of a stored file, on stdout.

Files compressed at rest are decoded on the way out; every file's bytes are checked against
the sha256 recorded at capture as they stream. Exit codes: 0 the original bytes were written;
4 they were not the archive's (corrupt or missing: ``capture verify`` says more); 2 nothing
stored by that name."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.config import CaptureSettings, SettingsError
from capture.paths import DataRoot
from capture.project import project_settings
from capture.storage import store_for
from capture.storage.originals import NotOriginal, lookup, original_bytes

EXIT_OK, EXIT_FAILED = 0, 4


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cat",
        help="write a stored file's original bytes to stdout (decompressing, sha256-checked)",
    )
    p.add_argument(
        "key",
        metavar="PATH|SHA256",
        help="the file's path in the data root (as recorded, or its stored <path>.zst, or a "
        "kept version's versions/...), or its sha256",
    )
    add_data_args(p)
    p.set_defaults(func=cmd_cat)


def cmd_cat(args: argparse.Namespace) -> int:
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not args.catalog_url:
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    key = args.key
    if key.startswith("/"):
        try:
            key = str(Path(os.path.abspath(key)).relative_to(root))
        except ValueError:
            raise CliError(f"{args.key} is not inside the data root {root}") from None
    config = CaptureSettings.from_settings(project_settings())
    try:
        store = store_for(config, DataRoot.at(root))
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    stored = lookup(open_catalog(args, root).engine, key)
    if stored is None:
        raise CliError(f"no stored file is named {args.key}")
    out = sys.stdout.buffer
    try:
        for chunk in original_bytes(store, stored):
            out.write(chunk)
        out.flush()
    except BrokenPipeError:
        return EXIT_OK  # `capture cat X | head`: the reader had enough
    except FileNotFoundError:
        print(f"capture: {stored.location}: nothing stored there", file=sys.stderr)
        return EXIT_FAILED
    except (NotOriginal, ValueError, OSError) as exc:
        print(f"capture: not the archive's bytes: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # zstandard.ZstdError: damaged compressed bytes
        print(f"capture: {stored.location}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
