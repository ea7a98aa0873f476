"""``capture watch``: notify once per change, once per breakage, quiet otherwise; heartbeat.

The watcher runs its diff as a child process. Here the child replays a scripted sequence of
diff answers (one per tick: a document in the shape ``capture diff --json`` prints, or an exit
code without output), so every notification rule is exercised tick by tick; the end-to-end test
with real ``capture diff`` runs against an archive emulator is in tests/test_watch_e2e.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from capture.watch import Notifier, Watch, change_key, parse_interval

REPLAY = """
import json, sys
from pathlib import Path
seq = Path(sys.argv[1])
steps = json.loads(seq.read_text())
step, rest = steps[0], steps[1:] or steps[:1]
seq.write_text(json.dumps(rest))
if step.get("doc") is not None:
    print(json.dumps(step["doc"]))
else:
    print("error: archive unreachable", file=sys.stderr)
sys.exit(step.get("exit", 0))
"""


def doc(**listed: list[str]) -> dict[str, Any]:
    """A diff document listing ``paths`` per category for one archive."""
    files = {c: [{"archive": "a", "path": p, "bytes": 1} for p in listed.get(c, [])] for c in
             ("new", "changed", "pending", "gone")}  # fmt: skip
    totals = {c: {"files": len(v), "bytes": len(v)} for c, v in files.items()}
    totals["unchanged"] = {"files": 5, "bytes": 5}
    return {
        "run_id": "diff_x",
        "totals": totals,
        "archives": [{"archive": "a", "outcome": "completed", "files": files, "counts": totals}],
    }


QUIET = {"doc": doc()}
BROKEN = {"doc": None, "exit": 4}


class Hook:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers["Content-Length"])
                hook.posts.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def kinds(self) -> list[str]:
        return [p["kind"] for p in self.posts]


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


def watch(tmp_path: Path, steps: list[dict[str, Any]], webhook: str, **kw: Any) -> Watch:
    script, seq = tmp_path / "replay.py", tmp_path / "steps.json"
    script.write_text(REPLAY)
    seq.write_text(json.dumps(steps))
    return Watch(
        [sys.executable, str(script), str(seq)],
        0.05,
        tmp_path / "watch" / "status.json",
        Notifier(webhook=webhook),
        max_ticks=len(steps),
        log=lambda _line: None,
        **kw,
    )


def status(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "watch" / "status.json").read_text())
    return data


def test_quiet_archive_sends_nothing_and_keeps_a_heartbeat(tmp_path: Path, hook: Hook) -> None:
    assert watch(tmp_path, [QUIET] * 3, hook.url).run() == 0
    assert hook.posts == []
    s = status(tmp_path)
    assert (s["ticks"], s["healthy"], s["state"], s["consecutive_failures"]) == (
        3, True, "stopped", 0)  # fmt: skip
    assert s["last_tick"]["exit_code"] == 0 and s["last_tick"]["change_key"] is None
    assert s["next_tick_at"] and s["updated_at"]


def test_each_change_is_notified_once(tmp_path: Path, hook: Hook) -> None:
    a, b = {"doc": doc(new=["x"])}, {"doc": doc(new=["x"], gone=["y"])}
    assert watch(tmp_path, [QUIET, a, a, a, b, b, QUIET], hook.url).run() == 0
    assert hook.kinds == ["changed", "changed"]
    first, second = hook.posts
    assert first["tick"]["totals"]["new"]["files"] == 1
    assert "new 1" in first["message"] and "gone 1" in second["message"]
    assert first["tick"]["change_key"] != second["tick"]["change_key"]
    # The same change after the archive was quiet again is news again.
    hook.posts.clear()
    assert watch(tmp_path, [a], hook.url).run() == 0
    assert hook.kinds == ["changed"]


def test_a_restarted_watcher_does_not_repeat_what_it_already_sent(
    tmp_path: Path, hook: Hook
) -> None:
    a = {"doc": doc(changed=["x"])}
    watch(tmp_path, [a], hook.url).run()
    assert hook.kinds == ["changed"]
    watch(tmp_path, [a, a], hook.url).run()
    assert hook.kinds == ["changed"]
    assert status(tmp_path)["last_notification"]["kind"] == "changed"


def test_breakage_is_notified_once_then_recovery(tmp_path: Path, hook: Hook) -> None:
    code = watch(tmp_path, [QUIET, BROKEN, BROKEN, BROKEN], hook.url).run()
    assert code == 4
    assert hook.kinds == ["broken"]
    assert "archive unreachable" in hook.posts[0]["message"]
    s = status(tmp_path)
    assert (s["healthy"], s["consecutive_failures"]) == (False, 3)
    assert watch(tmp_path, [QUIET, QUIET], hook.url).run() == 0
    assert hook.kinds == ["broken", "recovered"]
    assert status(tmp_path)["consecutive_failures"] == 0


def test_a_partial_diff_is_broken_and_its_changes_still_reported(
    tmp_path: Path, hook: Hook
) -> None:
    partial = doc(new=["x"])
    partial["archives"][0]["outcome"] = "partial"
    assert watch(tmp_path, [{"doc": partial, "exit": 3}], hook.url).run() == 3
    assert sorted(hook.kinds) == ["broken", "changed"]
    assert "a: partial" in next(p for p in hook.posts if p["kind"] == "broken")["message"]


def test_a_dead_webhook_is_recorded_and_the_watch_goes_on(tmp_path: Path) -> None:
    w = watch(tmp_path, [{"doc": doc(new=["x"])}, QUIET], "http://127.0.0.1:9/nothing")
    assert w.run() == 0
    s = status(tmp_path)
    assert s["ticks"] == 2
    assert s["last_notification"]["delivered"] is False
    assert "webhook" in s["last_notification"]["errors"][0]


def test_a_hung_diff_is_killed_at_the_timeout(tmp_path: Path, hook: Hook) -> None:
    script = tmp_path / "hang.py"
    script.write_text("import time; time.sleep(60)")
    w = Watch(
        [sys.executable, str(script)],
        0.05,
        tmp_path / "watch" / "status.json",
        Notifier(webhook=hook.url),
        timeout=0.5,
        max_ticks=1,
        log=lambda _line: None,
    )
    assert w.run() == 4
    assert hook.kinds == ["broken"] and "timed out" in hook.posts[0]["message"]


def test_intervals_and_keys() -> None:
    assert parse_interval("1d") == 86400 and parse_interval("90") == 90
    assert parse_interval("15m") == 900 and parse_interval("0.5s") == 0.5
    for bad in ("0", "-1h", "1y", "soon", ""):
        with pytest.raises(ValueError):
            parse_interval(bad)
    assert change_key(doc()) is None
    assert change_key(doc(new=["x"])) == change_key(doc(new=["x"]))
    assert change_key(doc(new=["x"])) != change_key(doc(changed=["x"]))


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    for argv in (["--every", "soon"], ["--every", "1d", "--max-ticks", "0"]):
        proc = subprocess.run(
            [sys.executable, "-m", "capture", "watch", *argv, "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "capture: error:" in proc.stderr
