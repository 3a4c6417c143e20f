"""The rule every real control plane here starts under: a private network namespace with only loopback.

kube-apiserver dials Service ClusterIPs (a ``service:`` webhook clientConfig), endpoints and node addresses.
Inside a namespace whose only interface is ``lo`` those dials fail at once with "network unreachable"
instead of leaving the machine, so the launcher refuses to start anywhere else.

Interfaces are read through the process's own namespace (``if_nameindex`` and ``SIOCGIFFLAGS``), not from
``/sys/class/net``, which shows the namespace sysfs was mounted in.
"""

from __future__ import annotations

import fcntl
import socket
import struct

__all__ = ["HOW_TO", "NetworkNamespaceError", "check_loopback_only", "interfaces"]

HOW_TO = (
    "run it inside a private network namespace that has only the loopback interface, for example as root:\n"
    "  unshare --net --pid --fork --kill-child sh -c 'ip link set lo up && exec COMMAND'\n"
    "(`make test-k8s` does this itself)"
)
_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1


class NetworkNamespaceError(RuntimeError):
    """The current network namespace is not a private loopback-only one."""


def interfaces() -> list[str]:
    """Names of the network interfaces of this process's network namespace."""
    return sorted(name for _, name in socket.if_nameindex())


def _is_up(name: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", name.encode(), 0)
        flags: int = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, request))[1]
    return bool(flags & _IFF_UP)


def check_loopback_only() -> None:
    """Raise :class:`NetworkNamespaceError` unless ``lo`` is the only interface and it is up."""
    names = interfaces()
    others = [n for n in names if n != "lo"]
    if others:
        raise NetworkNamespaceError(
            f"refusing to start a Kubernetes control plane: this network namespace has interfaces other "
            f"than loopback ({', '.join(others)}), and kube-apiserver would dial Service and node "
            f"addresses through them; {HOW_TO}"
        )
    if "lo" not in names or not _is_up("lo"):
        raise NetworkNamespaceError(
            "refusing to start a Kubernetes control plane: the loopback interface is down "
            "(run `ip link set lo up` in this namespace first)"
        )
