"""The request attributes kube-apiserver authorizes, recorded per resource request.

kube-apiserver turns every resource request into authorization attributes (``RequestInfo``): the verb
(``get``/``list``/``watch`` for reads, ``create``/``update``/``patch``/``delete``/``deletecollection`` for
writes), the API group, the resource, the subresource, the namespace and the name. The dev cluster has no
authorizer; recording those attributes lets a test check that a component's RBAC rules cover every request
it made. Requests are told apart by their ``User-Agent`` (each Grove component sets its own).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["RequestAttributes", "RequestLog", "authorization_verb"]


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    """One resource request as an authorizer sees it."""

    user_agent: str
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str


def authorization_verb(method: str, *, has_name: bool, watch: bool) -> str:
    """The RBAC verb of an HTTP request, as kube-apiserver's ``RequestInfoFactory`` derives it."""
    if method == "GET":
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class RequestLog:
    """Thread-safe, de-duplicated set of :class:`RequestAttributes` (one entry per distinct request, so
    repeated reads and writes of the same objects do not grow it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[RequestAttributes] = set()

    def record(self, attributes: RequestAttributes) -> None:
        """Remember one request."""
        with self._lock:
            self._seen.add(attributes)

    def snapshot(self) -> set[RequestAttributes]:
        """Everything recorded so far."""
        with self._lock:
            return set(self._seen)

    def clear(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._seen.clear()
