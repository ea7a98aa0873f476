"""``capture spiders``: every archive spider with its domain, default scope and declared
arguments (read from the spiders themselves; ``--markdown`` prints the README's table)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from spiders.base import CaptureSpider

#: Arguments every spider takes, left out of the per-spider column.
COMMON = ("base_url", "render_js", "_job")


def spider_rows() -> list[dict[str, Any]]:
    from scrapy.spiderloader import SpiderLoader
    from scrapy_spider_metadata import get_spider_metadata

    from capture.domains import ORDER
    from capture.project import project_settings

    loader = SpiderLoader.from_settings(project_settings())
    rows = []
    for name in loader.list():
        cls = cast("type[CaptureSpider]", loader.load(name))  # every project spider is one
        decl = cls.declaration()
        schema = get_spider_metadata(cls, normalize=True)["param_schema"]
        args = {
            k: {"description": v.get("description", ""), "default": v.get("default")}
            for k, v in schema.get("properties", {}).items()
            if k not in COMMON
        }
        rows.append({**decl, "arguments": args})
    rows.sort(key=lambda r: (ORDER.index(r["domain"]), r["spider"]))
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| spider | domain | with no arguments it captures | arguments |",
        "|---|---|---|---|",
    ]
    for r in rows:
        args = ", ".join(f"`{a}=`" for a in r["arguments"]) or "none"
        lines.append(f"| `{r['spider']}` | {r['domain']} | {r['scope']} | {args} |")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("spiders", help="list the archive spiders, their scope and arguments")
    p.add_argument("--json", action="store_true", help="machine-readable, with help texts")
    p.add_argument("--markdown", action="store_true", help="the README's spider table")
    p.set_defaults(func=cmd_spiders)


def cmd_spiders(args: argparse.Namespace) -> int:
    rows = spider_rows()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif args.markdown:
        print(markdown(rows))
    else:
        for r in rows:
            print(f"{r['spider']:24} {r['domain']:20} {r['scope']}")
            for a, info in r["arguments"].items():
                default = "" if info["default"] in (None, [], "") else f" [{info['default']}]"
                print(f"    -a {a}=  {info['description']}{default}")
    return 0
