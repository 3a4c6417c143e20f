"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm (``leaderelection.go``).

- A candidate tries to acquire every ``retry_period`` (jittered by a factor of 1.2). It may take the lease
  when nobody holds it (no holder, e.g. after a release) or when the holder has not renewed it for
  ``leaseDurationSeconds`` as measured on *our* clock since we last saw the record change (no clock-skew
  trust in the holder's timestamps).
- The leader renews every ``retry_period``; if it cannot renew within ``renew_deadline`` it has lost the
  lease and must stop acting as leader.
- On a graceful stop the leader releases the lease (clears the holder), so a standby takes over within about
  one retry period instead of a whole lease duration.

Writes use the lease's resourceVersion, so two candidates racing for the same lease cannot both win.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from grove.runtime.client import Client
from grove.runtime.errors import AlreadyExists, Conflict, KubeError, NotFound
from grove.runtime.meta import Obj
from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.resources import LEASES

log = structlog.get_logger(__name__)

JITTER_FACTOR = 1.2


def default_identity() -> str:
    """``<hostname>_<random>``: unique per process, recognisable per pod (as controller-runtime's)."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which lease and how fast. Defaults are controller-runtime's: 15 s / 10 s / 2 s."""

    lease_name: str
    lease_namespace: str
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_name or not self.lease_namespace:
            raise ValueError("LeaderElectionConfig.lease_name and lease_namespace: must not be empty")
        if not self.identity:
            raise ValueError("LeaderElectionConfig.identity: must not be empty")
        if self.lease_duration < 1:
            raise ValueError(
                f"lease_duration: must be >= 1 s (whole seconds on the lease), got {self.lease_duration}"
            )
        if not self.lease_duration > self.renew_deadline:
            raise ValueError(
                f"lease_duration ({self.lease_duration}) must be greater than "
                f"renew_deadline ({self.renew_deadline})"
            )
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"renew_deadline ({self.renew_deadline}) must be greater than "
                f"{JITTER_FACTOR} * retry_period ({self.retry_period})"
            )
        if self.retry_period <= 0:
            raise ValueError(f"retry_period: must be > 0, got {self.retry_period}")


def _micro_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class _Record:
    holder: str
    lease_duration: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> _Record:
        spec = lease.get("spec") or {}
        return cls(
            str(spec.get("holderIdentity") or ""),
            int(spec.get("leaseDurationSeconds") or 0),
            spec.get("acquireTime"),
            spec.get("renewTime"),
            int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder or None,
            "leaseDurationSeconds": self.lease_duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


class LeaderElector:
    """Acquires, holds and releases one lease: :meth:`acquire`, then :meth:`hold`, then :meth:`release`."""

    def __init__(
        self,
        client: Client,
        config: LeaderElectionConfig,
        *,
        metrics: RuntimeMetrics | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self._clock = clock
        self._lease: Obj | None = None
        self._observed: _Record | None = None
        self._observed_at = 0.0
        self._leader = False
        self._status = metrics.leader_election_master_status.labels(config.lease_name) if metrics else None
        if self._status is not None:
            self._status.set(0)
        self._log = log.bind(lease=f"{config.lease_namespace}/{config.lease_name}", identity=config.identity)

    @property
    def is_leader(self) -> bool:
        """True while we hold the lease (as of the last successful renew)."""
        return self._leader

    @property
    def observed_holder(self) -> str:
        """The holder in the last lease record we saw ("" when none)."""
        return self._observed.holder if self._observed else ""

    async def acquire(self) -> None:
        """Returns once we hold the lease; retries every ``retry_period`` with jitter (cancel to give up)."""
        self._log.info("leader_election.acquiring")
        while True:
            if await self._try_acquire_or_renew():
                self._set_leader(True)
                self._log.info("leader_election.acquired")
                return
            period = self.config.retry_period
            await asyncio.sleep(period + random.random() * JITTER_FACTOR * period)

    async def hold(self) -> None:
        """Renews the lease until a renewal fails for ``renew_deadline``; then returns (leadership lost)."""
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.retry_period)
            deadline = self._now() + cfg.renew_deadline
            renewed = False
            while True:
                remaining = deadline - self._now()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        renewed = await self._try_acquire_or_renew()
                except TimeoutError:
                    break
                if renewed:
                    break
                await asyncio.sleep(min(cfg.retry_period, max(deadline - self._now(), 0)))
            if not renewed:
                self._set_leader(False)
                self._log.warning("leader_election.lost", renew_deadline=cfg.renew_deadline)
                return

    async def release(self) -> bool:
        """Gives the lease up (clears the holder) if we hold it; True when released."""
        if not self._leader or self._lease is None or self._observed is None:
            return False
        now = _micro_time(datetime.now(UTC))
        record = _Record("", 1, now, now, self._observed.transitions)
        try:
            await self._write(record, create=False)
        except KubeError as exc:
            self._log.warning("leader_election.release_failed", error=str(exc))
            return False
        finally:
            self._set_leader(False)
        self._log.info("leader_election.released")
        return True

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now_dt = datetime.now(UTC)
        now = self._now()
        mine = _Record(
            cfg.identity, max(1, round(cfg.lease_duration)), _micro_time(now_dt), _micro_time(now_dt), 0
        )
        try:
            lease = await self.client.get(LEASES, cfg.lease_name, cfg.lease_namespace)
        except NotFound:
            try:
                await self._write(mine, create=True)
            except (AlreadyExists, Conflict):
                return False
            except KubeError as exc:
                self._log.warning("leader_election.create_failed", error=str(exc))
                return False
            return True
        except KubeError as exc:
            self._log.warning("leader_election.get_failed", error=str(exc))
            return False

        self._lease = lease
        current = _Record.of(lease)
        if current != self._observed:
            self._observed = current
            self._observed_at = now
        if (
            current.holder
            and current.holder != cfg.identity
            and self._observed_at + current.lease_duration > now
        ):
            return False
        if current.holder == cfg.identity:
            record = _Record(
                cfg.identity, mine.lease_duration, current.acquire_time, mine.renew_time, current.transitions
            )
        else:
            record = _Record(
                cfg.identity, mine.lease_duration, mine.acquire_time, mine.renew_time, current.transitions + 1
            )
        try:
            await self._write(record, create=False)
        except (Conflict, NotFound):
            return False
        except KubeError as exc:
            self._log.warning("leader_election.update_failed", error=str(exc))
            return False
        return True

    async def _write(self, record: _Record, *, create: bool) -> None:
        cfg = self.config
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": cfg.lease_name, "namespace": cfg.lease_namespace},
            "spec": record.spec(),
        }
        if create:
            result = await self.client.create(LEASES, body, cfg.lease_namespace)
        else:
            assert self._lease is not None
            body["metadata"]["resourceVersion"] = (self._lease.get("metadata") or {}).get("resourceVersion")
            result = await self.client.update(LEASES, body)
        self._lease = result
        self._observed = _Record.of(result)
        self._observed_at = self._now()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        if self._status is not None:
            self._status.set(1 if leader else 0)
