"""End-to-end crawl of the PDS gravity spider against the PDS Geosciences emulator: four
volumes (IIS listings), SHADR tables captured with their labels, the label's FILE_RECORDS x
RECORD_BYTES checked (a short table quarantined with the reason), volume md5 manifests in both
published places verified (a wrong md5 quarantined), attached Magellan labels, a table without
a label and a non-SHADR product. One crawl serves every scenario."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.archives import ArchiveServer
from tests.archives.pds_gravity import (
    RECORD,
    PdsGeosciences,
    attached_product,
    shadr_label,
    shadr_table,
)
from tests.archives.samples import sample_path, samples_root
from tests.crawl import CrawlResult, catalog_rows, run_crawl, sha256

SAMPLE = ("pds_geosciences", "jgmro_110b_sha.tab.head_deg8")
MARS = "mro/mro-m-rss-5-sdp-v1/mrors_1xxx"
MOON = "grail/grail-l-lgrs-5-rdr-v1/grail_1001"
VENUS = "mgn/mgn-v-rss-5-gravity-l2-v1/mg_5201"
MERCURY = "messenger/mess-h-rss_mla-5-sdp-v1/messrs_1001"
MRO = {
    "target": "MARS",
    "host": "MARS RECONNAISSANCE ORBITER",
    "data_set_id": "MRO-M-RSS-5-SDP-V1.0",
}
GRAIL = {"target": "MOON", "host": "GRAIL-A", "data_set_id": "GRAIL-L-LGRS-5-RDR-V1.0"}
MGN = {"target": "VENUS", "host": "MAGELLAN", "data_set_id": "MGN-V-RSS-5-GRAVITY-L2-V1.0"}
MESS = {"target": "MERCURY", "host": "MESSENGER", "data_set_id": "MESS-H-RSS/MLA-5-SDP-V1.0"}


def add_pair(
    pds: PdsGeosciences, directory: str, name: str, table: bytes, labels: dict, extra: int = 0
) -> None:
    pds.add(f"{directory}/{name}", table)
    records = len(table) // RECORD + extra
    pds.add(f"{directory}/{name[:-4]}.lbl", shadr_label(name, records, **labels).encode())


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, dict[str, Any]]]:
    with ArchiveServer() as server:
        pds = PdsGeosciences(server)
        root = samples_root()
        real = root / Path(*SAMPLE) if root else None
        jgmro = (
            real.read_bytes()
            if real is not None and real.exists()
            else shadr_table(3396.0, 42828.3745, 8)
        )
        # Mars: the real table excerpt with a matching label; a table shorter than its label
        # says; a table whose md5 in the volume manifest is wrong. Manifest: index/md5.tab.
        shadr = f"{MARS}/data/shadr"
        add_pair(pds, shadr, "jgmro_110b_sha.tab", jgmro, MRO)
        add_pair(pds, shadr, "ggmro_006x_sha.tab", shadr_table(3396.0, 42828.37, 6), MRO, extra=5)
        add_pair(pds, shadr, "gmm3_005x_sha.tab", shadr_table(3396.0, 42828.37, 5), MRO)
        pds.add(f"{MARS}/aareadme.txt", b"PDS_VERSION_ID = PDS3\r\nEND\r\n")
        sums = {
            path: ("0" * 32 if path.endswith("gmm3_005x_sha.tab") else pds.md5(path))
            for path in pds.tree.files
            if path.startswith(shadr)
        }
        pds.add(
            f"{MARS}/index/md5.tab",
            "".join(
                f"{md5}  \\{p[len(MARS) + 1 :].replace('/', chr(92)).upper()}\r\n"
                for p, md5 in sums.items()
            ).encode(),
        )
        # Moon: md5 files beside the volume, named <volume>_<date>.md5; the newest one counts.
        add_pair(
            pds, f"{MOON}/shadr", "gggrx_0010a_sha.tab", shadr_table(1738.0, 4902.8, 10), GRAIL
        )
        pds.add(f"{MOON}/shadr/jggrx_0006x_sha.tab", shadr_table(1738.0, 4902.8, 6))  # no label
        moon = [p for p in pds.tree.files if p.startswith(MOON)]
        dataset = MOON.rsplit("/", 1)[0]
        newest = "".join(f"{pds.md5(p)} *{p[len(dataset) + 1 :]}\n" for p in moon)
        pds.add(f"{dataset}/grail_1001_20240105.md5", newest.encode())
        stale = "".join(f"{'f' * 32}  {p[len(dataset) + 1 :]}\n" for p in moon)
        pds.add(f"{dataset}/grail_1001_20200101.md5", stale.encode())
        # Venus: attached labels, one product cut short by one record; no manifest at all.
        good = attached_product("shgj006u.a01", shadr_table(6051.0, 324858.59, 6), **MGN)
        pds.add(f"{VENUS}/gravity/shgj006u.a01", good)
        cut = attached_product("shgj005u.a01", shadr_table(6051.0, 324858.59, 5), **MGN)
        pds.add(f"{VENUS}/gravity/shgj005u.a01", cut[:-RECORD])
        # Mercury: a labelled table and a labelled non-SHADR product (skipped).
        add_pair(
            pds, f"{MERCURY}/data/shadr", "gtmes_008v01_sha.tab", shadr_table(2439.4, 1.0, 8), MESS
        )
        pds.add(
            f"{MERCURY}/data/shadr/mla_topo.lbl",
            b"PDS_VERSION_ID = PDS3\r\nRECORD_TYPE = FIXED_LENGTH\r\nRECORD_BYTES = 4\r\n"
            b'FILE_RECORDS = 2\r\n^IMAGE = "MLA_TOPO.IMG"\r\nEND\r\n',
        )
        pds.add(f"{MERCURY}/data/shadr/mla_topo.img", b"\x00" * 8)
        data_dir = tmp_path_factory.mktemp("pds") / "data"
        result = run_crawl(
            "pds_gravity",
            data_dir,
            args={"base_url": server.base_url},
            settings={"DOWNLOAD_DELAY": "0.05"},  # the node's 0.5 s pause only slows the test
            timeout=240,
        )
        assert result.returncode == 0, result.log[-3000:]
        yield result, {"pds": pds, "server": server, "jgmro": jgmro}


def meta_of(result: CrawlResult, path: str) -> dict[str, Any]:
    (row,) = catalog_rows(result.data_dir, "select * from files where archive_path=?", path)
    return json.loads(row["file_metadata"])


def test_tables_are_captured_with_their_labels(crawl: tuple) -> None:
    result, env = crawl
    items = result.by_path()
    expected = {
        p
        for p in env["pds"].tree.files
        if not p.endswith(("aareadme.txt", "mla_topo.lbl", "mla_topo.img", "20200101.md5"))
    }
    assert set(items) == expected
    table = items[f"{MERCURY}/data/shadr/gtmes_008v01_sha.tab"]
    label = items[f"{MERCURY}/data/shadr/gtmes_008v01_sha.lbl"]
    assert table["status"] == label["status"] == "stored"
    assert table["metadata"]["label"] == label["archive_path"]
    assert label["metadata"]["describes"] == [table["archive_path"]]
    assert table["metadata"]["product_id"] == "GTMES_008V01_SHA"
    assert table["metadata"]["target_name"] == "MERCURY"
    # the IIS listing's exact size is the expected size
    assert table["expected_size"] == table["size"] == len(env["pds"].body(table["archive_path"]))
    assert result.stats.get("pds_gravity/skipped_not_shadr") == 1
    assert not env["server"].requests_for(f"/{MERCURY}/data/shadr/mla_topo.img")
    for item in result.items:
        assert item["domain"] == "planetary_interior" and item["archive"] == "pds_gravity"


def test_real_shadr_excerpt_with_label(crawl: tuple) -> None:
    sample = sample_path(*SAMPLE).read_bytes()
    result, _ = crawl
    item = result.by_path()[f"{MARS}/data/shadr/jgmro_110b_sha.tab"]
    assert item["status"] == "stored" and item["sha256"] == sha256(sample)
    meta = meta_of(result, item["archive_path"])
    assert meta["label_expected_size"] == len(sample) == 46 * 122 and meta["label_size_ok"]
    header = meta["shadr_header"]
    assert header["reference_radius_km"] == 3396.0 and header["degree"] == 110
    assert header["gm_km3_s2"] == pytest.approx(42828.374526)
    assert item["checksum"]["verified"] is True and item["checksum"]["algorithm"] == "md5"
    # the label's DATA_SET_ID is the citation; the label carries no DOI, so none is given
    cit = item["citation"]
    assert {"type": "PDS DATA_SET_ID", "value": "MRO-M-RSS-5-SDP-V1.0"} in cit["identifiers"]
    assert "doi" not in cit and cit["year"] == 2016 and cit["kind"] == "dataset"
    label = result.by_path()[f"{MARS}/data/shadr/jgmro_110b_sha.lbl"]
    assert label["citation"] == cit


def test_size_from_label_mismatch_is_quarantined(crawl: tuple) -> None:
    result, env = crawl
    path = f"{MARS}/data/shadr/ggmro_006x_sha.tab"
    item = result.by_path()[path]
    size = len(env["pds"].body(path))
    assert item["status"] == "quarantined"
    assert item["checksum"]["verified"] is True  # the transfer was right: the label disagrees
    assert (
        f"is {size} bytes but its PDS3 label says FILE_RECORDS {size // 122 + 5}" in item["error"]
    )
    assert f"RECORD_BYTES 122 = {(size // 122 + 5) * 122} bytes" in item["error"]
    q = result.data_dir / "quarantine" / item["path"]
    assert q.exists() and "PDS3 label says" in (q.parent / (q.name + ".reason.json")).read_text()
    assert result.by_path()[f"{MARS}/data/shadr/ggmro_006x_sha.lbl"]["status"] == "stored"


def test_volume_md5_manifests_are_verified(crawl: tuple) -> None:
    result, env = crawl
    items = result.by_path()
    for path in (f"{MARS}/data/shadr/gmm3_005x_sha.lbl", f"{MOON}/shadr/gggrx_0010a_sha.tab"):
        item = items[path]
        assert item["status"] == "stored" and item["checksum"]["verified"] is True
        assert item["checksum"]["expected"] == env["pds"].md5(path)
    assert items[f"{MARS}/data/shadr/jgmro_110b_sha.lbl"]["checksum"]["source"] == (
        f"{MARS}/index/md5.tab"
    )
    assert items[f"{MOON}/shadr/gggrx_0010a_sha.tab"]["checksum"]["source"] == (
        "grail/grail-l-lgrs-5-rdr-v1/grail_1001_20240105.md5"
    )
    bad = items[f"{MARS}/data/shadr/gmm3_005x_sha.tab"]
    assert bad["status"] == "quarantined" and "md5 mismatch" in bad["error"]
    assert items[f"{MARS}/index/md5.tab"]["status"] == "stored"
    assert items[f"{MARS}/index/md5.tab"]["metadata"]["pds_role"] == "manifest"
    # no manifest: captured with size checks only, after looking in both places
    venus = items[f"{VENUS}/gravity/shgj006u.a01"]
    assert venus["checksum"]["algorithm"] is None and venus["status"] == "stored"
    assert [r.status for r in env["server"].requests_for(f"/{VENUS}/index/")] == [404]
    assert result.stats.get("pds_gravity/volumes_without_manifest") == 2


def test_attached_labels_and_table_without_label(crawl: tuple) -> None:
    result, _ = crawl
    items = result.by_path()
    good = meta_of(result, f"{VENUS}/gravity/shgj006u.a01")
    assert good["label_size_ok"] and good["target_name"] == "VENUS"
    assert (
        good["shadr_header"]["degree"] == 6
        and good["shadr_header"]["reference_radius_km"] == 6051.0
    )
    cut = items[f"{VENUS}/gravity/shgj005u.a01"]
    assert cut["status"] == "quarantined" and "PDS3 label says FILE_RECORDS" in cut["error"]
    orphan = items[f"{MOON}/shadr/jggrx_0006x_sha.tab"]
    assert orphan["status"] == "stored" and orphan["metadata"]["label"] is None
    assert orphan["metadata"]["label_missing"] is True and orphan["checksum"]["verified"] is True


def test_arguments_are_validated() -> None:
    from spiders.base import SpiderArgumentError
    from spiders.pds_gravity import PdsGravitySpider

    spider = PdsGravitySpider(bodies="moon,venus")
    assert [v.volume for v in spider.volumes] == ["grail_1001", "mg_5201"]
    for bad in ({"bodies": "pluto"}, {"products": "images"}):
        with pytest.raises(SpiderArgumentError):
            PdsGravitySpider(**bad)


def test_no_arguments_capture_every_bodys_gravity_field(tmp_path: Path) -> None:
    """The default scope against the default archive, quality scoring on: the SHADR model of
    each of the four bodies (with its label) and Mars's manifest, all passing."""
    from tests.archives.pds_gravity import default_archive

    with ArchiveServer() as server:
        assert default_archive(server, tmp_path / "work") == {}
        result = run_crawl(
            "pds_gravity",
            tmp_path / "data",
            args={"base_url": server.base_url},
            settings={"DOWNLOAD_DELAY": "0.05"},
        )
    assert result.returncode == 0, result.log[-3000:]
    items = result.by_path()
    assert set(items) == {
        f"{MARS}/data/shadr/jgmro_008a_sha.tab",
        f"{MARS}/data/shadr/jgmro_008a_sha.lbl",
        f"{MARS}/index/md5.tab",
        f"{MOON}/shadr/jggrx_0010a_sha.tab",
        f"{MOON}/shadr/jggrx_0010a_sha.lbl",
        f"{VENUS}/gravity/shgj008u.a01",
        f"{MERCURY}/data/shadr/gtmes_008v01_sha.tab",
        f"{MERCURY}/data/shadr/gtmes_008v01_sha.lbl",
    }
    for item in items.values():
        assert item["status"] == "stored", (item["archive_path"], item.get("error"))
        assert item["quality"]["grade"] in ("accepted", "nasa_grade"), item["quality"]
    bodies = {i["metadata"]["body"] for i in items.values()}
    assert bodies == {"mars", "moon", "venus", "mercury"}
    assert items[f"{MARS}/data/shadr/jgmro_008a_sha.tab"]["checksum"]["verified"] is True


