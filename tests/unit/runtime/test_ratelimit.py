"""Rate limiters: exponential per-item backoff, token bucket reservations, max-of."""

from __future__ import annotations

import pytest

from grove.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_default_is_5ms_doubling_capped_at_1000s() -> None:
    limiter = default_controller_rate_limiter()
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0
    assert limiter.num_requeues("a") == 20
    assert limiter.num_requeues("b") == 0


def test_exponential_is_per_item_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(1.0, 100.0)
    assert limiter.when("a") == 1.0
    assert limiter.when("a") == 2.0
    assert limiter.when("b") == 1.0
    limiter.forget("a")
    assert limiter.when("a") == 1.0


def test_exponential_never_overflows() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(2000):
        delay = limiter.when("a")
    assert delay == 1000.0


def test_exponential_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="base_delay"):
        ItemExponentialFailureRateLimiter(0, 1)
    with pytest.raises(ValueError, match="max_delay"):
        ItemExponentialFailureRateLimiter(2, 1)


def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=2, clock=clock)
    assert bucket.reserve() == 0
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    clock.now = 10.0
    assert bucket.reserve() == 0


def test_token_bucket_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0)


def test_max_of_takes_the_longest_delay() -> None:
    clock = FakeClock()
    limiter = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000), BucketRateLimiter(1, 1, clock))
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("b") == pytest.approx(1.0)
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    with pytest.raises(ValueError, match="limiters"):
        MaxOfRateLimiter()
