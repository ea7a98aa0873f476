"""``capture catalog search | lookup | history | cite | export | link``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from capture.catalog.access import record_access
from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.status import CATALOG_STATES

FORMATS = ("ro-crate", "datacite", "jsonl", "bagit")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cat = sub.add_parser("catalog", help="search, export and link the catalog")
    csub = cat.add_subparsers(dest="catalog_command", metavar="ACTION")
    csub.required = True

    search = csub.add_parser("search", help="find captured files")
    _filters(search)
    search.add_argument("--json", action="store_true", help="JSON instead of a table")
    add_data_args(search)
    search.set_defaults(func=cmd_search)

    lookup = csub.add_parser("lookup", help="files by url, sha256 or data-root path")
    group = lookup.add_mutually_exclusive_group(required=True)
    group.add_argument("--url")
    group.add_argument("--sha256")
    group.add_argument("--path")
    add_data_args(lookup)
    lookup.set_defaults(func=cmd_lookup)

    history = csub.add_parser("history", help="every captured version of a file")
    history.add_argument("path", help="path in the data root or archive:archive_path")
    add_data_args(history)
    history.set_defaults(func=cmd_history)

    cite = csub.add_parser(
        "cite", help="how to cite a captured file: its dataset citation, version, access date"
    )
    cite.add_argument(
        "file", help="path in the data root, archive:archive_path, or a sha256 (any version)"
    )
    cite.add_argument(
        "--format",
        dest="cite_format",
        choices=("text", "bibtex", "json"),
        default="text",
        help="text (default), bibtex, or json (CSL-JSON)",
    )
    add_data_args(cite)
    cite.set_defaults(func=cmd_cite)

    export = csub.add_parser("export", help="export records (RO-Crate, DataCite, JSONL, BagIt)")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("-o", "--output", required=True, help="file or directory to write")
    _filters(export)
    add_data_args(export)
    export.set_defaults(func=cmd_export)

    link = csub.add_parser("link", help="(re)compute cross-domain links")
    link.add_argument("--run-id", help="record the links under this run")
    add_data_args(link)
    link.set_defaults(func=cmd_link)

    links = csub.add_parser("links", help="show links of a file or of a kind")
    links.add_argument("--kind")
    links.add_argument("--path")
    links.add_argument("--json", action="store_true")
    add_data_args(links)
    links.set_defaults(func=cmd_links)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--domain")
    p.add_argument("--archive")
    p.add_argument(
        "--file-format",
        dest="file_format",
        metavar="FORMAT",
        help="file format, e.g. fits, netcdf, csv",
    )
    p.add_argument("--grade", choices=("nasa_grade", "accepted", "quarantined"))
    p.add_argument("--status", choices=CATALOG_STATES)
    p.add_argument("--text", help="substring of the archive path or target name")
    p.add_argument("--target", help="astronomical target / organism (normalised match)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=MIN:MAX",
        help="numeric parameter range, e.g. teff=5000:6000 (repeatable)",
    )
    p.add_argument("--run-id", dest="filter_run")
    p.add_argument("--limit", type=int, default=50)


def _build_filters(args: argparse.Namespace, *, unlimited: bool = False) -> Any:
    from capture.catalog.search import Filters, parse_param

    try:
        params = [parse_param(p) for p in args.param]
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return Filters(
        domain=args.domain,
        archive=args.archive,
        format=getattr(args, "file_format", None),
        grade=args.grade,
        state=args.status,
        text=args.text,
        target=args.target,
        params=params,
        run_id=args.filter_run,
        limit=None if unlimited else args.limit,
    )


def _open(args: argparse.Namespace) -> tuple[Path, Any]:
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not args.catalog_url:
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    return root, open_catalog(args, root)


def _print_rows(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(no match)")
        return
    for r in rows:
        grade = r.get("grade") or "-"
        size = r.get("size")
        print(
            f"{r['archive']:24} {r['state']:11} {grade:11} {size if size is not None else '-':>12}"
            f"  {r['archive_path']}"
        )


def cmd_search(args: argparse.Namespace) -> int:
    from capture.catalog.search import search

    _, catalog = _open(args)
    rows = search(catalog, _build_filters(args))
    print(json.dumps(rows, indent=2, default=str)) if args.json else _print_rows(rows)
    return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    from capture.catalog.search import lookup

    _, catalog = _open(args)
    rows = lookup(catalog, url=args.url, sha256=args.sha256, path=args.path)
    print(json.dumps(rows, indent=2, default=str))
    return 0 if rows else 1


def cmd_history(args: argparse.Namespace) -> int:
    from sqlalchemy import or_, select

    from capture.catalog.schema import files

    _, catalog = _open(args)
    archive, _, archive_path = args.path.partition(":")
    with catalog.engine.connect() as conn:
        q = select(files.c.id, files.c.path).where(
            or_(
                files.c.path == args.path,
                (files.c.archive == archive) & (files.c.archive_path == archive_path),
            )
        )
        row = conn.execute(q).first()
        if row is None:
            raise CliError(f"no file {args.path!r} in the catalog")
        versions = catalog.history(conn, row[0])
    print(json.dumps({"path": row[1], "versions": versions}, indent=2, default=str))
    return 0


def cmd_cite(args: argparse.Namespace) -> int:
    from capture.catalog.search import file_for_citation
    from capture.export import cite

    root, catalog = _open(args)
    key = args.file
    if Path(key).is_absolute():
        try:
            key = str(Path(key).resolve().relative_to(root.resolve()))
        except ValueError:
            raise CliError(f"{args.file} is not inside the data root {root}") from None
    recs = file_for_citation(catalog, key)
    if not recs:
        raise CliError(f"no file {args.file!r} in the catalog")
    record_access(catalog, [r["id"] for r in recs])  # a citation is a use of the file
    if args.cite_format == "json":
        print(json.dumps([cite.csl(r) for r in recs], indent=2, default=str))
    else:
        render = cite.bibtex if args.cite_format == "bibtex" else cite.text
        print("\n\n".join(render(r) for r in recs))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from capture.export import bag, datacite, jsonl, rocrate
    from capture.export.records import file_ids, records

    root, catalog = _open(args)
    ids = file_ids(catalog, _build_filters(args, unlimited=True))
    if not ids:
        raise CliError("the selection matches no file")
    out = Path(args.output)
    recs = records(catalog, ids)
    if args.format == "ro-crate":
        path = rocrate.write(recs, out)
    elif args.format == "datacite":
        path = datacite.write(recs, out)
    elif args.format == "jsonl":
        path = jsonl.write(recs, out)
    else:
        try:
            path = bag.write(recs, root, out)
        except FileExistsError as exc:
            raise CliError(str(exc)) from exc
    record_access(catalog, ids)  # exported files were used: the tiering rules keep them warm
    print(json.dumps({"format": args.format, "files": len(ids), "output": str(path)}))
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    from capture.catalog.links import compute_links

    root, catalog = _open(args)
    counts = compute_links(catalog, root, run_id=args.run_id)
    print(json.dumps(counts, indent=2))
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    from capture.catalog.links import list_links

    _, catalog = _open(args)
    rows = list_links(catalog, kind=args.kind, path=args.path)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        for r in rows:
            print(
                f"{r['kind']:28} {r['source_path']} [{r['source_key']}] -> {r['target_path']}"
                f" [{r['target_key']}] score={r['score']}"
            )
    return 0
