"""Label and field selectors with kube-apiserver's grammar and matching rules.

Label selectors (``k8s.io/apimachinery/pkg/labels``): comma-separated requirements ``k``, ``!k``, ``k=v``,
``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k>n``, ``k<n``. ``!=`` and ``notin`` also match
objects without the label. Field selectors (``k8s.io/apimachinery/pkg/fields``): ``f=v``, ``f==v``, ``f!=v``
over the fields a resource supports; anything else is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from grove.devcluster.errors import ApiError, bad_request

_SPECIAL = set(" \t,=!()<>")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement."""

    key: str
    op: str  # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if op in ("=", "in"):
            return value is not None and value in self.values
        if op in ("!=", "notin"):
            return value is None or value not in self.values
        if value is None:
            return False
        try:
            have, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == "gt" else have < want


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        if not self.requirements:
            return True
        lbl = labels or {}
        return all(r.matches(lbl) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements


EVERYTHING = LabelSelector()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def word(self) -> str:
        self.skip_ws()
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in _SPECIAL:
            self.i += 1
        return self.s[start : self.i]

    def op(self) -> str:
        self.skip_ws()
        for tok in ("==", "!=", "=", ">", "<"):
            if self.s.startswith(tok, self.i):
                self.i += len(tok)
                return tok
        save = self.i
        w = self.word()
        if w in ("in", "notin"):
            return w
        self.i = save
        return ""


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a label selector string; raises a 400 ApiError naming the problem."""
    if not text or not text.strip():
        return EVERYTHING
    lx = _Lexer(text)
    reqs: list[Requirement] = []
    while True:
        negate = lx.peek() == "!"
        if negate:
            lx.i += 1
        key = lx.word()
        if not key:
            raise _label_error(text, "found '', expected: identifier")
        _check_label_key(text, key)
        if negate:
            reqs.append(Requirement(key, "!"))
        else:
            nxt = lx.peek()
            if nxt in ("", ","):
                reqs.append(Requirement(key, "exists"))
            else:
                op = lx.op()
                if op in ("=", "=="):
                    reqs.append(Requirement(key, "=", (lx.word(),)))
                elif op == "!=":
                    reqs.append(Requirement(key, "!=", (lx.word(),)))
                elif op in ("in", "notin"):
                    reqs.append(Requirement(key, op, _parse_set(lx, text)))
                elif op in (">", "<"):
                    v = lx.word()
                    if not v.lstrip("-").isdigit():
                        raise _label_error(
                            text, f"for 'Gt', 'Lt' operators, the value must be an integer: {v}"
                        )
                    reqs.append(Requirement(key, "gt" if op == ">" else "lt", (v,)))
                else:
                    raise _label_error(text, f"found '{lx.peek()}', expected: '=', '!=', '==', 'in', notin'")
        nxt = lx.peek()
        if nxt == "":
            break
        if nxt != ",":
            raise _label_error(text, f"found '{nxt}', expected: ',' or 'end of string'")
        lx.i += 1
    return LabelSelector(tuple(reqs))


def _parse_set(lx: _Lexer, text: str) -> tuple[str, ...]:
    if lx.peek() != "(":
        raise _label_error(text, "found '', expected: '('")
    lx.i += 1
    values: list[str] = []
    while True:
        values.append(lx.word())
        nxt = lx.peek()
        lx.i += 1
        if nxt == ")":
            return tuple(values)
        if nxt != ",":
            raise _label_error(text, f"found '{nxt}', expected: ',', ')'")


def _check_label_key(text: str, key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or (prefix and len(prefix) > 253):
        raise _label_error(text, f"invalid label key {key!r}")


def _label_error(text: str, why: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {why}; selector: {text!r}")


def selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` (matchLabels + matchExpressions) as a LabelSelector."""
    if not selector:
        return EVERYTHING
    reqs: list[Requirement] = []
    for k, v in sorted((selector.get("matchLabels") or {}).items()):
        reqs.append(Requirement(k, "=", (str(v),)))
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def format_selector(selector: LabelSelector) -> str:
    """The canonical string form (``metav1.FormatLabelSelector``), used for Scale ``status.selector``."""
    parts: list[str] = []
    for r in selector.requirements:
        if r.op == "exists":
            parts.append(r.key)
        elif r.op == "!":
            parts.append("!" + r.key)
        elif r.op in ("=", "!="):
            parts.append(f"{r.key}{r.op}{r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
        else:
            parts.append(f"{r.key}{'>' if r.op == 'gt' else '<'}{r.values[0]}")
    return ",".join(parts)


FieldGetter = Callable[[dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One field requirement, resolved to the getter of its field."""

    field: str
    getter: FieldGetter
    value: str
    negate: bool

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether ``obj`` satisfies it."""
        return (self.getter(obj) == self.value) != self.negate


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector; the empty selector matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether ``obj`` is selected."""
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements


NO_FIELDS = FieldSelector()


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\=", "=").replace("\\\\", "\\")


def parse_field_selector(text: str | None, getters: Mapping[str, FieldGetter]) -> FieldSelector:
    """Parse a field selector over the fields in ``getters``; raises a 400 ApiError for unknown fields."""
    if not text or not text.strip():
        return NO_FIELDS
    reqs: list[FieldRequirement] = []
    for part in _split_unescaped(text, ","):
        if not part:
            continue
        for op, is_negated in (("!=", True), ("==", False), ("=", False)):
            idx = part.find(op)
            if idx > 0:
                field, value = part[:idx].strip(), _unescape(part[idx + len(op) :])
                negate = is_negated
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        getter = getters.get(field)
        if getter is None:
            raise bad_request(f"field label not supported: {field}")
        reqs.append(FieldRequirement(field, getter, value, negate))
    return FieldSelector(tuple(reqs))


def path_getter(*path: str) -> FieldGetter:
    """A getter reading a string field at ``path``, empty when absent (kube's field set has "" then)."""

    def get(obj: dict[str, Any]) -> str:
        cur: Any = obj
        for p in path:
            if not isinstance(cur, dict):
                return ""
            cur = cur.get(p)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get
