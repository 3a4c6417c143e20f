"""Start-up dependencies between cliques (cliqueStartupType), shared by validation and the builders."""

from __future__ import annotations

from grove.api.constants import STARTUP_EXPLICIT, STARTUP_IN_ORDER
from grove.api.podcliqueset import PodCliqueSetTemplateSpec

__all__ = ["clique_parents"]


def clique_parents(template: PodCliqueSetTemplateSpec) -> dict[str, list[str]]:
    """For each clique template name, the clique names it starts after.

    AnyOrder: none. InOrder: the previous clique in template order. Explicit: ``startsAfter`` (unknown
    names and self references dropped; validation reports them).
    """
    names = [c.name for c in template.cliques]
    known = set(names)
    if template.clique_startup_type == STARTUP_IN_ORDER:
        return {name: ([names[k - 1]] if k > 0 else []) for k, name in enumerate(names)}
    if template.clique_startup_type == STARTUP_EXPLICIT:
        out: dict[str, list[str]] = {}
        for c in template.cliques:
            parents: list[str] = []
            for p in c.spec.starts_after:
                if p in known and p != c.name and p not in parents:
                    parents.append(p)
            out[c.name] = parents
        return out
    return {name: [] for name in names}
