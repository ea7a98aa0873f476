"""``python -m bench s3``: capture reading an open cloud replica against boto3's own download,
same object, same run.

One random file of ``--size-mib`` MiB is listed in a 1000 Genomes-style ``current.tree``
(served by the bench's static server, as in ``bench run``) and uploaded to a moto S3 server
(``python -m moto.server``, its own process on 127.0.0.1) as ``s3://1000genomes/<key>``,
uploaded with boto3's ``upload_file`` (multipart above 8 MiB, so its ETag is a multipart one,
as most large objects of the real buckets have). Contenders, interleaved, order rotating:

* ``capture``: ``scrapy crawl thousand_genomes -a replica=cloud`` with
  ``CAPTURE_S3_REPLICA_ENDPOINT`` on moto: anonymous ranged GET streamed to a ``.part`` file,
  md5 + sha256 in-stream, fsync, catalog, publish; verified against current.tree's md5;
* ``boto3 download_file``: ``client.download_file`` (s3transfer: 10 threads, 8 MiB ranged
  parts; no digest, no fsync), unsigned;
* ``boto3 stream+md5+sha256,fsync``: one ``get_object`` streamed to a file while hashing
  (md5 and sha256) then fsync: the same work as capture with boto3 alone.

Peak RSS and wall time as ``bench run`` measures them (bench/measure.py). moto serves every
byte from Python, so absolute MB/s are moto's, not S3's; the ratios compare the clients.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import BIG_PREFIX, CorpusFile, generate
from bench.machine import load_snapshot, machine_info
from bench.scenarios import (
    REPO,
    Contender,
    Plan,
    Scenario,
    _exit_codes_ok,
    _problem,
    _ratio,
    capture_plan,
    run_scenario,
)
from bench.server import StaticServer, free_port

BUCKET = "1000genomes"
RSS_TARGET_MB = 150.0
DOWNLOAD_FILE = "boto3 download_file"
SAME_WORK = "boto3 stream+md5+sha256,fsync"

_CLIENT = """
import boto3, sys
from botocore import UNSIGNED
from botocore.config import Config
c = boto3.session.Session().client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
    config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}))
"""
DOWNLOAD_SCRIPT = _CLIENT + "c.download_file(sys.argv[2], sys.argv[3], sys.argv[4])\n"
STREAM_SCRIPT = (
    _CLIENT
    + """
import hashlib, os
md5, sha = hashlib.md5(), hashlib.sha256()
body = c.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"]
with open(sys.argv[4], "wb") as f:
    for chunk in body.iter_chunks(4 * 1024 * 1024):
        md5.update(chunk); sha.update(chunk); f.write(chunk)
    f.flush(); os.fsync(f.fileno())
print(md5.hexdigest(), sha.hexdigest())
"""
)


def add_parser(sub: Any) -> None:
    """The ``s3`` subcommand's options (wired in bench/__main__.py)."""
    p = sub.add_parser("s3", help="open cloud replica: capture vs boto3 on one moto object")
    p.add_argument("--size-mib", type=int, default=512, help="size of the object")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per contender")
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/s3-<UTC>.json)")
    p.add_argument("--workdir", type=Path, help="parent of the temp dir (default $TMPDIR)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per measured run")


