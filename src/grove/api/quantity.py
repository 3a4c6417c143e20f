"""Kubernetes resource quantities (``resource.Quantity``): parsing, rounding and display.

The grammar follows ``k8s.io/apimachinery/pkg/api/resource``::

    <quantity> ::= <signedNumber><suffix>
    <suffix>   ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI> ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

Values are kept exact as :class:`fractions.Fraction`. The scheduler extender, the dev cluster's scheduler
stand-in and its fake kubelets compare integers the way kube-scheduler does: CPU in millicores
(``MilliValue``), everything else in whole units (``Value``), both rounded up.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

__all__ = [
    "CPU",
    "MEMORY",
    "PODS",
    "QuantityError",
    "amount",
    "format_amount",
    "parse_quantity",
    "to_scheduler_units",
]

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
# The exponent alternative comes first so that "1E3" is 1000 and not "1 exa" followed by garbage.
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?:(?P<exp>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)"
)
# Quantities beyond 10^±64 are certainly a typo and would make exact arithmetic needlessly expensive.
_MAX_EXPONENT = 64


class QuantityError(ValueError):
    """A quantity string that does not follow the Kubernetes grammar; the message names the field."""


def parse_quantity(value: object, field: str = "quantity") -> Fraction:
    """Parse a Kubernetes quantity (``"500m"``, ``"2Gi"``, ``"1e3"``, ``4``) into an exact fraction.

    ``field`` names the offending field in the error, e.g. ``spec.containers[0].resources.requests.cpu``.
    JSON numbers are accepted as Kubernetes does when it decodes a Quantity.
    """
    if isinstance(value, bool):
        raise QuantityError(f"{field}: quantity must be a string or a number, got a boolean")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"{field}: quantity must be finite, got {value}")
        return Fraction(repr(value))
    if not isinstance(value, str):
        raise QuantityError(f"{field}: quantity must be a string or a number, got {type(value).__name__}")
    text = value.strip()
    match = _QUANTITY.fullmatch(text)
    if match is None or not (match["int"] or match["frac"]):
        raise QuantityError(
            f"{field}: {value!r} is not a quantity (expected a number with an optional suffix "
            "n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as 1e3)"
        )
    digits = (match["int"] or "") + (match["frac"] or "")
    number = Fraction(int(digits), 10 ** len(match["frac"] or ""))
    if match["exp"]:
        exponent = int(match["exp"][1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise QuantityError(f"{field}: exponent of {value!r} is outside ±{_MAX_EXPONENT}")
        number *= Fraction(10) ** exponent
    else:
        suffix = match["suffix"] or ""
        number *= _BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix]
    return -number if match["sign"] == "-" else number


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def to_scheduler_units(resource: str, value: Fraction) -> int:
    """The integer kube-scheduler compares: millicores for ``cpu``, whole units (bytes, pods, GPUs) otherwise.

    Both round up, as ``Quantity.MilliValue`` and ``Quantity.Value`` do.
    """
    return _ceil(value * 1000) if resource == CPU else _ceil(value)


def amount(resource: str, value: object, field: str = "quantity") -> int:
    """``to_scheduler_units(resource, parse_quantity(value, field))``, remembered for quantity strings.

    The same few strings (``"500m"``, ``"1Gi"``) recur in every pod, so parsing each once matters for
    schedulers that look at thousands of pods.
    """
    if isinstance(value, str):
        try:
            return _amount_of_text(resource == CPU, value)
        except QuantityError:
            pass  # parse again below so that the error names the field
    return to_scheduler_units(resource, parse_quantity(value, field))


@functools.lru_cache(maxsize=4096)
def _amount_of_text(milli: bool, value: str) -> int:
    return to_scheduler_units(CPU if milli else "", parse_quantity(value))


def _trim(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def format_amount(resource: str, amount: int) -> str:
    """Human form of a scheduler-unit amount for messages: ``10 cpu``, ``20Gi``, ``8 nvidia.com/gpu``."""
    if resource == CPU:
        return f"{_trim(amount / 1000)} cpu" if amount % 100 == 0 else f"{amount}m cpu"
    if resource == MEMORY or resource.startswith("hugepages-") or resource == "ephemeral-storage":
        for suffix, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if amount >= factor:
                text = f"{_trim(amount / factor)}{suffix}"
                return text if resource == MEMORY else f"{text} {resource}"
        return f"{amount} bytes" if resource == MEMORY else f"{amount} bytes {resource}"
    return f"{amount} {resource}"
