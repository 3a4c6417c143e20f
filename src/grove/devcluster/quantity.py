"""Kubernetes resource quantities (``500m``, ``2Gi``, ``1e3``) as exact numbers.

The scheduler stand-in and the fake kubelets compare requests with allocatable amounts the way Kubernetes
does: CPU in millicores (``Quantity.MilliValue``), everything else in whole units (``Quantity.Value``), both
rounded up.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Any

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)

CPU = "cpu"


def parse_quantity(value: Any, field: str = "quantity") -> Fraction:
    """The exact amount ``value`` denotes; ``ValueError`` naming ``field`` when it is not a quantity."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not a quantity")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    if not isinstance(value, str):
        raise ValueError(f"{field}: {value!r} is not a quantity")
    m = _QUANTITY.match(value.strip())
    if m is None:
        raise ValueError(
            f"{field}: {value!r} is not a quantity (expected a number with an optional suffix such as "
            f"500m, 2, 1.5Gi, 128Mi or 1e3)"
        )
    number = Fraction(m.group(1))
    if m.group(2):
        return number * Fraction(10) ** int(m.group(2)[1:])
    suffix = m.group(3) or ""
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def _ceil(q: Fraction) -> int:
    return -((-q.numerator) // q.denominator)


def amount(resource: str, value: Any, field: str = "quantity") -> int:
    """The integer Kubernetes compares for ``resource``: millicores for cpu, units (rounded up) otherwise."""
    if isinstance(value, str):
        try:
            return _amount_of_text(resource == CPU, value)
        except ValueError:
            pass
    q = parse_quantity(value, field)
    return _ceil(q * 1000) if resource == CPU else _ceil(q)


@functools.lru_cache(maxsize=4096)
def _amount_of_text(milli: bool, value: str) -> int:
    q = parse_quantity(value)
    return _ceil(q * 1000) if milli else _ceil(q)


def format_amount(resource: str, value: int) -> str:
    """``amount`` back as a quantity string (cpu in millicores unless whole cores)."""
    if resource == CPU:
        return str(value // 1000) if value % 1000 == 0 else f"{value}m"
    return str(value)
