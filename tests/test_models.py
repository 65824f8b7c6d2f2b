"""Reference networks of spikeDE.models: plain arguments, a neuron factory, the layout the registrations use."""
import pytest
import torch
from torch import nn

from spikeDE import IFNeuron, LIFNeuron, SNNWrapper
from spikeDE.models import GRUClassifier, SpikingCNN, SpikingMLP, StepMLP


def test_spiking_mlp_is_the_plain_sequential():
    torch.manual_seed(0)
    net = SpikingMLP(6, 3, hidden=5, layers=2, neuron=lambda name: IFNeuron(), gain=2.0)
    torch.manual_seed(0)
    fc1, fc2, out = nn.Linear(6, 5), nn.Linear(5, 5), nn.Linear(5, 3)
    with torch.no_grad():
        for fc in (fc1, fc2):
            fc.weight.mul_(2.0)
            fc.bias.mul_(2.0)
    ref = nn.Sequential(nn.Flatten(1), fc1, IFNeuron(), fc2, IFNeuron(), out)
    x = torch.rand(20, 4, 6) * 2
    assert [n for n, _ in net.named_children()] == ["flatten", "fc1", "sn1", "fc2", "sn2", "readout"]
    a, b = SNNWrapper(net, integrator="odeint")(x), SNNWrapper(ref, integrator="odeint")(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("shape,conv", [((8,), nn.Conv1d), ((3, 10), nn.Conv1d), ((2, 8, 8), nn.Conv2d)])
def test_spiking_cnn_shapes(shape, conv):
    names = []
    net = SpikingCNN(shape, 4, hidden=3, layers=2, neuron=lambda name: names.append(name) or LIFNeuron())
    assert names == ["sn1", "sn2"] and isinstance(net.conv1, conv)
    out = SNNWrapper(net, alpha=0.6)(torch.rand(5, 2, *shape))
    assert out.shape == (5, 2, 4)
    with pytest.raises(ValueError, match="input_shape"):
        SpikingCNN((1, 2, 3, 4), 4)
    with pytest.raises(ValueError, match="layers must be an integer >= 1, got 0"):
        SpikingMLP(3, 2, layers=0)


def test_non_spiking_references():
    x = torch.rand(7, 3, 5)
    assert GRUClassifier(5, 8, 4)(x).shape == (7, 3, 4)
    mlp = StepMLP(5, 8, 4)
    assert torch.equal(mlp(x)[2], mlp(x[2:3])[0])  # no memory: step t depends on x_t only
    from spikeDE.ssm import SpikingSSMClassifier as Old
    from spikeDE.models import SpikingSSMClassifier
    assert Old is SpikingSSMClassifier
