"""Storage classes on S3 (moto's server mode on 127.0.0.1, real HTTP): ``capture storage
apply`` changes each object's class in place by a server-side copy (HeadObject reports it,
bytes and metadata unchanged), the catalog records it, and ``capture storage restore`` brings
an object back to Standard (Deep Archive through RestoreObject)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from capture.catalog import Catalog, catalog_url_for
from capture.catalog.schema import events, files
from capture.config import CaptureSettings
from capture.storage import s3 as s3mod
from capture.storage.movers import S3Mover
from capture.storage.plan import make_plan
from capture.storage.s3 import S3Settings, S3Store
from capture.storage.tiering import apply, find, restore
from capture.storage.tiers import Policy
from tests.crawl import capture_cli

BUCKET = "capture-tiers"
PREFIX = "round1"
KIB = 1024


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3

    for k, v in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(s3mod, "_CLIENTS", {})  # the store's client, built for this endpoint
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


#: name -> (idle days, size, expected class after apply)
FILES = {
    "warm.fits": (45, 300 * KIB, "STANDARD_IA"),
    "cold.fits": (120, 300 * KIB, "GLACIER_IR"),
    "deep.fits": (200, 300 * KIB, "DEEP_ARCHIVE"),
    "tiny.fits": (200, 2 * KIB, "STANDARD"),
    "fresh.fits": (3, 300 * KIB, "STANDARD"),
}


def publish(s3: Any, tmp_path: Path) -> tuple[Catalog, dict[str, bytes]]:
    """Objects as the S3 store publishes them (sha256 metadata), cataloged as stored."""
    catalog = Catalog(catalog_url_for(tmp_path / "data"))
    bodies, rows = {}, []
    for name, (days, size, _) in FILES.items():
        body = os.urandom(size)
        sha = hashlib.sha256(body).hexdigest()
        path = f"astronomy/arc/{name}"
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}", Body=body, Metadata={"sha256": sha})
        bodies[path] = body
        rows.append(
            {
                "archive": "arc",
                "archive_path": name,
                "domain": "astronomy",
                "url": f"http://h/{name}",
                "path": path,
                "state": "stored",
                "size": size,
                "sha256": sha,
                "digest_algorithm": "md5",
                "digest_expected": hashlib.md5(body).hexdigest(),
                "retrieved_at": ago(days),
                "first_seen_at": ago(days),
                "last_seen_at": ago(1),
                "item": {},
            }
        )
    with catalog.engine.begin() as conn:
        conn.execute(insert(files), rows)
    return catalog, bodies


def store(tmp_path: Path) -> S3Store:
    return S3Store(
        f"s3://{BUCKET}/{PREFIX}", S3Settings(), scratch=tmp_path / "scratch", scratch_max=0
    )


def storage_class(s3: Any, path: str) -> str:
    head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}")
    return str(head.get("StorageClass") or "STANDARD")


def tiers(catalog: Catalog) -> dict[str, str | None]:
    with catalog.engine.connect() as conn:
        return dict(conn.execute(select(files.c.path, files.c.tier)).all())  # type: ignore[arg-type]


def test_apply_sets_storage_classes_and_restore_brings_back(s3: Any, tmp_path: Path) -> None:
    catalog, bodies = publish(s3, tmp_path)
    policy = Policy.from_config(CaptureSettings.from_settings(), remote=True)
    mover = S3Mover(store(tmp_path))

    report = apply(catalog, policy, mover, run_id="apply1")
    assert not report.failed
    assert {k: v.files for k, v in report.moved.items()} == {
        "STANDARD_IA": 1,
        "GLACIER_IR": 1,
        "DEEP_ARCHIVE": 1,
    }
    for name, (_, _, cls) in FILES.items():
        path = f"astronomy/arc/{name}"
        assert storage_class(s3, path) == cls, name
        assert tiers(catalog)[path] == (None if cls == "STANDARD" else cls)
        head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}")
        assert head["Metadata"]["sha256"] == hashlib.sha256(bodies[path]).hexdigest()
        if cls != "DEEP_ARCHIVE":  # readable at once: same bytes
            got = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}")["Body"].read()
            assert got == bodies[path]
    # The plan now sees them where they are; nothing is left to move.
    doc = make_plan(catalog, policy, store="s3").to_dict()
    now = {t["tier"]: t["now"]["files"] for t in doc["tiers"]}
    assert now == {"STANDARD": 2, "STANDARD_IA": 1, "GLACIER_IR": 1, "DEEP_ARCHIVE": 1}
    assert doc["apply_moves"]["files"] == 0
    assert apply(catalog, policy, mover).files == 0

    # Instant classes come back at once; Deep Archive through RestoreObject then a copy.
    for name, was in (("cold.fits", "GLACIER_IR"), ("deep.fits", "DEEP_ARCHIVE")):
        path = f"astronomy/arc/{name}"
        rows = find(catalog, path, tmp_path / "data")
        result = restore(catalog, policy, mover, rows, days=2, speed="Bulk", run_id="r1")
        assert result[0]["state"] == "restored", result
        assert storage_class(s3, path) == "STANDARD"
        assert tiers(catalog)[path] is None
        got = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}")["Body"].read()
        assert got == bodies[path]
        with catalog.engine.connect() as conn:
            kinds = [
                (e["kind"], e["detail"]["from"])
                for e in conn.execute(
                    select(events).where(events.c.file_id == rows[0]["id"]).order_by(events.c.id)
                ).mappings()
            ]
        assert kinds == [("tiered", "default"), ("restored", was)]
    catalog.close()


def test_an_object_changed_behind_the_catalog_is_not_moved(s3: Any, tmp_path: Path) -> None:
    catalog, _ = publish(s3, tmp_path)
    path = "astronomy/arc/cold.fits"
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}", Body=b"other", Metadata={"sha256": "x"})
    policy = Policy.from_config(CaptureSettings.from_settings(), remote=True)
    report = apply(catalog, policy, S3Mover(store(tmp_path)))
    assert [f["path"] for f in report.failed] == [path]
    assert storage_class(s3, path) == "STANDARD" and tiers(catalog)[path] is None
    catalog.close()


def test_cli_plan_and_apply_on_s3(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, _ = publish(s3, tmp_path)
    catalog.close()
    monkeypatch.setenv("CAPTURE_STORE", f"s3://{BUCKET}/{PREFIX}")
    data = ["--data-dir", str(tmp_path / "data")]
    plan = capture_cli("storage", "plan", "--json", *data, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-2000:]
    doc = json.loads(plan.stdout)
    assert doc["store"] == f"s3://{BUCKET}/{PREFIX}" and doc["apply_moves"]["files"] == 3
    dry = capture_cli("storage", "apply", "--dry-run", "--tier", "GLACIER_IR", *data, cwd=tmp_path)
    assert dry.returncode == 0 and "would move" in dry.stdout
    assert storage_class(s3, "astronomy/arc/cold.fits") == "STANDARD"
    done = capture_cli("storage", "apply", "--tier", "GLACIER_IR", "--json", *data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["moved"]["GLACIER_IR"]["files"] == 1
    assert storage_class(s3, "astronomy/arc/cold.fits") == "GLACIER_IR"
    assert storage_class(s3, "astronomy/arc/deep.fits") == "STANDARD"  # not asked for
    bad = capture_cli("storage", "apply", "--tier", "cold", *data, cwd=tmp_path)
    assert bad.returncode == 2 and "unknown tier 'cold'" in bad.stderr
