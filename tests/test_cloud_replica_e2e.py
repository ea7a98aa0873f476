"""Open cloud replicas (issue 17 item 3): real ``scrapy crawl`` processes read files from moto's
S3 server (real HTTP on 127.0.0.1, behind a pacing proxy that records each GET's headers)
anonymously, while the archives' APIs come from their emulators.

* ``jwst_mast -a replica=cloud``: MAST's path_lookup maps products to ``s3://stpubdata`` keys;
  bytes come from the bucket, MAST's md5 (viz) is what verifies them; a multipart-ETag object
  is stored with its ETag recorded, never compared as an md5; a product with no cloud copy
  comes from MAST; a wrong MAST md5 still quarantines; no request is signed.
* ``thousand_genomes -a replica=cloud``: SIGKILL in the middle of a cloud object, then the
  next run resumes it with a ranged GET bound to the ETag (``Range`` + ``If-Match``); an
  object replaced in between restarts from byte 0.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import ArchiveServer, Blob, Fault
from tests.archives.mast import DOWNLOAD, PATH_LOOKUP, MastArchive
from tests.archives.s3 import MotoS3, PacingProxy
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import catalog_rows, kill, run_crawl, sha256_of, start_crawl, wait_for

pytest.importorskip("moto")
pytestmark = pytest.mark.slow

MB = 1024 * 1024
X1D = "jw01366-o001_t001_nirspec_clear-prism_x1d.fits"
X1DINTS = "jw01366001001_04101_00001-seg001_nrs1_x1dints.fits"
NOT_IN_CLOUD = "jw01366-o001_t002_nirspec_clear-prism_x1d.fits"
WRONG_MD5 = "jw01366-o002_t001_nirspec_g395h-f290lp_x1d.fits"
# No AWS credential reaches a crawl: the replica client is unsigned and must not need one.
NO_AWS = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    s3 = MotoS3()
    yield s3
    s3.stop()


@pytest.fixture
def proxy(moto: MotoS3) -> Iterator[PacingProxy]:
    p = PacingProxy(moto.port)
    yield p
    p.stop()


def env_without_aws() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **NO_AWS}


def test_jwst_mast_replica_cloud_fetches_from_stpubdata_with_mast_md5_verified(
    moto: MotoS3, proxy: PacingProxy, server: ArchiveServer, data_dir: Path
) -> None:
    mast = MastArchive(server)
    obs = mast.add_observation("95000001", "jw01366-o001_t001_nirspec_clear-prism")
    x1d = mast.add_product(obs, X1D, subgroup="X1D", size=12_000)
    ints = mast.add_product(obs, X1DINTS, subgroup="X1DINTS", calib_level=2, size=11 * MB)
    local = mast.add_product(obs, NOT_IN_CLOUD, subgroup="X1D", size=9_000)
    local.in_cloud = False
    bad = mast.add_product(obs, WRONG_MD5, subgroup="X1D", size=7_000, viz="wrong_md5")
    base = mast.install()
    single = moto.put("stpubdata", x1d.cloud_key, x1d.blob.read(0, x1d.blob.size))
    multi = moto.put("stpubdata", ints.cloud_key, ints.blob.read(0, ints.blob.size), parts=3)
    moto.put("stpubdata", bad.cloud_key, bad.blob.read(0, bad.blob.size))
    assert multi.strip('"').endswith("-3") and single.strip('"') == x1d.blob.md5

    result = run_crawl(
        "jwst_mast",
        data_dir,
        args={"base_url": base, "replica": "cloud"},
        settings={"CAPTURE_S3_REPLICA_ENDPOINT": proxy.endpoint},
        env=env_without_aws(),
    )
    assert result.returncode == 0, result.log[-3000:]  # quarantine is a final outcome
    items = {i["archive_path"].rsplit("/", 1)[-1]: i for i in result.items}
    assert {n: i["status"] for n, i in items.items()} == {
        X1D: "stored",
        X1DINTS: "stored",
        NOT_IN_CLOUD: "stored",
        WRONG_MD5: "quarantined",
    }
    # The keys astroquery's path_lookup mapping gives, in bucket stpubdata.
    assert items[X1D]["url"] == "s3://stpubdata/jwst/public/jw01366/L3/t/o001/" + X1D
    assert items[X1DINTS]["url"] == ("s3://stpubdata/jwst/public/jw01366/jw01366001001/" + X1DINTS)
    assert items[NOT_IN_CLOUD]["url"].startswith(base + DOWNLOAD)
    for name, product in ((X1D, x1d), (X1DINTS, ints)):
        item = items[name]
        assert item["checksum"] == {
            "algorithm": "md5",
            "expected": product.blob.md5,
            "actual": product.blob.md5,
            "source": "MAST viz keywords/search",
            "verified": True,
        }
        assert sha256_of(data_dir / item["path"]) == product.blob.sha256 == item["sha256"]
    # The multipart ETag is recorded and never taken for an md5; the single-part one is.
    assert items[X1DINTS]["http"]["etag"] == multi
    assert items[X1DINTS]["metadata"]["s3_etag"] == {
        "etag": multi,
        "multipart_parts": 3,
        "compared_as_md5": False,
    }
    assert items[X1D]["metadata"]["s3_etag"]["compared_as_md5"] is True
    assert "MAST viz" in items[WRONG_MD5]["error"] and "md5 mismatch" in items[WRONG_MD5]["error"]
    rows = {r["archive_path"].rsplit("/", 1)[-1]: r for r in catalog_rows(data_dir)}
    assert rows[X1DINTS]["etag"] == multi and rows[X1D]["etag"] == single
    # Bytes of cloud products came from the bucket only, unsigned; MAST served the rest.
    downloads = [e.path for e in server.log if e.path.startswith(DOWNLOAD)]
    assert len(downloads) == 1
    gets = [s for s in proxy.seen if s.method == "GET"]
    assert sorted(s.path.rsplit("/", 1)[-1] for s in gets) == sorted(
        [X1D, X1DINTS, WRONG_MD5, WRONG_MD5]  # one re-transfer after the mismatch
    )
    assert not any("authorization" in s.headers for s in proxy.seen)
    lookups = server.requests_for(PATH_LOOKUP)
    assert len(lookups) == 1 and lookups[0].query.count("uri=") == 4


def test_sigkill_mid_cloud_object_resumes_with_a_ranged_get_bound_to_its_etag(
    moto: MotoS3, proxy: PacingProxy, tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    big = Blob("cloud-big", 48 * MB)
    small = Blob("cloud-small", 70_000)
    tg.add_file("ftp/release/20130502/big.vcf.gz", big)
    tg.add_file("ftp/release/20130502/small.panel", small)
    base = tg.publish()
    etag = moto.put("1000genomes", "release/20130502/big.vcf.gz", big.read(0, big.size))
    moto.put("1000genomes", "release/20130502/small.panel", small.read(0, small.size))
    args = {"base_url": base, "prefix": "ftp/release/", "replica": "cloud"}
    settings = {
        "CAPTURE_S3_REPLICA_ENDPOINT": proxy.endpoint,
        "CAPTURE_CHECKPOINT_BYTES": str(4 * MB),
        "CAPTURE_WRITE_BUFFER": str(MB),
    }
    part = data_dir / ".partial/genomics/thousand_genomes/vol1/ftp/release/20130502/big.vcf.gz.part"
    proxy.bandwidth = 6 * MB
    proc, _, _ = start_crawl(
        "thousand_genomes", data_dir, args=args, settings=settings, env=env_without_aws()
    )
    assert wait_for(lambda: part.exists() and part.stat().st_size >= 16 * MB, 60)
    kill(proc, signal.SIGKILL)
    assert 0 < part.stat().st_size < big.size

    proxy.bandwidth = None
    result = run_crawl(
        "thousand_genomes", data_dir, args=args, settings=settings, env=env_without_aws()
    )
    assert result.returncode == 0, result.log[-3000:]
    item = result.by_path()["vol1/ftp/release/20130502/big.vcf.gz"]
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    assert item["checksum"]["source"] == "vol1/ftp/current.tree"
    assert item["url"] == "s3://1000genomes/release/20130502/big.vcf.gz"
    assert sha256_of(data_dir / item["path"]) == big.sha256
    resumed = item["resumed_from"]
    assert resumed and resumed % (4 * MB) == 0  # the sidecar's durable offset
    first, second = proxy.gets("big.vcf.gz")
    assert "range" not in first.headers
    assert second.headers["range"] == f"bytes={resumed}-"
    assert second.headers["if-match"] == etag
    assert item["bytes_transferred"] == big.size - resumed


def test_cloud_object_replaced_after_a_kill_restarts_from_byte_zero(
    moto: MotoS3, proxy: PacingProxy, tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    old, new = Blob("cloud-old", 24 * MB), Blob("cloud-new", 24 * MB)
    tg.add_file("ftp/phase3/x.vcf.gz", new)  # current.tree already lists the new file
    base = tg.publish()
    moto.put("1000genomes", "phase3/x.vcf.gz", old.read(0, old.size))
    args = {"base_url": base, "prefix": "ftp/phase3/", "replica": "cloud"}
    settings = {
        "CAPTURE_S3_REPLICA_ENDPOINT": proxy.endpoint,
        "CAPTURE_CHECKPOINT_BYTES": str(2 * MB),
        "CAPTURE_WRITE_BUFFER": str(MB),
    }
    part = data_dir / ".partial/genomics/thousand_genomes/vol1/ftp/phase3/x.vcf.gz.part"
    proxy.bandwidth = 4 * MB
    proc, _, _ = start_crawl(
        "thousand_genomes", data_dir, args=args, settings=settings, env=env_without_aws()
    )
    assert wait_for(lambda: part.exists() and part.stat().st_size >= 6 * MB, 60)
    kill(proc, signal.SIGKILL)
    moto.put("1000genomes", "phase3/x.vcf.gz", new.read(0, new.size))  # new bytes, new ETag

    proxy.bandwidth = None
    result = run_crawl(
        "thousand_genomes", data_dir, args=args, settings=settings, env=env_without_aws()
    )
    assert result.returncode == 0, result.log[-3000:]
    item = result.by_path()["vol1/ftp/phase3/x.vcf.gz"]
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    assert sha256_of(data_dir / item["path"]) == new.sha256
    assert not item.get("resumed_from")
    gets = proxy.gets("x.vcf.gz")
    assert gets[1].headers.get("range", "").startswith("bytes=")  # tried to resume
    assert "range" not in gets[-1].headers  # If-Match failed: the whole new object
    assert "restarted" in result.log or "object_changed" in str(result.stats)


def test_jwst_mast_with_the_bucket_as_a_replica_fails_over_from_mast_to_stpubdata(
    moto: MotoS3, proxy: PacingProxy, server: ArchiveServer, data_dir: Path
) -> None:
    """CAPTURE_REPLICAS=cloud (issue 17 item 2): MAST stays the origin; a product MAST fails
    to serve comes from its stpubdata key (path_lookup), still verified by MAST's md5."""
    from urllib.parse import quote

    mast = MastArchive(server)
    obs = mast.add_observation("95000002", "jw01366-o001_t001_nirspec_clear-prism")
    failing = mast.add_product(obs, X1D, subgroup="X1D", size=12_000)
    fine = mast.add_product(obs, NOT_IN_CLOUD, subgroup="X1D", size=9_000)
    base = mast.install()
    moto.put("stpubdata", failing.cloud_key, failing.blob.read(0, failing.blob.size))
    moto.put("stpubdata", fine.cloud_key, fine.blob.read(0, fine.blob.size))
    server.fault(f"{DOWNLOAD}?uri={quote(failing.uri, safe=':/')}", Fault("status", times=9))

    result = run_crawl(
        "jwst_mast",
        data_dir,
        args={"base_url": base},
        settings={"CAPTURE_S3_REPLICA_ENDPOINT": proxy.endpoint, "CAPTURE_REPLICAS": "cloud"},
        env=env_without_aws(),
    )
    assert result.returncode == 0, result.log[-3000:]
    items = {i["archive_path"].rsplit("/", 1)[-1]: i for i in result.items}
    for name, product, replica in ((X1D, failing, "cloud"), (NOT_IN_CLOUD, fine, "origin")):
        item = items[name]
        assert item["status"] == "stored" and item["checksum"]["verified"] is True
        assert sha256_of(data_dir / item["path"]) == product.blob.sha256
        assert item["url"].startswith(base + DOWNLOAD)  # MAST stays the file's origin
        assert [r["name"] for r in item["replicas"]] == ["origin", "cloud"]
        served = item["metadata"]["replicas"]["served"]
        assert [(r["replica"], r["from"], r["to"]) for r in served] == [
            (replica, 0, product.blob.size)
        ]
    assert items[X1D]["http"]["final_url"] == f"s3://stpubdata/{failing.cloud_key}"
    assert [s.path.rsplit("/", 1)[-1] for s in proxy.seen if s.method == "GET"] == [X1D]