def test_absolute_links_to_the_node_are_rerooted(tmp_path: Path) -> None:
    """Listings whose links are absolute URLs, on the real node's host or on the mirror's own
    host:port: both are the archive, fetched from base_url; nothing goes elsewhere."""
    with ArchiveServer() as server:
        pds = PdsGeosciences(server)
        pds.tree.origin = "https://pds-geosciences.wustl.edu"
        add_pair(pds, f"{MOON}/shadr", "gggrx_0006a_sha.tab", shadr_table(1738.0, 4902.8, 6), GRAIL)
        base = server.base_url
        args = {"base_url": base, "bodies": "moon"}
        settings = {"DOWNLOAD_DELAY": "0.05"}
        real = run_crawl("pds_gravity", tmp_path / "real", args=args, settings=settings)
        pds.tree.origin = server.base_url
        mirror = run_crawl("pds_gravity", tmp_path / "mirror", args=args, settings=settings)
        hosts = {e.headers.get("host") for e in server.log}
    expected = {f"{MOON}/shadr/gggrx_0006a_sha.tab", f"{MOON}/shadr/gggrx_0006a_sha.lbl"}
    for result in (real, mirror):
        assert result.returncode == 0, result.log[-3000:]
        assert result.statuses() == dict.fromkeys(expected, "stored")
        assert all(i["url"].startswith(base + "/") for i in result.items)
        table = result.by_path()[f"{MOON}/shadr/gggrx_0006a_sha.tab"]
        assert table["expected_size"] == table["size"]  # the IIS size still applies
    assert hosts == {base.removeprefix("http://")}


def test_declared_parameters() -> None:
    from spiders.params import SpiderArgumentError
    from spiders.pds_gravity import VOLUMES, PdsGravitySpider

    spider = PdsGravitySpider()
    assert [v.body for v in spider.volumes] == list(VOLUMES) and spider.products == "shadr"
    spider = PdsGravitySpider(bodies="Mars, moon,mars", products="all")
    assert [v.body for v in spider.volumes] == ["mars", "moon"] and spider.products == "all"
    assert [v.body for v in PdsGravitySpider(bodies="").volumes] == list(VOLUMES)
    for bad, name in (({"bodies": "pluto"}, "bodies"), ({"products": "images"}, "products")):
        with pytest.raises(SpiderArgumentError) as err:
            PdsGravitySpider.check_args(bad)
        message = str(err.value)
        assert message.startswith(f"pds_gravity: {name}") and "\n" not in message, message
