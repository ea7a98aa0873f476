"""Files streamed into S3 (moto's server mode on 127.0.0.1) with multipart uploads: bounded
memory, in-stream sha256, resume after a hard kill, quarantine and server-side encryption."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import REPO, crawl_command, kill, read_jsonl, run_crawl, start_crawl, wait_for

MB = 1024 * 1024
BUCKET = "capture-test"
PREFIX = "round1"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield url
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    import boto3

    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    for up in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        client.abort_multipart_upload(Bucket=BUCKET, Key=up["Key"], UploadId=up["UploadId"])
    client.delete_bucket(Bucket=BUCKET)


def store_settings(**extra: str) -> dict[str, str]:
    return {
        "CAPTURE_STORE": f"s3://{BUCKET}/{PREFIX}",
        "CAPTURE_S3_PART_SIZE": str(8 * MB),
        **extra,
    }


def object_sha256(client: object, key: str) -> str:
    h = hashlib.sha256()
    for chunk in client.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(MB):  # type: ignore[attr-defined]
        h.update(chunk)
    return h.hexdigest()


def key_of(rel: str) -> str:
    return f"{PREFIX}/genomics/thousand_genomes/{rel}"


def test_large_file_streams_to_s3_with_bounded_memory(
    s3: object, tg: ThousandGenomesArchive, tmp_path: Path
) -> None:
    big = Blob("s3big", 200 * MB)
    tg.add_file("ftp/s3/big.bin", big)
    base = tg.publish()
    out = tmp_path / "out.jsonl"
    args = {"base_url": base, **WHOLE_TREE}
    cmd = crawl_command(
        "thousand_genomes",
        tmp_path / "data",
        out,
        args=args,
        settings=store_settings(CAPTURE_S3_SSE="AES256"),
    )
    peak = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource,subprocess,sys; subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            *cmd,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    rss_mb = int(peak.stdout.strip().splitlines()[-1]) / 1024
    (item,) = read_jsonl(out)
    assert item["status"] == "stored" and item["sha256"] == big.sha256
    assert item["checksum"]["verified"] is True
    key = key_of("vol1/ftp/s3/big.bin")
    head = s3.head_object(Bucket=BUCKET, Key=key)  # type: ignore[attr-defined]
    assert head["ContentLength"] == big.size
    assert head["Metadata"]["sha256"] == big.sha256 and head["Metadata"]["md5"] == big.md5
    assert head["ServerSideEncryption"] == "AES256"
    assert object_sha256(s3, key) == big.sha256
    # Staging object and journal are gone; nothing was written to local disk.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]  # type: ignore[attr-defined]
    assert keys == [key]
    assert not list((tmp_path / "data").rglob("big.bin*"))
    assert rss_mb < 220, rss_mb  # a 200 MB file, 8 MB parts: memory stays flat


def test_interrupted_upload_resumes_from_the_last_part(
    s3: object, tg: ThousandGenomesArchive, tmp_path: Path
) -> None:
    big = Blob("s3resume", 96 * MB)
    tg.add_file("ftp/s3/resume.bin", big)
    base = tg.publish()
    tg.server.bandwidth = 16 * MB
    data = tmp_path / "data"
    proc, _, _ = start_crawl(
        "thousand_genomes", data, args={"base_url": base, **WHOLE_TREE}, settings=store_settings()
    )

    def parts_uploaded() -> int:
        uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])  # type: ignore[attr-defined]
        if not uploads:
            return 0
        up = uploads[0]
        return len(
            s3.list_parts(
                Bucket=BUCKET,
                Key=up["Key"],  # type: ignore[attr-defined]
                UploadId=up["UploadId"],
            ).get("Parts", [])
        )

    assert wait_for(lambda: parts_uploaded() >= 4, 120)
    kill(proc, signal.SIGKILL)
    tg.server.bandwidth = None
    result = run_crawl(
        "thousand_genomes", data, args={"base_url": base, **WHOLE_TREE}, settings=store_settings()
    )
    (item,) = result.items
    assert item["status"] == "stored" and item["sha256"] == big.sha256
    first, second = tg.server.requests_for("/vol1/ftp/s3/resume.bin", "GET")
    offset = item["resumed_from"]
    assert offset > 0 and offset % (8 * MB) == 0  # whole parts were kept
    assert second.range == f"bytes={offset}-"
    assert first.bytes_sent - offset <= 8 * MB + 8 * MB  # at most a part (+ socket buffers)
    assert object_sha256(s3, key_of("vol1/ftp/s3/resume.bin")) == big.sha256
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # type: ignore[attr-defined]


def test_quarantine_on_s3(s3: object, tg: ThousandGenomesArchive, tmp_path: Path) -> None:
    bad = Blob("s3bad", 3 * MB)
    tg.add_file("ftp/s3/bad.bin", bad, md5="0" * 32)
    args = {"base_url": tg.publish(), **WHOLE_TREE}
    result = run_crawl("thousand_genomes", tmp_path / "data", args=args, settings=store_settings())
    (item,) = result.items
    assert item["status"] == "quarantined"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])  # type: ignore[attr-defined]
    q = f"{PREFIX}/quarantine/genomics/thousand_genomes/vol1/ftp/s3/bad.bin"
    assert keys == [q, q + ".reason.json"]
    reason = s3.get_object(Bucket=BUCKET, Key=q + ".reason.json")["Body"].read().decode()  # type: ignore[attr-defined]
    assert "md5 mismatch" in reason
