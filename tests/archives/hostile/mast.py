"""A MAST portal whose paging lies (issue 13, attack 8).

:class:`HostileMastArchive` is the ordinary MAST emulator (:class:`tests.archives.mast.
MastArchive`: real envelope, filters, products, viz, downloads) whose ``Mast.Caom.Filtered`` and
(optionally) ``Mast.Caom.Products`` answers claim ``pagesFiltered`` = ``claimed_pages`` (10^6 by
default) and ``rowsFiltered`` to match, for every page. The real pages are served as they are;
past them, by ``mode``:

* ``then_empty``: empty pages forever (``data: []``);
* ``same_page``: the last real page again, for every page number;
* ``stale``: pages made only of rows already served, each time a different mix (no page
  repeats, but no row is new);
* ``distinct``: fresh rows forever (synthetic observations without products, or product rows
  the default filters skip), so only a page cap can stop it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from tests.archives.mast import MastArchive, row_matches
from tests.archives.server import Reply, Request

FILTERED = "Mast.Caom.Filtered"
PRODUCTS = "Mast.Caom.Products"
MODES = ("then_empty", "same_page", "stale", "distinct")


@dataclass
class HostileMastArchive(MastArchive):
    mode: str = "then_empty"
    claimed_pages: int = 1_000_000
    services: tuple[str, ...] = (FILTERED, PRODUCTS)

    def __post_init__(self) -> None:
        assert self.mode in MODES, self.mode
        super().__post_init__()

    def invoke(self, req: Request) -> Reply:
        reply = super().invoke(req)
        try:
            request = json.loads(parse_qs(req.body.decode())["request"][0])
            doc = json.loads(reply.body)
        except (KeyError, ValueError, UnicodeDecodeError):
            return reply  # the honest emulator's error (or a malformed answer) as it is
        if request.get("service") not in self.services or doc.get("status") != "COMPLETE":
            return reply
        page, size = int(request["page"]), int(request["pagesize"])
        real_pages = max(1, -(-int(doc["paging"]["rowsFiltered"]) // size))
        if page > real_pages:
            rows = self._rows_after_the_end(request, page, real_pages, size)
            doc["data"] = rows
        doc["paging"].update(
            page=page,
            pagesFiltered=self.claimed_pages,
            rows=len(doc["data"]),
            rowsFiltered=self.claimed_pages * size,
            rowsTotal=self.claimed_pages * size,
        )
        return Reply(json.dumps(doc).encode(), content_type=reply.content_type)

    def _rows_after_the_end(
        self, request: dict[str, Any], page: int, real_pages: int, size: int
    ) -> list[dict[str, Any]]:
        """The rows of a page past the real ones, by ``mode``."""
        if self.mode == "then_empty":
            return []
        real = self._real_rows(request)
        if self.mode == "same_page":
            return real[(real_pages - 1) * size : real_pages * size]
        if self.mode == "stale":
            # A sliding window of old rows (one row of a short list, two of a longer one): a
            # page unlike the real ones but without a new row. A one-row list can only repeat.
            start, width = page % len(real), 1 if len(real) <= 2 else 2
            return [real[(start + k) % len(real)] for k in range(width)]
        return [self._synthetic(request["service"], page, i) for i in range(size)]

    def _real_rows(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        if request["service"] == FILTERED:
            filters = request["params"]["filters"]
            return [o for o in self.observations if all(row_matches(o, f) for f in filters)]
        ids = [i.strip() for i in str(request["params"]["obsid"]).split(",")]
        return self._product_rows(ids)

    def _synthetic(self, service: str, page: int, i: int) -> dict[str, Any]:
        """A fresh row: an observation no product belongs to, or a product the default
        filters skip (PREVIEW), so "distinct forever" costs requests, never files."""
        obsid = f"8{page:08d}{i:04d}"
        if service == FILTERED:
            template = self.observations[0] if self.observations else {}
            return {**template, "obsid": obsid, "obs_id": f"jw9{page:07d}-o{i:03d}_fake"}
        name = f"jw9{page:07d}-o{i:03d}_fake_x1d.jpg"
        return {
            "obsID": obsid,
            "obs_collection": "JWST",
            "dataURI": f"mast:JWST/product/{name}",
            "productFilename": name,
            "productType": "PREVIEW",
            "productSubGroupDescription": "X1D",
            "dataRights": "PUBLIC",
            "calib_level": 3,
            "size": 1000,
        }
