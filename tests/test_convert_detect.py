"""``spikeDE.convert.convert``: framework detection and the refusals that need no peer library."""
import pytest
import torch
from torch import nn

from spikeDE.convert import convert, detect_frameworks
from spikeDE.convert._common import scaled_surrogate
from spikeDE.surrogate import get_surrogate


def test_a_plain_torch_network_is_refused_with_a_pointer_to_ann_to_snn():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    assert detect_frameworks(net) == []
    with pytest.raises(ValueError, match="ann_to_snn"):
        convert(net)
    with pytest.raises(TypeError, match="nn.Module"):
        convert("not a module")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scaled_surrogate_is_the_scaled_function(dtype):
    x = torch.linspace(-2, 2, 41, dtype=dtype)
    for name in ("atan", "fast_sigmoid", "triangle", "gaussian", "sigmoid", "rectangular"):
        base = get_surrogate(name)
        s = scaled_surrogate(name, 0.3)
        out = s.derivative(x, 4.0)
        assert out.dtype == dtype
        torch.testing.assert_close(out, 0.3 * base.derivative(x, 4.0))
        assert s.peak(4.0) == pytest.approx(0.3 * base.peak(4.0))
        assert s.name not in ("atan", "fast_sigmoid", "triangle", "gaussian", "sigmoid", "rectangular")
    assert scaled_surrogate("atan", 1.0) is get_surrogate("atan")
    with pytest.raises(ValueError, match="gain"):
        scaled_surrogate("atan", -1.0)


def test_mixed_frameworks_are_all_converted():
    sjn = pytest.importorskip("spikingjelly.activation_based.neuron")
    snn = pytest.importorskip("snntorch")
    net = nn.Sequential(nn.Linear(4, 4), sjn.IFNode(), nn.Linear(4, 4),
                        snn.Leaky(beta=0.5, init_hidden=True, reset_mechanism="zero"))
    assert detect_frameworks(net) == ["spikingjelly", "snntorch"]
    out = convert(net)
    assert detect_frameworks(out) == []
