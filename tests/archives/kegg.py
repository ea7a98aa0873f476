"""KEGG REST emulator: ``/list/<db>``, ``/get/<id>+<id>...`` and ``/link/<target>/<source>``,
with KEGG's limit of 3 requests per second *enforced*.

Formats (KEGG API manual, https://www.kegg.jp/kegg/rest/keggapi.html): lists are
``<id>\\t<name>`` lines, with or without the ``path:``-style prefix (``prefixed`` per database:
KEGG changed style over time); ``/list/organism`` has 4 columns; ``/get`` returns the DBGET
flat-file entries of the ids that exist, each ending with ``///`` (404 when none exists, 400 for
more than 10); ``/link`` returns ``ko:K00001\\tpath:map00010`` pairs. Every request is checked
against the request log: a request that arrives while 3 others arrived within the last second
gets 403, KEGG's answer to clients that go too fast, and is recorded in
:attr:`KeggArchive.rate_violations`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.archives.server import ArchiveServer, Reply, Request

PREFIX = {
    "pathway": "path",
    "module": "md",
    "ko": "ko",
    "compound": "cpd",
    "reaction": "rn",
    "enzyme": "ec",
}
KIND = {
    "pathway": "Pathway",
    "module": "Pathway   Module",
    "ko": "KO",
    "compound": "Compound",
    "reaction": "Reaction",
    "enzyme": "Enzyme",
}
TEXT = "text/plain; charset=utf-8"


def flat_entry(db: str, bare: str, name: str) -> str:
    """A synthetic DBGET flat-file entry in KEGG's 12-column layout, ending with ``///``."""
    shown = f"EC {bare}" if db == "enzyme" else bare
    return (
        f"ENTRY       {shown:<28}{KIND.get(db, db)}\n"
        f"NAME        {name}\n"
        f"CLASS       Synthetic; emulator\n"
        f"            continuation line of the CLASS field\n"
        f"DBLINKS     EMU: {bare}\n"
        "///\n"
    )


@dataclass
class KeggEntry:
    db: str
    bare: str
    name: str
    text: str


@dataclass
class KeggArchive:
    server: ArchiveServer
    #: Requests allowed per ``window`` seconds before KEGG answers 403.
    limit: int = 3
    window: float = 1.0
    entries: dict[str, dict[str, KeggEntry]] = field(default_factory=dict)
    prefixed: dict[str, bool] = field(default_factory=dict)
    organisms: list[tuple[str, str, str, str]] = field(default_factory=list)
    links: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    #: Ids /list names but /get does not return (entry withdrawn).
    withheld: set[str] = field(default_factory=set)
    #: Ids whose entry /get serves cut short (no ``///``).
    cut_short: set[str] = field(default_factory=set)
    rate_violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.add_prefix("/list/", self._list)
        self.server.add_prefix("/get/", self._get)
        self.server.add_prefix("/link/", self._link)

    # -- corpus ----------------------------------------------------------------------------
    def add_database(self, db: str, count: int, *, prefixed: bool = True) -> list[str]:
        """``count`` synthetic entries; returns their bare ids in list order."""
        self.prefixed[db] = prefixed
        table = self.entries.setdefault(db, {})
        ids = []
        for i in range(count):
            bare = {
                "pathway": f"map{10 + 10 * i:05d}",
                "module": f"M{1 + i:05d}",
                "ko": f"K{1 + i:05d}",
                "compound": f"C{1 + i:05d}",
                "reaction": f"R{1 + i:05d}",
                "enzyme": f"1.1.1.{1 + i}",
            }[db]
            name = f"{db} entry {i} of the emulator"
            table[bare] = KeggEntry(db, bare, name, flat_entry(db, bare, name))
            ids.append(bare)
        return ids

    def add_entry(self, db: str, bare: str, name: str, text: str) -> None:
        self.entries.setdefault(db, {})[bare] = KeggEntry(db, bare, name, text)

    def body_for(self, request_ids: list[str]) -> bytes:
        """What /get answers for these ids (for sha256 comparisons in tests)."""
        parts = []
        for rid in request_ids:
            entry = self._find(rid)
            if entry is None or entry.bare in self.withheld:
                continue
            text = entry.text
            if entry.bare in self.cut_short:
                text = text[: len(text) // 2]
            parts.append(text)
        return "".join(parts).encode()

    # -- protocol --------------------------------------------------------------------------
    def _too_fast(self, req: Request) -> Reply | None:
        now = time.time()
        recent = [e for e in list(self.server.log) if e.at > now - self.window]
        if len(recent) > self.limit:
            self.rate_violations.append(f"{req.path} at {now:.3f} ({len(recent)} in 1 s)")
            return Reply(b"Forbidden\n", 403, content_type=TEXT)
        return None

    def _list(self, req: Request) -> Reply:
        blocked = self._too_fast(req)
        if blocked:
            return blocked
        db = req.path[len("/list/") :]
        if db == "organism":
            lines = ["\t".join(row) for row in self.organisms]
        elif db in self.entries:
            pre = PREFIX.get(db, db) + ":" if self.prefixed.get(db, True) else ""
            lines = [f"{pre}{e.bare}\t{e.name}" for e in self.entries[db].values()]
        else:
            return Reply(b"", 400, content_type=TEXT)  # KEGG: 400 for a wrong database name
        return Reply(("\n".join(lines) + "\n").encode(), content_type=TEXT)

    def _find(self, rid: str) -> KeggEntry | None:
        prefix, _, bare = rid.rpartition(":")
        for db, table in self.entries.items():
            if prefix and PREFIX.get(db, db) != prefix:
                continue
            if bare in table:
                return table[bare]
        return None

    def _get(self, req: Request) -> Reply:
        blocked = self._too_fast(req)
        if blocked:
            return blocked
        ids = [i for i in req.path[len("/get/") :].split("+") if i]
        if len(ids) > 10:
            return Reply(b"", 400, content_type=TEXT)
        body = self.body_for(ids)
        if not body:
            return Reply(b"", 404, content_type=TEXT)
        return Reply(body, content_type=TEXT)

    def _link(self, req: Request) -> Reply:
        blocked = self._too_fast(req)
        if blocked:
            return blocked
        target, _, source = req.path[len("/link/") :].partition("/")
        rows = self.links.get((target, source))
        if rows is None:
            return Reply(b"", 400, content_type=TEXT)
        return Reply(("".join(f"{a}\t{b}\n" for a, b in rows)).encode(), content_type=TEXT)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of timestamps inside any half-open window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def default_archive(server: ArchiveServer, workdir: object = None) -> dict[str, str]:
    """A small KEGG for a no-argument crawl: every database the spider captures by default
    (pathway, module, ko, compound, reaction; organism as a list), a few entries each, both
    id styles, so the default scope is exercised in a few seconds at 3 requests/s."""
    kegg = KeggArchive(server)
    kegg.add_database("pathway", 3, prefixed=True)
    kegg.add_database("module", 2, prefixed=False)
    kegg.add_database("ko", 3, prefixed=True)
    kegg.add_database("compound", 4, prefixed=False)
    kegg.add_database("reaction", 2, prefixed=True)
    kegg.organisms = [
        ("T01001", "hsa", "Homo sapiens (human)", "Eukaryotes;Animals;Vertebrates;Mammals"),
        ("T00007", "eco", "Escherichia coli K-12 MG1655", "Prokaryotes;Bacteria"),
    ]
    return {}
