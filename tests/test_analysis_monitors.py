import pytest
import torch
from torch import nn

from spikeDE.analysis import monitors
from spikeDE.analysis.monitors import SpikeMonitor, register_spiking_type


class Threshold(nn.Module):
    """A stand-in spiking layer: S = H(x - 0.5)."""

    def forward(self, x):
        return (x >= 0.5).to(x.dtype)


class StatefulThreshold(Threshold):
    def forward(self, x):
        s = super().forward(x)
        return s, x  # (spikes, state)


def _net():
    return nn.Sequential(nn.Identity(), Threshold(), nn.Identity(), StatefulThreshold())


def test_rates_and_counts_match_a_plain_count():
    torch.manual_seed(1)
    net = _net()
    xs = [torch.rand(5, 3, 7, dtype=torch.float64) for _ in range(3)]
    with SpikeMonitor(net, types=[Threshold], record=True) as mon:
        for x in xs:
            net(x)
    assert mon.names == ["1", "3"]
    total = sum(float((x >= 0.5).sum()) for x in xs)
    n = sum(x.numel() for x in xs)
    for name in mon.names:
        assert mon.spike_counts()[name] == total
        assert mon.elements()[name] == n
        assert mon.rates()[name] == pytest.approx(total / n)
    assert mon.total_rate() == pytest.approx(total / n)
    assert len(mon.records("1")) == 3 and torch.equal(mon.records("1")[2], (xs[2] >= 0.5).double())
    # hooks removed on exit: nothing more is counted
    net(xs[0])
    assert mon.spike_counts()["1"] == total
    mon.reset()
    assert mon.spike_counts()["1"] == 0 and mon.rates()["1"] != mon.rates()["1"]  # nan after reset


def test_predicate_and_default_registration(monkeypatch):
    net = _net()
    mon = SpikeMonitor(net, predicate=lambda name, m: name == "3")
    net(torch.full((2, 2, 2), 0.7))
    assert mon.names == ["3"] and mon.rates()["3"] == 1.0
    mon.remove()
    monkeypatch.setattr(monitors, "_SPIKING_TYPES", [])
    with pytest.raises(ValueError, match="no layer"):
        SpikeMonitor(net)
    register_spiking_type(StatefulThreshold)
    assert SpikeMonitor(net).names == ["3"]
    with pytest.raises(TypeError):
        register_spiking_type(int)


def test_bad_arguments():
    net = _net()
    with pytest.raises(ValueError, match="either"):
        SpikeMonitor(net, types=[Threshold], predicate=lambda n, m: True)
    with pytest.raises(RuntimeError, match="record"):
        SpikeMonitor(net, types=[Threshold]).records("1")
