"""``grove dev`` serves Grove's admission webhooks: real kubectl against the ``grove dev`` process sees an
invalid PodCliqueSet rejected with its field errors, as on a real cluster with the operator deployed, and a
valid one stored defaulted. ``--no-webhook`` leaves them out."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GROVE = str(Path(sys.executable).with_name("grove"))
KUBECTL = str(Path(sys.executable).with_name("kubectl"))

MANIFEST = """\
apiVersion: grove.io/v1alpha1
kind: PodCliqueSet
metadata:
  name: my-service
spec:
  replicas: 1
  template:
    cliques:
    - name: leader
      spec:
        replicas: 1
        podSpec:
          containers: [{name: main, image: registry.k8s.io/pause:3.9}]
    - name: worker
      spec:
        replicas: 2
        podSpec:
          containers: [{name: main, image: registry.k8s.io/pause:3.9}]
    podCliqueScalingGroups:
    - name: model
      cliqueNames: [leader, WORKER]
"""


class GroveDev:
    """A ``grove dev`` process (no fake nodes) and kubectl against it."""

    def __init__(self, tmp: Path, *flags: str) -> None:
        self.tmp = tmp
        self.kubeconfig = tmp / "kubeconfig"
        self.log = tmp / "grove-dev.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [GROVE, "dev", "--port", "0", "--nodes", "0", "--kubeconfig", str(self.kubeconfig), *flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        """Poll the process's output for ``text`` (it prints a line once each part is serving)."""
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"grove dev did not print {text!r}:\n{self.log.read_text()}"
            time.sleep(0.05)

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            env={"KUBECACHEDIR": str(self.tmp / "cache"), "PATH": "/usr/bin:/bin"},
        )

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def grove_dev(tmp_path: Path) -> Iterator[GroveDev]:
    dev = GroveDev(tmp_path)
    try:
        yield dev
    finally:
        assert dev.stop() == 0, dev.log.read_text()


def test_invalid_podcliqueset_is_rejected_at_apply_time(grove_dev: GroveDev) -> None:
    grove_dev.wait_for_output("admission webhooks are served")
    out = grove_dev.kubectl("apply", "-f", "-", input=MANIFEST.replace("WORKER", "wrker"))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'The PodCliqueSet "my-service" is invalid: spec.template.podCliqueScalingGroups[0].cliqueNames[1]: '
        'Invalid value: "wrker": no clique named "wrker"'
    )
    assert "NotFound" in grove_dev.kubectl("get", "pcs", "my-service").stderr

    out = grove_dev.kubectl("apply", "-f", "-", "-o", "json", input=MANIFEST.replace("WORKER", "worker"))
    assert out.returncode == 0, out.stderr
    stored = json.loads(out.stdout)
    assert stored["spec"]["template"]["cliques"][1]["spec"]["minAvailable"] == 2  # the defaulting webhook


def test_no_webhook_leaves_the_webhooks_out(tmp_path: Path) -> None:
    dev = GroveDev(tmp_path, "--no-webhook")
    try:
        dev.wait_for_output("The Grove operator is running")
        listed = dev.kubectl(
            "get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o", "name"
        )
        assert listed.returncode == 0 and listed.stdout == "", listed
        # Without the webhook the API server stores it; the operator reports the error on the object.
        out = dev.kubectl("apply", "-f", "-", input=MANIFEST.replace("WORKER", "wrker"))
        assert out.returncode == 0, out.stderr
    finally:
        assert dev.stop() == 0, dev.log.read_text()
