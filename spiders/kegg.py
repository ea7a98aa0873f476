"""KEGG REST API (rest.kegg.jp): database lists, flat-file entries and link tables.

Protocol (KEGG API manual https://www.kegg.jp/kegg/rest/keggapi.html):

* ``/list/<db>``: one ``<id>\\t<name>`` line per entry. The id prefix changed over time
  (``path:map00010`` in older output, ``map00010`` in 2025 output), so both styles are
  accepted and normalised. ``/list/organism`` has 4 columns
  (``T01001\\thsa\\tHomo sapiens (human)\\tEukaryotes;...``) and is captured as a list only.
* ``/get/<id>+<id>+...``: at most 10 entries per request (kegg_pull paper, Table 7 note),
  returned as concatenated DBGET flat-file entries, each ending with a ``///`` line (sample
  ``get_ec_6.2.1.25.txt``). Ids are always sent as ``<db prefix>:<id>`` (``path:map00010``,
  ``ec:6.2.1.25``), which /get accepts whichever style /list used; bare EC numbers would not be
  KEGG identifiers.
* ``/link/<target>/<source>``: ``ko:K00001\\tpath:map00010`` pairs.
* Limit: "Please also limit your API calls up to 3 times per second. Otherwise, your access
  will be blocked." (KEGG REST page quoted in biopython PR #4464); blocked requests get 403
  (kegg_pull ``rest.py``; biopython issue #4459). No sizes or checksums exist.

What is captured (KEGG data, not web pages): each ``/list/<db>`` output as
``list/<db>.txt``; the entries of each database sorted by id and cut into chunks of 10, each
chunk one file ``get/<db>/<db>_<n>.txt`` whose URL is its ``/get/...`` request (so chunk
membership is stable across runs while the database is unchanged); configured link tables as
``link/<target>/<source>.txt``.

``inspect_file`` counts a chunk's entries (``///`` terminators) and ENTRY ids against the ids
requested. A body whose last entry is not terminated (cut short) or that holds no entry at all
is quarantined. Ids that /list names but /get does not return are only *recorded*
(``missing_ids``): KEGG answers /get with the entries that exist (404 only when none does), so
the file is still KEGG's exact answer, its other entries are good, and fetching it again cannot
bring the missing entry back.

Arguments: ``-a databases=pathway,module,ko,compound,reaction,organism`` (default),
``-a links=pathway:ko`` (comma-separated ``<target>:<source>`` pairs, each fetched as
``/link/<target>/<source>``), ``-a max_entries=N`` (first N ids of each database, for
sampling), ``-a base_url=...``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from pydantic import Field, field_validator
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider
from spiders.params import CommaList, PositiveInt

#: /get accepts at most 10 entries per request (kegg_pull, BMC Bioinformatics 2023, Table 7).
GET_BATCH = 10

#: Database -> the prefix KEGG uses in its ids (``path:map00010``, ``cpd:C00001``).
DB_PREFIX = {
    "pathway": "path",
    "brite": "br",
    "module": "md",
    "ko": "ko",
    "genome": "gn",
    "compound": "cpd",
    "glycan": "gl",
    "reaction": "rn",
    "rclass": "rc",
    "enzyme": "ec",
    "network": "ne",
    "variant": "hsa_var",
    "disease": "ds",
    "drug": "dr",
    "dgroup": "dg",
}
#: Databases that are captured as a list only (``/get`` of their ids is another database).
LIST_ONLY = {"organism"}
LIST_COLUMNS = {"organism": 4}
DEFAULT_DATABASES = "pathway,module,ko,compound,reaction,organism"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def bare_id(kegg_id: str) -> str:
    """``path:map00010`` -> ``map00010``; ``map00010`` stays as it is."""
    return kegg_id.split(":", 1)[1] if ":" in kegg_id else kegg_id


def list_rows(text: str, columns: int = 2) -> tuple[list[list[str]], int]:
    """Rows of a tab-separated KEGG list/link body and the number of malformed lines."""
    rows, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < columns or not fields[0].strip():
            bad += 1
            continue
        rows.append([f.strip() for f in fields])
    return rows, bad


def entry_id(entry_line: str) -> str | None:
    """The id of a flat-file ``ENTRY`` line (``EC 6.2.1.25`` -> ``6.2.1.25``)."""
    tokens = entry_line.split()[1:]
    if not tokens:
        return None
    if tokens[0] == "EC" and len(tokens) > 1:
        return tokens[1]
    return tokens[0]


def flatfile_entries(text: str) -> tuple[list[str | None], bool]:
    """ENTRY ids of the complete entries of a DBGET flat file, and whether text follows the
    last ``///`` (an entry cut short)."""
    ids: list[str | None] = []
    current: str | None = None
    pending = False
    for line in text.splitlines():
        if line.rstrip() == "///":
            ids.append(current)
            current, pending = None, False
            continue
        if line.strip():
            pending = True
            if line.startswith("ENTRY") and current is None:
                current = entry_id(line)
    return ids, pending


class KeggParams(CaptureParams):
    databases: CommaList = Field(
        default=DEFAULT_DATABASES.split(","),
        description="KEGG databases to capture: each /list/<db>, and its entries through /get",
    )
    links: CommaList = Field(
        default=[], description="link tables as <target>:<source> pairs, e.g. pathway:ko"
    )
    max_entries: PositiveInt | None = Field(
        None, description="only the first N ids of each database (sampling)"
    )

    @field_validator("databases")
    @classmethod
    def _databases(cls, value: list[str]) -> list[str]:
        for db in value:
            if not NAME.match(db):
                raise ValueError(f"not a KEGG database name: {db!r}")
        return value

    @field_validator("links")
    @classmethod
    def _links(cls, value: list[str]) -> list[str]:
        for pair in value:
            target, sep, source = pair.partition(":")
            if not sep or not NAME.match(target) or not NAME.match(source):
                raise ValueError(f"links takes <target>:<source>, got {pair!r}")
        return value


class KeggSpider(CaptureSpider, Args[KeggParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: KeggParams
    name = "kegg"
    domain = "astrobiology"
    publisher = {"name": "KEGG (Kanehisa Laboratories)", "url": "https://www.kegg.jp/"}
    formats = ("kegg_flat", "tsv")
    scope = (
        "KEGG lists and flat-file entries of pathway, module, ko, compound, reaction and "
        "organism (the mission's pathways, compounds and enzymes), at most 3 requests/s"
    )
    default_base_url = "https://rest.kegg.jp"
    #: "limit your API calls up to 3 times per second" (KEGG REST page, biopython PR #4464):
    #: a process-wide token bucket (middlewares/ratelimit.py), shared with every crawler.
    rate_limit = 3.0
    custom_settings = {
        # One request at a time, and at least 0.4 s between the moments requests leave the
        # downloader slot: the token bucket is taken before a request waits for its slot, so
        # a slow response could bunch the next sends; the slot delay spaces the actual sends
        # (any 4 span at least 1.2 s), so no second on the wire holds more than KEGG's 3.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 0.4,
        "DOWNLOAD_DELAY_JITTER": 0,
        # 403 is KEGG's "too many requests" (kegg_pull rest.py; biopython #4459): back off
        # exponentially (with jitter) and try again instead of failing.
        "RETRY_HTTP_CODES": [403, 408, 429, 500, 502, 503, 504, 522, 524],
        "RETRY_TIMES": 6,
        "CAPTURE_RETRY_BACKOFF_BASE": 2.0,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.databases = list(self.args.databases)
        self.links = [tuple(p.split(":", 1)) for p in self.args.links]
        self.max_entries = self.args.max_entries

    # -- discovery -------------------------------------------------------------------------
    async def discover(self) -> AsyncIterator[Any]:
        for db in self.databases:
            yield self.list_item(db)
            if db not in LIST_ONLY:
                yield scrapy.Request(
                    self.archive_url(f"list/{db}"),
                    callback=self.parse_list,
                    errback=self.listing_failed,
                    cb_kwargs={"db": db},
                    dont_filter=True,
                )
        for target, source in self.links:
            yield self.new_file(
                self.archive_url(f"link/{target}/{source}"),
                f"link/{target}/{source}.txt",
                format="tsv",
                metadata={"operation": "link", "target": target, "source": source},
            )

    def list_item(self, db: str) -> CapturedFile:
        return self.new_file(
            self.archive_url(f"list/{db}"),
            f"list/{db}.txt",
            format="tsv",
            metadata={"operation": "list", "database": db},
        )

    def request_id(self, db: str, kegg_id: str) -> str:
        """The id sent to /get: always ``<prefix>:<id>``, whatever style /list used."""
        if ":" in kegg_id:
            return kegg_id
        return f"{DB_PREFIX.get(db, db)}:{kegg_id}"

    def parse_list(self, response: Response, db: str) -> Iterator[CapturedFile]:
        stats = self.crawler.stats
        rows, bad = list_rows(response.body.decode("utf-8", "replace"), LIST_COLUMNS.get(db, 2))
        if bad:
            stats.inc_value(f"kegg/list/{db}/malformed_lines", bad)
            self.logger.warning("/list/%s: %d malformed line(s) skipped", db, bad)
        ids = sorted({self.request_id(db, row[0]) for row in rows}, key=bare_id)
        styles = {":" in row[0] for row in rows}
        stats.set_value(f"kegg/list/{db}/entries", len(ids))
        stats.set_value(
            f"kegg/list/{db}/id_style",
            "mixed" if len(styles) > 1 else ("prefixed" if True in styles else "bare"),
        )
        if self.max_entries is not None:
            ids = ids[: self.max_entries]
        for n, start in enumerate(range(0, len(ids), GET_BATCH)):
            chunk = ids[start : start + GET_BATCH]
            stats.inc_value("kegg/get/chunks")
            yield self.new_file(
                self.archive_url("get/" + "+".join(chunk)),
                f"get/{db}/{db}_{n:05d}.txt",
                format="text",
                metadata={
                    "operation": "get",
                    "database": db,
                    "chunk": n,
                    "requested_ids": chunk,
                    "requested": len(chunk),
                },
            )

    # -- inspection (IO thread) ------------------------------------------------------------
    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        operation = item.metadata.get("operation")
        if operation == "get":
            return self.inspect_entries(item, text)
        columns = (
            2 if operation == "link" else LIST_COLUMNS.get(item.metadata.get("database") or "", 2)
        )
        rows, bad = list_rows(text, columns)
        if not rows:
            raise InspectionProblem(f"{item.archive_path}: no tab-separated KEGG rows in the body")
        found: dict[str, Any] = {"entries": len(rows), "malformed_lines": bad}
        if operation == "list":
            prefixed = sum(1 for r in rows if ":" in r[0])
            found["id_style"] = (
                "prefixed" if prefixed == len(rows) else "bare" if not prefixed else "mixed"
            )
        return found

    def inspect_entries(self, item: CapturedFile, text: str) -> dict[str, Any]:
        ids, cut_short = flatfile_entries(text)
        if cut_short:
            raise InspectionProblem(
                f"{item.archive_path}: the last flat-file entry is not terminated by '///' "
                f"(body cut short after {len(ids)} complete entries)",
                metadata={"entries": len(ids)},
            )
        if not ids:
            raise InspectionProblem(f"{item.archive_path}: no KEGG flat-file entry in the body")
        requested = [bare_id(i) for i in item.metadata.get("requested_ids", [])]
        got = [i for i in ids if i]
        missing = [i for i in requested if i not in got]
        extra = [i for i in got if i not in requested]
        return {
            "entries": len(ids),
            "entry_ids": got,
            "missing_ids": missing,
            "unexpected_ids": extra,
            "complete": not missing,
        }
