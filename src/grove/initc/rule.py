"""When a ``grove-initc`` init container may finish: each parent PodClique has minAvailable Ready pods.

Pure functions over pod dicts, shared by ``grove initc`` (which watches the pods of its PodGang) and the dev
cluster's fake kubelet gate (:func:`make_initc_gate`), so both apply the same rule.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from grove.api import constants, labels

__all__ = ["make_initc_gate", "parse_podcliques", "ready_pods", "unmet_parents"]

PODCLIQUES_FLAG = "--podcliques"


def parse_podcliques(values: Iterable[str]) -> dict[str, int]:
    """Parents from ``<pclq>:<minAvailable>`` values (a value may hold several, comma-separated).

    Raises ValueError naming the bad value and the rule.
    """
    out: dict[str, int] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, count = item.rpartition(":")
            if not sep or not name:
                raise ValueError(f"{PODCLIQUES_FLAG}: {item!r} must be <podclique>:<minAvailable>")
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"{PODCLIQUES_FLAG}: {item!r}: minAvailable must be a positive integer")
            out[name] = int(count)
    return out


def _is_ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def ready_pods(pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Ready, non-terminating pods per PodClique (label ``grove.io/podclique``)."""
    out: dict[str, int] = {}
    for pod in pods:
        pclq = ((pod.get("metadata") or {}).get("labels") or {}).get(labels.PODCLIQUE)
        if pclq and _is_ready(pod):
            out[pclq] = out.get(pclq, 0) + 1
    return out


def unmet_parents(
    parents: Mapping[str, int], pods: Iterable[Mapping[str, Any]]
) -> dict[str, tuple[int, int]]:
    """The parents without enough Ready pods: name -> (ready, required). Empty when the pod may start."""
    ready = ready_pods(pods)
    return {name: (ready.get(name, 0), need) for name, need in parents.items() if ready.get(name, 0) < need}


def _flag_values(args: Sequence[str]) -> list[str]:
    values: list[str] = []
    it = iter(args)
    for arg in it:
        if arg.startswith(PODCLIQUES_FLAG + "="):
            values.append(arg.split("=", 1)[1])
        elif arg == PODCLIQUES_FLAG:
            values.append(next(it, ""))
    return values


ListPods = Callable[[str, str], "Iterable[Mapping[str, Any]] | Awaitable[Iterable[Mapping[str, Any]]]"]
"""``list_pods(namespace, label_selector)``: the pods a gate may look at."""


def make_initc_gate(
    list_pods: ListPods,
) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Awaitable[bool]]:
    """A fake kubelet init-container gate applying this rule to ``grove-initc`` containers.

    Other init containers pass. The parents come from the container's ``--podcliques`` arguments, the pods
    from ``list_pods(pod namespace, "grove.io/podgang=<pod's gang>")``, as ``grove initc`` sees them.
    """

    async def gate(pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        if container.get("name") != constants.INITC_CONTAINER_NAME:
            return True
        try:
            parents = parse_podcliques(
                _flag_values([*container.get("command", ()), *container.get("args", ())])
            )
        except ValueError:
            return False
        if not parents:
            return True
        meta = pod.get("metadata") or {}
        gang = (meta.get("labels") or {}).get(labels.PODGANG, "")
        listed = list_pods(meta.get("namespace", ""), f"{labels.PODGANG}={gang}")
        pods = await listed if inspect.isawaitable(listed) else listed
        return not unmet_parents(parents, pods)

    return gate
