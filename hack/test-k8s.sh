#!/usr/bin/env bash
# `make test-k8s`: the conformance, integration and e2e suites on a real control plane started from the
# binaries in $GROVE_K8S_ASSETS (etcd, kube-apiserver, kube-controller-manager, kube-scheduler: the layout of
# KUBEBUILDER_ASSETS, e.g. from setup-envtest), inside a private network namespace with only loopback
# (hack/netns.sh), so nothing the API server dials leaves the machine and every process dies with pytest.
# Arguments replace the default pytest arguments (the three suites).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${GROVE_K8S_ASSETS:-}" ]; then
    echo "make test-k8s: set GROVE_K8S_ASSETS to a directory holding etcd, kube-apiserver," \
        "kube-controller-manager and kube-scheduler (for example from setup-envtest)" >&2
    exit 2
fi
GROVE_K8S_ASSETS=$(cd "$GROVE_K8S_ASSETS" && pwd)
export GROVE_K8S_ASSETS
if [ $# -eq 0 ]; then
    set -- tests/conformance tests/integration tests/e2e
fi
exec hack/netns.sh .venv/bin/pytest "$@"
