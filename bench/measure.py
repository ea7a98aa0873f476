"""Run a command (or a sequence of pipelines) under :mod:`bench.runner` and read its numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
# Environment variables that would make `scrapy` pick another project than the one in cwd.
SCRAPY_ENV = ("SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT", "SCRAPY_PYTHON_SHELL")

Pipeline = list[list[str]]


@dataclass
class Measurement:
    """What one measured run cost, as reported by the wrapper."""

    wall_s: float
    max_rss_kb: int
    tree_rss_kb: int
    user_s: float
    sys_s: float
    returncodes: list[list[int]]
    stdout: list[str]
    stderr_tail: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(rc == 0 for rcs in self.returncodes for rc in rcs) and not self.problems

    @property
    def peak_rss_mb(self) -> float:
        return self.max_rss_kb / 1024

    @property
    def tree_rss_mb(self) -> float:
        return self.tree_rss_kb / 1024


#: The project's own packages, compiled before measuring (:func:`compile_bytecode`).
PACKAGES = ("capture", "spiders", "pipelines", "middlewares", "feeds")


def compile_bytecode(root: Path) -> None:
    """Write ``.pyc`` files for the project's packages, as ``pip install`` does for installed
    ones. With ``PYTHONDONTWRITEBYTECODE=1`` in the environment (set on our CI machines) an
    editable checkout never gets them, so every measured crawl compiled ~150 modules again:
    0.35 s of a 1.3 s start-up, a cost no installed copy pays."""
    paths = [str(root / name) for name in PACKAGES if (root / name).is_dir()]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *paths],
        cwd=root,
        capture_output=True,
        check=False,
    )


def clean_env() -> dict[str, str]:
    """The harness environment minus variables that redirect Scrapy to another project."""
    return {k: v for k, v in os.environ.items() if k not in SCRAPY_ENV}


def measure(
    steps: list[Pipeline], *, cwd: Path, scratch: Path, timeout: float = 1800
) -> Measurement:
    """Run ``steps`` in a fresh wrapper process; ``scratch`` receives spec, logs and result.

    The wrapper gets its own session, so a timeout (or Ctrl-C) kills everything it started.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    spec = {
        "steps": steps,
        "cwd": str(cwd),
        "stdout_prefix": str(scratch / "stdout"),
        "stderr": str(scratch / "stderr.log"),
        "result": str(scratch / "result.json"),
    }
    spec_path = scratch / "spec.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(RUNNER), str(spec_path)]
    proc = subprocess.Popen(cmd, env=clean_env(), start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except BaseException as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
    stderr = (scratch / "stderr.log").read_text(errors="replace")[-3000:]
    result = scratch / "result.json"
    if not result.exists():
        why = f"timed out after {timeout:g} s" if proc.returncode < 0 else "wrapper failed"
        return Measurement(timeout, 0, 0, 0.0, 0.0, [[-1]], [], stderr, [why])
    return Measurement(stderr_tail=stderr, **json.loads(result.read_text()))
