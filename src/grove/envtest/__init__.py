"""A real Kubernetes control plane for tests and ``grove dev --k8s-assets``: the launcher
(:mod:`~grove.envtest.controlplane`), fake nodes and kubelets over HTTP, and Grove installed on it as in a
cluster. Only the dev experience and tests import this package."""
