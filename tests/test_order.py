import pytest
import torch

from spikeDE.order import LEARNABLE_ALPHA_MAX, FractionalOrder


def test_fixed_order_is_a_buffer():
    o = FractionalOrder(1.0)
    assert o.is_one() and o().item() == 1.0
    assert len(list(o.parameters())) == 0 and "fixed" in dict(o.named_buffers())


def test_learnable_order_stays_in_open_interval_with_live_gradient():
    o = FractionalOrder(0.5, learnable=True)
    assert [n for n, _ in o.named_parameters()] == ["alpha_logit"]
    assert o().item() == pytest.approx(0.5)
    opt = torch.optim.SGD(o.parameters(), lr=2.0)
    for _ in range(50):  # push alpha hard towards 1: it approaches but never reaches 1
        opt.zero_grad()
        (-o()).backward()
        assert o.logit.grad.abs().item() > 0
        opt.step()
    assert 0.9 < o().item() < 1.0
    assert FractionalOrder(1.0, learnable=True)().item() == pytest.approx(LEARNABLE_ALPHA_MAX)


def test_per_channel_shape():
    o = FractionalOrder(0.3, learnable=True, shape=(4,))
    assert o().shape == (4,)
    o2 = FractionalOrder([0.2, 0.9], shape=(2,))
    assert o2().tolist() == pytest.approx([0.2, 0.9])
    with pytest.raises(ValueError, match="shape"):
        FractionalOrder([0.2, 0.9], shape=(3,))


def test_bad_alpha_names_the_layer():
    with pytest.raises(ValueError, match="layer2: alpha must satisfy 0 < alpha <= 1"):
        FractionalOrder(1.5, name="layer2")
    with pytest.raises(ValueError):
        FractionalOrder([0.5, 0.0])
