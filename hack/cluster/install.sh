#!/usr/bin/env bash
# Install Grove on the cluster kubectl points at: CRDs, the operator with its webhooks and, optionally, the
# gang scheduler (second kube-scheduler + extender) and the monitoring objects. Idempotent: run it again to
# upgrade. The image must already be built (deploy/operator/Dockerfile) and pullable by the nodes.
#
#   hack/cluster/install.sh --image registry.example.com/grove:0.1.0 [--scheduler] [--monitoring]
#   hack/cluster/install.sh --uninstall
set -euo pipefail

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

root=$(cd "$(dirname "$0")/../.." && pwd)
kubectl=${KUBECTL:-kubectl}
image="" scheduler=0 monitoring=0 uninstall=0 timeout=180s
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=${2:?--image needs a value}; shift 2 ;;
    --image=*) image=${1#--image=}; shift ;;
    --scheduler) scheduler=1; shift ;;
    --monitoring) monitoring=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; usage ;;
  esac
done

step() { printf '== %s\n' "$*"; }

if [ "$uninstall" = 1 ]; then
  # Workloads first, while the operator still runs to clean up after them; the CRDs last.
  step "deleting PodCliqueSets in every namespace"
  "$kubectl" delete podcliquesets --all --all-namespaces --wait=true --timeout="$timeout" --ignore-not-found || true
  "$kubectl" delete -k "$root/deploy/monitoring" --ignore-not-found 2>/dev/null || true
  "$kubectl" delete -k "$root/deploy/scheduler" --ignore-not-found 2>/dev/null || true
  "$kubectl" delete -k "$root/deploy/webhook" --ignore-not-found
  "$kubectl" delete -f "$root/deploy/operator/service.yaml" -f "$root/deploy/operator/deployment.yaml" \
    -f "$root/deploy/operator/rbac.yaml" --ignore-not-found
  "$kubectl" delete secret -n grove-system grove-webhook-server-cert --ignore-not-found
  "$kubectl" delete -f "$root/deploy/crds/" --ignore-not-found
  "$kubectl" delete -f "$root/deploy/operator/namespace.yaml" --ignore-not-found
  exit 0
fi

[ -n "$image" ] || { echo "install.sh: --image is required (the Grove image the nodes can pull)" >&2; usage; }

step "CRDs"
"$kubectl" apply --server-side --force-conflicts -f "$root/deploy/crds/"
"$kubectl" wait --for=condition=Established --timeout="$timeout" -f "$root/deploy/crds/"

step "operator ($image)"
"$kubectl" apply -f "$root/deploy/operator/namespace.yaml" -f "$root/deploy/operator/rbac.yaml" \
  -f "$root/deploy/operator/service.yaml"
# The manifest names the image grove:0.1.0 twice: the container and the grove-initc image it injects.
sed -e "s|image: grove:0.1.0|image: $image|" -e "s|value: grove:0.1.0|value: $image|" \
  "$root/deploy/operator/deployment.yaml" | "$kubectl" apply -f -
"$kubectl" -n grove-system rollout status deploy/grove-operator --timeout="$timeout"

step "admission webhooks"
"$kubectl" apply -k "$root/deploy/webhook"

if [ "$scheduler" = 1 ]; then
  version=$("$kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
  # kube-scheduler must match the control plane's minor version; drop any distribution suffix (v1.33.4+k3s1).
  version=${version%%+*}
  step "gang scheduler (kube-scheduler $version + extender)"
  "$kubectl" kustomize "$root/deploy/scheduler" \
    | sed -e "s|registry.k8s.io/kube-scheduler:KUBE_VERSION|registry.k8s.io/kube-scheduler:$version|" \
          -e "s|image: GROVE_IMAGE:latest|image: $image|" \
    | "$kubectl" apply -f -
  "$kubectl" -n grove-system rollout status deploy/grove-scheduler --timeout="$timeout"
fi

if [ "$monitoring" = 1 ]; then
  step "monitoring (needs the Prometheus Operator's CRDs)"
  "$kubectl" apply -k "$root/deploy/monitoring"
fi

step "done"
"$kubectl" -n grove-system get deploy,svc
