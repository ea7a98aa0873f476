"""Measuring wrapper, run as a script (stdlib only): ``python bench/runner.py SPEC.json``.

It runs the spec's steps one after another (each step is a pipeline of one or more argv lists,
connected stdout -> stdin, without a shell), then writes a JSON result:

* ``wall_s``: monotonic time from the first spawn to the last exit (no wrapper start-up);
* ``max_rss_kb``: ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, the kernel's high-water mark of the
  largest single descendant. The wrapper is a fresh process per measurement, so this is the
  measured command itself, never the harness or an earlier contender;
* ``tree_rss_kb``: the largest *sum* of RSS over all live descendants, sampled from ``/proc``
  every ``sample_interval`` seconds (only matters for pipelines such as ``curl | tee``);
* ``user_s`` / ``sys_s``: CPU time of all descendants.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # fields 3.. (state, ppid, ...)


def tree_rss_kb(root: int) -> int:
    """Sum of RSS of every live descendant of ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None or len(fields) < 22:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * PAGE_KB
    total, todo = 0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class TreeSampler(threading.Thread):
    """Samples :func:`tree_rss_kb` of this process until stopped; keeps the peak."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.wait(self.interval):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(me))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_pipeline(argvs: list[list[str]], cwd: str, stdout: Path, stderr: Path) -> list[int]:
    """Run ``argv1 | argv2 | ...``; the last stage's stdout goes to ``stdout``."""
    procs: list[subprocess.Popen[bytes]] = []
    with stdout.open("wb") as out, stderr.open("ab") as err:
        prev = None
        for i, argv in enumerate(argvs):
            last = i == len(argvs) - 1
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    stdin=prev if prev is not None else subprocess.DEVNULL,
                    stdout=out if last else subprocess.PIPE,
                    stderr=err,
                )
            except OSError as exc:  # e.g. the tool is not installed
                err.write(f"cannot run {argv[0]}: {exc}\n".encode())
                return [p.wait() for p in procs] + [127]
            if prev is not None:
                prev.close()  # the next stage owns it now (SIGPIPE works)
            prev = proc.stdout
            procs.append(proc)
        return [p.wait() for p in procs]


def main(spec_path: str) -> int:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    sampler = TreeSampler(float(spec.get("sample_interval", 0.1)))
    outputs: list[str] = []
    codes: list[list[int]] = []
    sampler.start()
    started = time.monotonic()
    for n, argvs in enumerate(spec["steps"]):
        out = Path(f"{spec['stdout_prefix']}.{n}")
        rcs = run_pipeline(argvs, spec["cwd"], out, Path(spec["stderr"]))
        codes.append(rcs)
        outputs.append(out.read_bytes()[:65536].decode("utf-8", "replace"))
        if any(rcs):
            break
    wall = time.monotonic() - started
    sampler.stop()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall_s": wall,
        "max_rss_kb": usage.ru_maxrss,
        "tree_rss_kb": max(sampler.peak_kb, usage.ru_maxrss),
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "returncodes": codes,
        "stdout": outputs,
    }
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
