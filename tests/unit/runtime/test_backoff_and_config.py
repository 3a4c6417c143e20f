"""Backoff sequence and reset; leader-election and informer option validation."""

from __future__ import annotations

import random

import pytest

from grove.runtime.backoff import Backoff
from grove.runtime.informer import InformerOptions
from grove.runtime.leaderelection import LeaderElectionConfig


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_to_the_cap_with_jitter_and_resets_after_quiet() -> None:
    clock = FakeClock()
    b = Backoff(0.8, 30.0, jitter=1.0, reset_after=120.0, clock=clock, rng=random.Random(1))
    delays = []
    for _ in range(8):
        clock.now += 1
        delays.append(b.next())
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    for delay, base in zip(delays, bases, strict=True):
        assert base <= delay <= 2 * base
    clock.now += 121
    assert 0.8 <= b.next() <= 1.6
    b.reset()
    assert 0.8 <= b.next() <= 1.6


def test_backoff_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(0, 1)
    with pytest.raises(ValueError, match="factor"):
        Backoff(1, 2, factor=0.5)


def test_leader_election_config_defaults_and_validation() -> None:
    cfg = LeaderElectionConfig("lease", "ns")
    assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15.0, 10.0, 2.0)
    assert cfg.identity
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElectionConfig("lease", "ns", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElectionConfig("lease", "ns", renew_deadline=2, retry_period=2)
    with pytest.raises(ValueError, match="lease_name"):
        LeaderElectionConfig("", "ns")


def test_informer_options_validation() -> None:
    with pytest.raises(ValueError, match="inactivity_timeout"):
        InformerOptions(inactivity_timeout=0)
