#!/usr/bin/env bash
# Run a command (default: a shell) in a private network namespace with only loopback, and a private PID
# namespace, so a real control plane started there (`grove dev --k8s-assets DIR`, `make test-k8s`) dials
# nothing outside this machine and dies with the command. kubectl must run in the same namespace to reach it:
#   hack/netns.sh
#   (inside) .venv/bin/grove dev --k8s-assets DIR --kubeconfig /tmp/k8s.yaml &
#   (inside) KUBECONFIG=/tmp/k8s.yaml .venv/bin/kubectl get nodes
# As root it uses `unshare --net --pid`; otherwise a user namespace maps you to root in it.
set -euo pipefail
if [ $# -eq 0 ]; then
    set -- "${SHELL:-/bin/sh}"
fi
ns=(unshare --net --pid --fork --kill-child)
if [ "$(id -u)" != 0 ]; then
    ns=(unshare --map-root-user --net --pid --fork --kill-child)
fi
if [ -t 0 ]; then
    # Interactive: the command keeps the terminal.
    exec "${ns[@]}" sh -c 'ip link set lo up && exec "$@"' netns "$@"
fi
# The namespace's first process only receives signals it handles (and unshare ignores SIGTERM and SIGINT),
# so a small init forwards them: a SIGTERM or Ctrl-C stops the command cleanly, and when it ends, however it
# ends, the kernel kills whatever is left in the namespace.
exec "${ns[@]}" sh -c '
ip link set lo up || exit 1
"$@" &
child=$!
trap "kill -TERM $child 2>/dev/null" TERM INT HUP
while :; do
    code=0
    wait "$child" || code=$?
    kill -0 "$child" 2>/dev/null || exit "$code"
done' netns "$@"
