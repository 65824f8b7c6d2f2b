"""The wrapper owns the orders: no wrapped parameter without a gradient, orders passed explicitly, names that
carry ``alpha`` / ``coefficient``, old checkpoints still load."""
import pytest
import torch
from torch import nn

from spikeDE import LIFNeuron, SNNWrapper


class Net(nn.Module):
    def __init__(self, **neuron_kw):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.lif1 = nn.Linear(5, 8), LIFNeuron(**neuron_kw)
        self.fc2, self.lif2 = nn.Linear(8, 3), LIFNeuron()
        with torch.no_grad():
            for fc in (self.fc1, self.fc2):
                fc.weight.mul_(3.0)
                fc.bias.fill_(1.0)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def _x():
    return torch.rand(25, 4, 5, generator=torch.Generator().manual_seed(0)) * 2


def test_every_wrapped_parameter_receives_a_gradient():
    with pytest.warns(UserWarning, match="learn_alpha"):
        net = SNNWrapper(Net(alpha=0.3, learn_alpha=True), alpha=[0.5, 0.7], learn_alpha=True)
    assert [n for n, _ in net.named_parameters() if "lif" in n] == []  # the neuron holds no order parameter
    (net(_x()) * torch.linspace(-1, 1, 3)).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert missing == []
    multi = SNNWrapper(Net(alpha=[0.3, 0.6], learn_coefficient=True, multi_coefficient=[1.0, 0.5]),
                       alpha=[[0.4, 0.8], [0.5]], multi_coefficient=[[1.0, 0.3], [1.0]], learn_alpha=True,
                       learn_coefficient=[True, False])
    (multi(_x()) * torch.linspace(-1, 1, 3)).sum().backward()
    assert [n for n, p in multi.named_parameters() if p.grad is None] == []


def test_parameter_names_carry_alpha_and_coefficient():
    net = SNNWrapper(Net(), alpha=[[0.4, 0.8], [0.5]], multi_coefficient=[[1.0, 0.3], [1.0]], learn_alpha=True,
                     learn_coefficient=[True, False])
    names = [n for n, _ in net.named_parameters()]
    assert [n for n in names if "alpha" in n] == ["orders.0.alpha_logit", "orders.1.alpha_logit"]
    assert [n for n in names if "coefficient" in n] == ["coefficients.0.log_coefficient"]
    assert net.orders[0].logit is net.orders[0].alpha_logit  # the former attribute names still read
    assert net.coefficients["0"].log_c is net.coefficients["0"].log_coefficient


def test_checkpoints_with_former_names_load():
    net = SNNWrapper(Net(), alpha=[[0.4, 0.8], [0.5]], multi_coefficient=[[1.0, 0.3], [1.0]], learn_alpha=True,
                     learn_coefficient=True)
    with torch.no_grad():
        net.orders[0].alpha_logit.add_(0.4)
        net.coefficients["0"].log_coefficient.add_(0.2)
    old = {k.replace("alpha_logit", "logit").replace("log_coefficient", "log_c"): v
           for k, v in net.state_dict().items()}
    assert "orders.0.logit" in old and "coefficients.0.log_c" in old
    fresh = SNNWrapper(Net(), alpha=[[0.5, 0.9], [0.6]], multi_coefficient=[[1.0, 1.0], [1.0]], learn_alpha=True,
                       learn_coefficient=True)
    fresh.load_state_dict(old)
    x = _x()
    assert torch.equal(fresh(x), net(x))


def test_orders_are_passed_explicitly_per_call():
    base = Net()
    net = SNNWrapper(base, alpha=0.6)
    out = net(_x())
    assert "_external" not in vars(base.lif1) and not base.lif1._forward_pre_hooks  # nothing left behind
    # the same neuron, given the same orders explicitly, is what the wrapper ran
    ref = LIFNeuron(alpha=0.6)
    x = _x()
    h = ref(base.fc1(x))
    assert torch.equal(out, LIFNeuron(alpha=0.6)(base.fc2(h)))


def test_whole_modules_pickled_with_former_names_load():
    from spikeDE.order import FractionalOrder, MultiTermCoefficients

    for mod, old, new in ((FractionalOrder(0.4, learnable=True), "logit", "alpha_logit"),
                          (MultiTermCoefficients([1.0, 0.5], True), "log_c", "log_coefficient")):
        state = dict(vars(mod))
        state["_parameters"] = {old if k == new else k: v for k, v in state["_parameters"].items()}
        restored = type(mod).__new__(type(mod))
        restored.__setstate__(state)  # what unpickling a module saved under the former name does
        assert torch.equal(restored(), mod()) and [n for n, _ in restored.named_parameters()] == [new]
