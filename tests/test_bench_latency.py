"""The latency emulator of ``python -m bench latency`` (bench/latency_server.py) over real
sockets: every response waits the latency, the per-host connection cap holds (extra
connections wait, or are refused in ``refuse`` mode), the bytes are the file's; and the
scenario end to end with a tiny corpus (real ``scrapy crawl``, aria2c and curl processes)."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.latency import ideal_seconds, small_corpus
from bench.latency_server import LatencyServer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "d").mkdir(parents=True)
    for i in range(3):
        (root / "d" / f"f{i}.bin").write_bytes(bytes([i]) * (70_000 + i))
    (root / "d" / "big.bin").write_bytes(bytes(range(256)) * 12_000)  # > 1 MiB: sendfile path
    (root / "secret.txt").write_text("outside d, inside root")
    return root


def get(server: LatencyServer, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw(server: LatencyServer, line: str) -> bytes:
    """Send one request line as is (no client-side path normalisation), read to EOF."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(f"{line} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_every_response_waits_the_latency_and_carries_the_file(www: Path) -> None:
    data = (www / "d" / "f1.bin").read_bytes()
    with LatencyServer(www, latency=0.2) as server:
        started = time.monotonic()
        status, headers, body = get(server, "/d/f1.bin")
        took = time.monotonic() - started
        assert status == 200 and took >= 0.2
        assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
        assert headers["Content-Length"] == str(len(data))
        assert headers["ETag"].startswith('"') and headers["Last-Modified"].endswith("GMT")

        started = time.monotonic()
        status, head_headers, body = get(server, "/d/f1.bin", "HEAD")
        assert time.monotonic() - started >= 0.2
        assert status == 200 and body == b""
        assert head_headers["Content-Length"] == str(len(data))
        assert head_headers["ETag"] == headers["ETag"]

        assert get(server, "/d/missing.bin")[0] == 404
        assert get(server, "/d/")[0] == 404  # no directory listings
        assert raw(server, "GET /d/../secret.txt").startswith(b"HTTP/1.1 404")
        assert raw(server, "GET /%2e%2e/etc/passwd").startswith(b"HTTP/1.1 404")
        assert raw(server, "POST /d/f0.bin").startswith(b"HTTP/1.1 405")
        stats = server.stats()["127.0.0.1"]
    assert stats["requests"] == 7 and stats["body_bytes"] == len(data)


def test_keep_alive_serves_requests_in_order_on_one_connection(www: Path) -> None:
    with LatencyServer(www, latency=0.05) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        for name in ("f0.bin", "big.bin", "f1.bin", "big.bin", "f2.bin"):
            conn.request("GET", f"/d/{name}")
            resp = conn.getresponse()
            assert resp.read() == (www / "d" / name).read_bytes()
        conn.close()
        stats = server.stats()["127.0.0.1"]
    assert stats["connections"] == 1 and stats["requests"] == 5


def test_connections_over_the_cap_wait_for_a_slot(www: Path) -> None:
    """Cap 2, three clients: two answered after one latency; the third waits until one of
    them turns idle (its keep-alive connection is reclaimed), then takes its own latency."""
    latency = 0.3
    done: dict[int, float] = {}
    bodies: dict[int, bytes] = {}
    with LatencyServer(www, latency=latency, max_conns_per_host=2) as server:
        conns = [http.client.HTTPConnection(server.host, server.port, timeout=10) for _ in range(3)]
        started = time.monotonic()

        def fetch(i: int) -> None:
            conns[i].request("GET", f"/d/f{i}.bin")
            bodies[i] = conns[i].getresponse().read()
            done[i] = time.monotonic() - started

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.1)  # in order: the first two hold the slots when the third connects
        for t in threads:
            t.join(10)
        for c in conns:
            c.close()
        stats = server.stats()["127.0.0.1"]
    assert all(bodies[i] == (www / "d" / f"f{i}.bin").read_bytes() for i in range(3))
    assert latency <= done[0] < done[2] and latency <= done[1] < done[2]
    assert done[2] >= 2 * latency - 0.01
    assert stats["peak_conns"] == 2 and stats["waited"] == 1 and stats["idle_closed"] == 1


def test_refuse_mode_answers_503_over_the_cap(www: Path) -> None:
    with LatencyServer(www, latency=0.01, max_conns_per_host=1, over_cap="refuse") as server:
        first = http.client.HTTPConnection(server.host, server.port, timeout=10)
        first.request("GET", "/d/f0.bin")
        assert first.getresponse().read() == (www / "d" / "f0.bin").read_bytes()
        status, headers, _ = get(server, "/d/f1.bin")  # first still holds the only slot
        first.close()
        stats = server.stats()["127.0.0.1"]
    assert status == 503 and headers["Retry-After"] == "1"
    assert stats["refused"] == 1 and stats["peak_conns"] == 1


def test_corpus_has_no_file_that_sniffs_as_gzip(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "www", 30)
    assert len(corpus.small) == 30
    heads = [(tmp_path / "www" / "vol1" / f.rel).read_bytes()[:2] for f in corpus.small]
    assert b"\x1f\x8b" not in heads


def test_ideal_counts_round_trips_and_the_listing() -> None:
    assert ideal_seconds(800, 0.05, 4) == pytest.approx(10.05)
    assert ideal_seconds(801, 0.05, 4) == pytest.approx(10.10)


def test_scenario_end_to_end_with_a_tiny_corpus(tmp_path: Path) -> None:
    """``python -m bench latency`` on 20 files at 20 ms: every contender verifies, the server
    never served more than N connections at once, and the ratios are reported."""
    out = tmp_path / "latency.json"
    cmd = [
        sys.executable, "-m", "bench", "latency", "--files", "20", "--latency-ms", "20",
        "--concurrency", "4", "--repeat", "1", "--out", str(out), "--workdir", str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(out.read_text())
    scenario = results["scenario"]
    assert scenario["ideal_s"] == pytest.approx(0.12)
    capture = scenario["contenders"]["capture"]
    assert capture["summary"]["all_ok"] and capture["samples"][0]["items"] == 20
    assert capture["summary"]["crawl_elapsed_s"] > 0
    for entry in scenario["contenders"].values():
        assert entry["summary"]["all_ok"]
        assert 1 <= entry["server"]["peak_conns_max"] <= 4
    assert capture["server"]["requests_median"] == 21  # the listing + 20 files
    assert "capture wall/ideal" in scenario["ratios"]
    assert any(t.startswith("capture wall <= 1.2 x ideal") for t in scenario["targets"])
    assert "ideal = (ceil(20/4) + 1 listing) x 20 ms = 0.12 s" in proc.stdout
    assert not list(tmp_path.glob("capture-bench-latency-*"))  # temp dir removed


def test_the_client_gap_is_the_time_between_an_answer_and_the_next_request(www: Path) -> None:
    """What a client spends per round trip beyond the latency, seen from the server: on one
    kept-alive connection, from an answer written to the next request read."""
    with LatencyServer(www, latency=0.01) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        for pause in (0.0, 0.25, 0.0):
            time.sleep(pause)
            conn.request("GET", "/d/f0.bin")
            conn.getresponse().read()
        conn.close()
        stats = server.stats()["127.0.0.1"]
    assert stats["client_gaps"] == 2  # the first request on a connection follows no answer
    assert 0.25 <= stats["client_gap_s"] < 0.25 + 0.2
