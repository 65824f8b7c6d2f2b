import itertools

import pytest
import torch
from torch import nn

from spikeDE.analysis.energy import E_AC_PJ, E_MAC_PJ, SynapticOpCounter, count_synaptic_ops
from spikeDE.analysis.monitors import SpikeMonitor


class Heaviside(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)


def _hand_net():
    lin1 = nn.Linear(4, 3, bias=False)
    lin2 = nn.Linear(3, 2, bias=True)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]]))
        lin2.weight.fill_(0.5)
        lin2.bias.zero_()
    return nn.Sequential(lin1, Heaviside(), lin2)


def test_hand_checked_network():
    net = _hand_net()
    # T=2, B=1, 4 input channels, spikes.
    x = torch.tensor([[[1.0, 0, 1, 0]], [[0, 0, 0, 1]]])
    ops = count_synaptic_ops(net, x)
    # layer 0: 3 input spikes, each reaches 3 outputs -> 9 ACs.
    # hidden spikes: t0 -> W1 x = [1, 0, 1] -> 2 spikes; t1 -> [0, 0, 1] -> 1 spike; each reaches 2 outputs -> 6 ACs.
    assert ops.layers["0"] == {"acs": 9.0, "macs": 0.0}
    assert ops.layers["2"] == {"acs": 6.0, "macs": 0.0}
    assert ops.n_samples == 1 and ops.acs == 15 and ops.macs == 0
    assert ops.energy_pj == pytest.approx(15 * 0.9)
    # real-valued input: the first layer does every multiply-accumulate: 2 steps * 4 inputs * 3 outputs.
    xr = torch.tensor([[[0.5, 0, 0.2, 0]], [[0, 0, 0, 0.3]]])
    ops = count_synaptic_ops(net, xr)
    assert ops.layers["0"] == {"acs": 0.0, "macs": 24.0}
    assert ops.layers["2"] == {"acs": 6.0, "macs": 0.0}
    assert ops.energy_pj == pytest.approx(24 * E_MAC_PJ + 6 * E_AC_PJ)
    assert (E_AC_PJ, E_MAC_PJ) == (0.9, 4.6)
    # forcing the input kind
    assert count_synaptic_ops(net, x, input_kind="real").layers["0"] == {"acs": 0.0, "macs": 24.0}
    assert count_synaptic_ops(net, xr, input_kind="spike").layers["0"] == {"acs": 9.0, "macs": 0.0}


def test_conv1d_border_hand_checked():
    conv = nn.Conv1d(1, 2, kernel_size=3, padding=1)
    x = torch.tensor([[[1.0, 0, 0, 0, 1]]])
    ops = count_synaptic_ops(conv, x, batch_dim=0)
    # each end pixel feeds 2 output positions (one tap falls off the border) x 2 channels -> 4 + 4
    assert ops.layers["Conv1d"]["acs"] == 8.0
    ops = count_synaptic_ops(conv, x + 0.5, batch_dim=0)
    # 5 outputs x 2 channels x (1 input channel x 3 taps)
    assert ops.layers["Conv1d"]["macs"] == 30.0


def _reference_conv2d_acs(x, conv):
    """Plain loop: for each output entry, count the nonzero inputs under its (dilated, strided) kernel."""
    B, C, H, W = x.shape
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    dh, dw = conv.dilation
    cpg = C // conv.groups
    opg = conv.out_channels // conv.groups
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    total = 0
    for b, co, i, j in itertools.product(range(B), range(conv.out_channels), range(Ho), range(Wo)):
        g = co // opg
        for ci, a, c in itertools.product(range(g * cpg, (g + 1) * cpg), range(kh), range(kw)):
            r, s = i * sh - ph + a * dh, j * sw - pw + c * dw
            if 0 <= r < H and 0 <= s < W and x[b, ci, r, s] != 0:
                total += 1
    return total, B * conv.out_channels * Ho * Wo * cpg * kh * kw


@pytest.mark.parametrize("kw", [dict(kernel_size=3, padding=1), dict(kernel_size=(2, 3), stride=2, padding=(1, 0)),
                                dict(kernel_size=3, dilation=2, padding=2, groups=2)])
def test_conv2d_matches_loop_reference(kw):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, **kw)
    x = (torch.rand(2, 4, 7, 6) < 0.3).float()
    acs, macs = _reference_conv2d_acs(x, conv)
    ops = count_synaptic_ops(conv, x, batch_dim=0)
    assert ops.layers["Conv2d"]["acs"] == acs
    assert count_synaptic_ops(conv, x, batch_dim=0, input_kind="real").layers["Conv2d"]["macs"] == macs
    assert ops.per_sample()["acs"] == acs / 2


def test_uncounted_layers_are_listed_and_counter_accumulates():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4)
            self.out = nn.Linear(4, 2)
            self.alpha = nn.Parameter(torch.tensor([0.5, 0.5]))

        def forward(self, x):
            return self.out(self.rnn(x)[0])

    net = Net()
    x = torch.randn(5, 2, 3)
    with SynapticOpCounter(net) as c:
        net(x)
        net(x)
    res = c.result(n_samples=4)
    assert res.uncounted == ["rnn"]
    assert res.layers["out"]["macs"] == 2 * 5 * 2 * 4 * 2
    assert res.per_sample()["macs"] == 5 * 2 * 4 * 2 / 2
    with pytest.raises(ValueError, match="input_kind"):
        SynapticOpCounter(net, input_kind="binary")


def test_hooks_detach_on_exit_and_counts_stay_readable():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    x = torch.ones(2, 3)
    with SynapticOpCounter(net, input_kind="real") as c:
        net(x)
    before = c.result(n_samples=2).layers["0"]["macs"]
    net(x)  # after the block: not counted
    assert c.result(n_samples=2).layers["0"]["macs"] == before == 2 * 3 * 4
    assert all(not m._forward_hooks for m in net.modules())
    with SpikeMonitor(net, predicate=lambda name, m: name == "1") as mon:
        net(x)
    assert all(not m._forward_hooks for m in net.modules()) and mon.spike_counts()["1"] == 4
