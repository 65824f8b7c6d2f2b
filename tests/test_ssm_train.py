"""A FractionalSSM layer learns the embedded sequential-digits task (T = 64) in a short run."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeDE.data.digits import sequential_digits
from spikeDE.ssm import FractionalSSM


class OneBlock(nn.Module):
    def __init__(self, H=32):
        super().__init__()
        self.enc = nn.Linear(1, H)
        self.ssm = FractionalSSM(H, 16, alpha=0.5, learn_alpha=True, dt_min=1e-2, dt_max=0.5)
        self.mix = nn.Linear(H, 2 * H)
        self.norm = nn.LayerNorm(H)
        self.dec = nn.Linear(H, 10)

    def forward(self, x):  # [B, T, 1]
        z = self.enc(x)
        z = self.norm(z + F.glu(self.mix(F.gelu(self.ssm(z))), -1))
        return self.dec(z[:, -1])  # last-step readout


@pytest.fixture
def one_thread():
    # small tensors: one thread avoids OpenMP synchronisation costs (large when the cores are shared)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_fractional_ssm_learns_sequential_digits_beyond_chance(one_thread):
    torch.manual_seed(0)
    X, Y = sequential_digits("train").tensors
    Xv, Yv = sequential_digits("val").tensors
    net = OneBlock()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    alpha0 = net.ssm.alpha.detach().clone()
    for _ in range(4):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = (net(Xv).argmax(1) == Yv).float().mean().item()
    assert acc > 0.4, acc  # chance is 0.1
    assert (net.ssm.alpha.detach() - alpha0).abs().max() > 1e-3  # the order was trained
