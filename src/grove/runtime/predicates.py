"""Event filters for controller watches (controller-runtime ``pkg/predicate``).

A predicate sees each informer event before it is mapped to requests; returning False drops the event.
Delete events are given the last known object (tombstones are unwrapped first).
"""

from __future__ import annotations

from collections.abc import Callable

from grove.runtime.meta import Obj, annotations_of, generation_of, labels_of, resource_version_of


class Predicate:
    """Lets every event through; subclasses override the event types they filter."""

    def create(self, obj: Obj) -> bool:
        """Whether an add event passes."""
        return True

    def update(self, old: Obj, new: Obj) -> bool:
        """Whether an update event passes."""
        return True

    def delete(self, obj: Obj) -> bool:
        """Whether a delete event passes."""
        return True


class GenerationChanged(Predicate):
    """Drops updates that left ``metadata.generation`` unchanged (status-only and metadata-only writes).

    Caveat (as upstream): some built-in kinds do not bump generation on spec changes of subresources, and a
    controller using this predicate will not notice someone wiping its status.
    """

    def update(self, old: Obj, new: Obj) -> bool:
        return generation_of(old) != generation_of(new)


class LabelsChanged(Predicate):
    """Passes updates whose labels changed."""

    def update(self, old: Obj, new: Obj) -> bool:
        return dict(labels_of(old)) != dict(labels_of(new))


class AnnotationsChanged(Predicate):
    """Passes updates whose annotations changed."""

    def update(self, old: Obj, new: Obj) -> bool:
        return dict(annotations_of(old)) != dict(annotations_of(new))


class ResourceVersionChanged(Predicate):
    """Drops updates with an unchanged resourceVersion (resyncs)."""

    def update(self, old: Obj, new: Obj) -> bool:
        return resource_version_of(old) != resource_version_of(new)


class FuncPredicate(Predicate):
    """A predicate from optional functions; a missing function lets that event type through."""

    def __init__(
        self,
        create: Callable[[Obj], bool] | None = None,
        update: Callable[[Obj, Obj], bool] | None = None,
        delete: Callable[[Obj], bool] | None = None,
    ) -> None:
        self._create = create
        self._update = update
        self._delete = delete

    def create(self, obj: Obj) -> bool:
        return self._create is None or self._create(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return self._update is None or self._update(old, new)

    def delete(self, obj: Obj) -> bool:
        return self._delete is None or self._delete(obj)


class And(Predicate):
    """Passes an event only if every predicate passes it."""

    def __init__(self, *predicates: Predicate) -> None:
        self.predicates = predicates

    def create(self, obj: Obj) -> bool:
        return all(p.create(obj) for p in self.predicates)

    def update(self, old: Obj, new: Obj) -> bool:
        return all(p.update(old, new) for p in self.predicates)

    def delete(self, obj: Obj) -> bool:
        return all(p.delete(obj) for p in self.predicates)


class Or(Predicate):
    """Passes an event if any predicate passes it."""

    def __init__(self, *predicates: Predicate) -> None:
        if not predicates:
            raise ValueError("Or: at least one predicate is required")
        self.predicates = predicates

    def create(self, obj: Obj) -> bool:
        return any(p.create(obj) for p in self.predicates)

    def update(self, old: Obj, new: Obj) -> bool:
        return any(p.update(old, new) for p in self.predicates)

    def delete(self, obj: Obj) -> bool:
        return any(p.delete(obj) for p in self.predicates)


class Not(Predicate):
    """Inverts a predicate."""

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate

    def create(self, obj: Obj) -> bool:
        return not self.predicate.create(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return not self.predicate.update(old, new)

    def delete(self, obj: Obj) -> bool:
        return not self.predicate.delete(obj)
