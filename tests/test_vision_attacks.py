"""Event-frame attacks: the statistics of their definitions."""
import math

import pytest
import torch

from spikeDE.analysis.attacks import apply_attack, event_drop, event_jitter, event_noise


def _counts(seed=0, shape=(10, 8, 2, 6, 6), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full(shape, 1.5, dtype=torch.float64), generator=g).to(dtype)


def test_event_drop_thins_counts():
    x = _counts(dtype=torch.float64)
    y = event_drop(x, 0.3, generator=0)
    assert y.dtype == torch.float64 and bool((y <= x).all()) and bool((y >= 0).all())
    n = float(x.sum())
    assert abs(float(y.sum()) - 0.7 * n) < 5 * math.sqrt(0.21 * n)
    assert torch.equal(event_drop(x, 1.0, generator=0), torch.zeros_like(x))


def test_event_noise_adds_poisson_events():
    x = _counts()
    y = event_noise(x, 0.2, generator=1)
    d = y - x
    assert bool((d >= 0).all()) and abs(float(d.mean()) - 0.2) < 5 * math.sqrt(0.2 / d.numel())


def test_event_jitter_moves_events_by_discrete_gaussian():
    T, level = 21, 1.5
    x = torch.zeros(T, 4000)
    x[10] = 3.0                                                 # 12000 events, all at frame 10
    y = event_jitter(x, level, generator=2)
    assert torch.equal(y.sum(0), x.sum(0))                      # nothing lost per channel
    K = math.ceil(3 * level)
    d = torch.arange(-K, K + 1, dtype=torch.float64)
    q = torch.exp(-d ** 2 / (2 * level ** 2))
    q /= q.sum()
    hist = y.sum(1).double()[10 - K:10 + K + 1] / y.sum()
    assert float(y.sum(1)[:10 - K].sum() + y.sum(1)[10 + K + 1:].sum()) == 0
    torch.testing.assert_close(hist, q, atol=0.012, rtol=0)
    # clamping at the edges keeps events in the sequence
    z = torch.zeros(5, 100)
    z[0] = 2.0
    assert float(event_jitter(z, 2.0, generator=3).sum()) == 200.0


def test_event_attacks_refuse_non_counts():
    with pytest.raises(ValueError, match="counts"):
        apply_attack("event_drop", torch.rand(4, 2, 3), 0.5)
