"""A listing page that only exists after JavaScript runs is crawled through headless Chromium
(scrapy-playwright with the system browser); the files themselves are streamed, not browsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capture.transfer.playwright import chromium_path
from tests.archives import Blob
from tests.archives.kurucz import model_atmospheres
from tests.archives.server import ArchiveServer, Reply
from tests.crawl import run_crawl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_path() is None, reason="no Chromium on this machine (CI installs it)"
    ),
]

PAGE = """<!DOCTYPE html><html><head><title>Index of /grids/gridJS</title></head>
<body><h1>Index of /grids/gridJS</h1><pre id="listing">loading…</pre>
<script>
  const files = %s;
  document.getElementById("listing").innerHTML = files.map(
    f => `<a href="${f.name}">${f.name}</a>          13-Apr-2011 15:07  ${f.size}`).join("\\n");
</script></body></html>"""


def test_js_rendered_listing_is_crawled_through_chromium(tmp_path: Path) -> None:
    blobs = {
        f"ap{i:02d}k2.dat": Blob.of(model_atmospheres([5000 + 250 * i], 4.5)) for i in range(3)
    }
    with ArchiveServer() as server:
        listing = [{"name": n, "size": "20K"} for n in blobs]
        server.add(
            "/grids/gridJS/",
            Reply(PAGE.replace("%s", json.dumps(listing)).encode(), content_type="text/html"),
        )
        for name, blob in blobs.items():
            server.add(f"/grids/gridJS/{name}", blob)
        server.add("/grids.html", Reply(b"<html><body></body></html>", content_type="text/html"))
        args = {"base_url": server.base_url, "root": "/grids/gridJS/"}
        plain = run_crawl("kurucz", tmp_path / "plain", args=args)
        assert plain.returncode == 0 and plain.items == []  # no links without JavaScript
        rendered = run_crawl(
            "kurucz", tmp_path / "js", args={**args, "render_js": "1"}, timeout=300
        )
        assert rendered.returncode == 0, rendered.log[-3000:]
        assert {Path(i["archive_path"]).name: i["status"] for i in rendered.items} == {
            n: "stored" for n in blobs
        }
        for item in rendered.items:
            blob = blobs[Path(item["archive_path"]).name]
            assert item["sha256"] == blob.sha256
        # The listing went through the browser; the files did not (plain GETs, streamed).
        assert "playwright" in rendered.log.lower()
        for name in blobs:
            (entry,) = server.requests_for(f"/grids/gridJS/{name}", "GET")
            assert "headlesschrome" not in entry.headers.get("user-agent", "").lower()
