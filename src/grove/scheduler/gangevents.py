"""Gang decisions of the ledger, published as Kubernetes Events on their PodGang
(``kubectl describe podgang`` / ``kubectl get events``)."""

from __future__ import annotations

from collections.abc import Callable

from grove.runtime.cache import Store
from grove.runtime.events import NORMAL, WARNING, EventRecorder
from grove.runtime.meta import Obj
from grove.scheduler.gang import PODGANG_API_VERSION
from grove.scheduler.ledger import GangEvent

__all__ = ["EVENT_REASONS", "GangEventPublisher"]

# GangEvent.kind -> (event type, reason)
EVENT_REASONS: dict[str, tuple[str, str]] = {
    "planned": (NORMAL, "GangPlanned"),
    "unschedulable": (WARNING, "GangUnschedulable"),
    "incomplete": (NORMAL, "GangIncomplete"),
    "expired": (WARNING, "GangPlanExpired"),
    "replanned": (NORMAL, "GangReplanned"),
}


class GangEventPublisher:
    """``Ledger(on_event=publisher)``: records each decision as an Event on the PodGang, while ``active()``.

    The PodGang comes from the informer's store (for its uid); a PodGang already deleted still gets the
    event, by name.
    """

    def __init__(self, recorder: EventRecorder, podgangs: Store, active: Callable[[], bool]) -> None:
        self.recorder = recorder
        self.podgangs = podgangs
        self.active = active

    def __call__(self, event: GangEvent) -> None:
        if not self.active():
            return
        event_type, reason = EVENT_REASONS.get(event.kind, (NORMAL, "Gang" + event.kind.capitalize()))
        self.recorder.event(self._involved(event.gang), event_type, reason, event.message)

    def _involved(self, key: str) -> Obj:
        stored = self.podgangs.get(key)
        if stored is not None:
            return {"apiVersion": PODGANG_API_VERSION, "kind": "PodGang", "metadata": stored["metadata"]}
        namespace, _, name = key.partition("/")
        return {
            "apiVersion": PODGANG_API_VERSION,
            "kind": "PodGang",
            "metadata": {"name": name, "namespace": namespace},
        }
