"""One engine: every neuron scheme is the fdeint scheme of the same name on the non-spiking membrane
(threshold = inf), float64, to 1e-12; the scheme table, the memory parser and reset_net are shared."""
import numpy as np
import pytest
import torch
from torch import nn

from spikeDE import IFNeuron, LIFNeuron, reset_net
from spikeDE.dynamics.schemes import METHODS as NEURON_METHODS
from spikeDE.events import SpikingODELayer
from spikeDE.fractional import fdeint
from spikeDE.fractional.memory import parse_memory
from spikeDE.fractional.schemes import SCHEMES, resolve
from spikeDE.neuron import check_memory
from spikeDE.ssm import LoongSpike

F64 = torch.float64


def _drive(T=40, D=5):
    return torch.rand(T, D, dtype=F64, generator=torch.Generator().manual_seed(0)) * 2 - 0.5


CASES = [(m, a, dt, None) for m in NEURON_METHODS if SCHEMES[m].fdeint
         for a, dt in ((0.6, 1.0), (0.35, 0.5), (1.0, 0.25))]
# short memory: both truncate the GL kernel at the same lag; l1 and predictor truncate different forms of their
# kernels (the neuron its membrane kernel, fdeint the differences / the drift history), so they differ by design
CASES += [("gl", 0.7, 1.0, 6)]


@pytest.mark.parametrize("method,alpha,dt,memory", CASES)
@pytest.mark.parametrize("leak", [True, False])
def test_non_spiking_neuron_is_fdeint(method, alpha, dt, memory, leak):
    """tau D^a v = -lambda v + X(t), X held over each step (X(t_{n-1}) = X_n), v(0) = 0."""
    X = _drive()
    T, tau = X.shape[0], 2.0
    cls = LIFNeuron if leak else IFNeuron
    neuron = cls(tau=tau, threshold=float("inf"), alpha=alpha, method=method, dt=dt, memory=memory)
    neuron.record = True
    S = neuron(X)
    lam = 1.0 if leak else 0.0

    def func(t, y):
        n = int(round(float(t) / dt))
        return (X[n] - lam * y) / tau

    t = torch.arange(T + 1, dtype=F64) * dt
    y = fdeint(func, torch.zeros(X.shape[1], dtype=F64), t, alpha, method=method, memory=memory)
    assert S.sum() == 0 and y.abs().max() > 0.1
    torch.testing.assert_close(neuron.v_seq, y[1:], rtol=0, atol=1e-12)


def test_scheme_table_is_shared():
    # one name space: every alias resolves the same for fdeint and neurons where both offer the scheme
    for s in SCHEMES.values():
        for alias in (s.name, *s.aliases):
            if s.fdeint:
                assert resolve(alias, "fdeint") == s.name
            if s.neurons:
                assert resolve(alias, "neurons") == s.name
    y = fdeint(lambda t, y: -y, torch.ones(2, dtype=F64), torch.linspace(0, 1, 6, dtype=F64), 0.5, method="grunwald")
    assert torch.equal(y, fdeint(lambda t, y: -y, torch.ones(2, dtype=F64), torch.linspace(0, 1, 6, dtype=F64), 0.5,
                                 method="gl"))
    with pytest.raises(ValueError, match="'heun'"):  # the neuron-only scheme is not fdeint's corrector
        fdeint(lambda t, y: -y, torch.ones(2), torch.linspace(0, 1, 5), 0.5, method="heun")
    with pytest.warns(DeprecationWarning, match="method='heun'"):
        n = LIFNeuron(alpha=0.5, method="corrector")
    assert n.method == "heun"


def test_one_memory_parser():
    for value, spec in [(None, ("full", None)), (7, ("short", 7)), ("soe", ("soe", None)), ("full", ("full", None))]:
        p = parse_memory(value)
        assert (p.kind, p.steps) == spec
        assert check_memory(value) == {"full": None, "short": 7, "soe": "soe"}[spec[0]]
    for bad in (0, -3, "last", 2.5, True):
        with pytest.raises(ValueError, match="memory"):
            parse_memory(bad)
        with pytest.raises(ValueError, match="memory"):
            check_memory(bad)
    assert check_memory(-1) is None  # spikeDE 0.1.0's full memory


def test_reset_net_resets_every_stateful_layer():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = LIFNeuron(alpha=0.5, step_mode="s")
            self.events = SpikingODELayer(3, 2, seed=0)
            self.block = LoongSpike(4, d_state=4, alpha=0.5)

    net = Mixed()
    net.block(torch.rand(2, 5, 4))
    assert net.block.channel_rates is not None
    net.lif(torch.ones(4, 3))
    net.events.step(np.ones(3, dtype=np.float32) * 5)
    assert net.events.time > 0 and net.lif.stream_state()[1] is not None
    reset_net(net)
    assert net.events.time == 0.0 and net.events.spike_train is None
    assert all(v is None for v in net.lif.stream_state())
    assert net.block.channel_rates is None and all(v is None for v in net.block.neuron.stream_state())