class MotoProcess:
    """``python -m moto.server`` on a free port of 127.0.0.1, in its own session."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def client(self) -> Any:
        import boto3

        deadline = time.monotonic() + 30
        c = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="moto",
            aws_secret_access_key="moto",
        )
        while True:
            try:
                c.list_buckets()
                return c
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _verify_download(m: Any, f: CorpusFile, out: Path, digests: str | None) -> dict[str, Any]:
    _exit_codes_ok(m)
    size = out.stat().st_size if out.exists() else None
    if size != f.size:
        _problem(m.problems, f"{out.name}: size {size} != {f.size}")
    if digests is not None and digests.split() != [f.md5, f.sha256]:
        _problem(m.problems, f"digests {digests.strip()!r} != {f.md5} {f.sha256}")
    return {}


def contenders(base_url: str, endpoint: str, f: CorpusFile, key: str) -> list[Contender]:
    def capture(run_dir: Path) -> Plan:
        settings = {"CAPTURE_S3_REPLICA_ENDPOINT": endpoint}
        args = {"replica": "cloud"}
        return capture_plan(base_url, BIG_PREFIX, [f], run_dir, settings=settings, args=args)

    def download_file(run_dir: Path) -> Plan:
        run_dir.mkdir(parents=True)
        out = run_dir / f.name
        cmd = [sys.executable, "-c", DOWNLOAD_SCRIPT, endpoint, BUCKET, key, str(out)]
        return Plan([[cmd]], run_dir, lambda m: _verify_download(m, f, out, None))

    def stream(run_dir: Path) -> Plan:
        run_dir.mkdir(parents=True)
        out = run_dir / f.name
        cmd = [sys.executable, "-c", STREAM_SCRIPT, endpoint, BUCKET, key, str(out)]
        return Plan(
            [[cmd]],
            run_dir,
            lambda m: _verify_download(m, f, out, m.stdout[0] if m.stdout else ""),
        )

    return [
        Contender("capture", capture, "scrapy crawl thousand_genomes -a replica=cloud"),
        Contender(DOWNLOAD_FILE, download_file, "s3transfer, 10 threads x 8 MiB ranges"),
        Contender(SAME_WORK, stream, "one get_object streamed to disk, md5+sha256, fsync"),
    ]


def judge_s3(entries: dict[str, Any]) -> dict[str, Any]:
    cap = entries.get("capture", {}).get("summary", {})
    ratios = {
        f"capture/({DOWNLOAD_FILE})": _ratio(entries, "capture", DOWNLOAD_FILE),
        f"capture/({SAME_WORK})": _ratio(entries, "capture", SAME_WORK),
    }
    targets = {
        f"capture peak RSS <= {RSS_TARGET_MB:g} MB (process tree, worst sample)": bool(
            cap.get("all_ok")
        )
        and cap.get("tree_rss_mb_max", 1e9) <= RSS_TARGET_MB
    }
    return {"ratios": ratios, "targets": targets}


def main(args: Any) -> int:
    if args.size_mib < 1 or args.repeat < 1:
        sys.exit("--size-mib and --repeat must be positive")
    started = datetime.now(UTC)
    out = args.out or REPO / "bench" / "results" / f"s3-{started:%Y%m%dT%H%M%SZ}.json"
    workdir = Path(tempfile.mkdtemp(prefix="capture-bench-s3-", dir=args.workdir))
    server = moto = None
    try:
        corpus = generate(workdir / "www", big_mib=args.size_mib, small_count=None)
        f = corpus.big[0]
        key = f.rel.removeprefix("ftp/")
        server = StaticServer(workdir / "www", workdir).start()
        moto = MotoProcess()
        client = moto.client()
        client.create_bucket(Bucket=BUCKET)
        client.upload_file(
            str(workdir / "www" / f.url_path), BUCKET, key, ExtraArgs={"ACL": "public-read"}
        )
        etag = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
        print(f"s3://{BUCKET}/{key}: {f.size} bytes, ETag {etag}", flush=True)
        scenario = Scenario("s3", [f], contenders(server.base_url, moto.endpoint, f, key))
        result = run_scenario(scenario, args.repeat, workdir / "runs", args.timeout)
        results = {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {**machine_info(workdir, REPO), "load_at_end": load_snapshot()},
            "object": {"bucket": BUCKET, "key": key, "size": f.size, "etag": etag},
            "scenario": result,
        }
    finally:
        if moto is not None:
            moto.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    for name, entry in result["contenders"].items():
        s = entry["summary"]
        print(
            f"{name:<32} {s['wall_s']:8.2f} s  {s['mb_per_s']:8.1f} MB/s  "
            f"tree RSS {s['tree_rss_mb_max']:7.1f} MB  cpu {s['cpu_s']:6.2f} s  ok={s['all_ok']}"
        )
    for name, value in result["ratios"].items():
        print(f"{name}: {value}")
    for name, ok in result["targets"].items():
        print(f"{'PASS' if ok else 'MISS'} {name}")
    print(f"\nresults written to {out}")
    return 0 if all(e["summary"]["all_ok"] for e in result["contenders"].values()) else 1
