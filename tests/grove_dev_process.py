"""``grove dev`` as a child process, and real kubectl against it, for the tests of the command itself."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GROVE = str(Path(sys.executable).with_name("grove"))
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@dataclass
class GroveDev:
    """A running ``grove dev``: its kubeconfig; its output and exit code once it has stopped."""

    kubeconfig: Path
    output: str = ""
    returncode: int | None = None


@contextlib.contextmanager
def grove_dev(tmp_path: Path, *args: str, timeout: float = 30.0) -> Iterator[GroveDev]:
    """``grove dev --port 0 --kubeconfig <tmp_path>/kubeconfig *args``, yielded once the kubeconfig is
    written; stopped with SIGTERM afterwards (its output and exit code are then on the handle)."""
    dev = GroveDev(tmp_path / "kubeconfig")
    proc = subprocess.Popen(
        [GROVE, "dev", "--port", "0", *args, "--kubeconfig", str(dev.kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not dev.kubeconfig.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "kubeconfig not written"
            time.sleep(0.05)
        yield dev
    finally:
        proc.send_signal(signal.SIGTERM)
        dev.output, _ = proc.communicate(timeout=30)
        dev.returncode = proc.returncode


def kubectl(kubeconfig: Path | str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Real kubectl with ``kubeconfig``, a discovery cache under ``tmp_path`` and nothing else from the
    environment."""
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"KUBECACHEDIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )
