"""hack/cluster/install.sh rewrites image names by text: the manifests must still hold what it replaces."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "hack" / "cluster" / "install.sh"
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def test_script_parses_and_requires_an_image() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--image is required" in done.stderr


def test_operator_manifest_holds_both_image_references() -> None:
    text = (ROOT / "deploy" / "operator" / "deployment.yaml").read_text()
    assert text.count("image: grove:0.1.0") == 1
    assert text.count("value: grove:0.1.0") == 1


def test_scheduler_kustomization_renders_the_placeholders() -> None:
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(ROOT / "deploy" / "scheduler")], capture_output=True, text=True, check=True
    ).stdout
    assert "image: registry.k8s.io/kube-scheduler:KUBE_VERSION" in rendered
    assert "image: GROVE_IMAGE:latest" in rendered
