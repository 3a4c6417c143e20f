"""Where the client connects: a kubeconfig or the pod's service account (controller-runtime GetConfig order).

1. an explicit kubeconfig path, 2. ``$KUBECONFIG``, 3. in-cluster service account (when
``KUBERNETES_SERVICE_HOST`` is set), 4. ``~/.kube/config``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import load_incluster_config, load_kube_config


class ConfigError(Exception):
    """No usable cluster configuration was found."""


async def load_configuration(
    kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None
) -> Any:
    """A fresh ``kubernetes_asyncio`` Configuration (never the library's process-wide default)."""
    cfg = Configuration()
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    if explicit:
        # $KUBECONFIG may list several files; kubernetes_asyncio merges them.
        await load_kube_config(config_file=str(explicit), context=context, client_configuration=cfg)
        return cfg
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return cfg
    default = Path.home() / ".kube" / "config"
    if default.exists():
        await load_kube_config(config_file=str(default), context=context, client_configuration=cfg)
        return cfg
    raise ConfigError(
        "no cluster configuration: pass a kubeconfig, set $KUBECONFIG, run in a pod, or create ~/.kube/config"
    )
