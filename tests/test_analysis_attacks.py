import math

import numpy as np
import pytest
import torch

from spikeDE.analysis.attacks import (ATTACKS, apply_attack, gaussian_noise, input_dropout, occlusion,
                                      temporal_jitter)


def _spikes(T=40, B=6, C=5, p=0.2, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, C, generator=g) < p).to(dtype)


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_level_zero_is_identity_and_shape_dtype_preserved(name, dtype):
    x = _spikes(dtype=dtype)
    assert torch.equal(apply_attack(name, x, 0.0, generator=1), x)
    level = 2.0 if name == "jitter" else 0.3
    y = apply_attack(name, x, level, generator=1)
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert not torch.equal(y, x)
    # seeded: same seed, same result; another seed, another result
    assert torch.equal(y, apply_attack(name, x, level, generator=1))
    assert not torch.equal(y, apply_attack(name, x, level, generator=2))


def test_noise_std_matches_level():
    x = torch.rand(50, 40, 50, dtype=torch.float64)
    for level in (0.1, 0.7):
        d = gaussian_noise(x, level, generator=0) - x
        assert abs(float(d.mean())) < 5 * level / math.sqrt(d.numel())
        assert float(d.std()) == pytest.approx(level, rel=0.01)


def test_jitter_preserves_events_per_channel_and_bounds_shifts():
    x = _spikes(T=60, B=4, C=6, p=0.25)
    for level in (1, 3, 7.5):
        y = temporal_jitter(x, level, generator=3)
        bound = math.floor(level)
        for b in range(x.shape[1]):
            for c in range(x.shape[2]):
                tx = torch.nonzero(x[:, b, c]).flatten().numpy()
                ty = torch.nonzero(y[:, b, c]).flatten().numpy()
                assert len(tx) == len(ty)                        # same number of events, none lost or merged
                # sorted matching is optimal on a line: every event moved by <= floor(level) steps
                assert np.all(np.abs(tx - ty) <= bound)
        # real-valued input: each value can be tracked individually
        v = torch.randn(30, 3, 2, dtype=torch.float64)
        w = temporal_jitter(v, level, generator=4)
        for b in range(3):
            for c in range(2):
                col = v[:, b, c]
                for t_new, val in enumerate(w[:, b, c]):
                    t_old = int(torch.nonzero(col == val)[0])
                    assert abs(t_new - t_old) <= bound
                assert torch.equal(col.sort().values, w[:, b, c].sort().values)


def test_dropout_fraction_and_kept_entries():
    x = torch.rand(20, 30, 40) + 0.1                       # no zeros, so every zero is a drop
    for mode in ("element", "channel", "step"):
        y = input_dropout(x, 0.3, generator=5, mode=mode)
        dropped = y == 0
        assert torch.equal(y[~dropped], x[~dropped])
        frac = float(dropped.double().mean())
        assert abs(frac - 0.3) < 0.05
        if mode == "channel":
            assert torch.all(dropped == dropped[:1])           # a dropped channel is silent at all steps
        if mode == "step":
            assert torch.all(dropped == dropped[..., :1])      # a dropped step is silent on all channels
    assert torch.all(input_dropout(x, 1.0, generator=0) == 0)
    with pytest.raises(ValueError, match="probability"):
        input_dropout(x, 1.5)
    with pytest.raises(ValueError, match="mode"):
        input_dropout(x, 0.1, mode="pixel")


def test_occlusion_is_one_contiguous_window_per_sample():
    x = torch.rand(50, 8, 3) + 0.1
    y = occlusion(x, 0.2, generator=0)
    for b in range(8):
        hidden = torch.nonzero((y[:, b] == 0).all(-1)).flatten()
        assert len(hidden) == 10 and int(hidden[-1] - hidden[0]) == 9
        assert torch.all((y[:, b] == 0).any(-1) == (y[:, b] == 0).all(-1))
        assert torch.equal(y[:, b][y[:, b] != 0], x[:, b][y[:, b] != 0])
    assert torch.all(occlusion(x, 1.0, generator=0) == 0)


def test_bad_arguments():
    x = _spikes()
    with pytest.raises(ValueError, match="unknown attack"):
        apply_attack("blur", x, 0.1)
    with pytest.raises(ValueError, match="level"):
        gaussian_noise(x, -0.1)
    with pytest.raises(TypeError, match="floating"):
        temporal_jitter(x.long(), 1)
    with pytest.raises(ValueError, match="time-first"):
        gaussian_noise(torch.rand(5), 0.1)
