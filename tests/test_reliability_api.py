"""Regression tests of the Python API's reliability: non-finite inputs never turn into silent results, invalid
values are refused, empty and half-precision tensors work or raise a ValueError naming the argument."""

import pytest
import torch
from torch import nn

from spikeDE.fractional.fdeint import fdeint
from spikeDE.neuron import LIFNeuron
from spikeDE.ssm.block import LoongSpike
from spikeDE.models.ssm_classifier import SpikingSSMClassifier
from spikeDE.ssm.fractional_ssm import FractionalSSM
from spikeDE.wrapper import SNNWrapper

NEURONS = [dict(alpha=1.0), dict(alpha=0.5), dict(alpha=0.5, memory="soe"), dict(alpha=0.6, memory=3)]


def _lif_reference(x, tau=2.0, theta=1.0):
    """The discrete LIF neuron written out plainly (alpha = 1): a non-finite charge gives a NaN spike."""
    v = torch.zeros_like(x[0])
    out = []
    for xt in x:
        h = v + (xt - v) / tau
        s = (h >= theta).to(x.dtype)
        s = torch.where(torch.isfinite(h), s, torch.nan)
        v = h - theta * s
        out.append(s)
    return torch.stack(out)


# ------------------------------------------------------------------------------------------- item 4: NaN in
@pytest.mark.parametrize("kw", NEURONS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_visible_in_the_spikes(kw, bad):
    x = torch.rand(12, 2, 3, dtype=torch.float64) * 2
    xb = x.clone()
    xb[4, 0, 1] = bad
    ref = LIFNeuron(**kw)(x)
    out = LIFNeuron(**kw)(xb)
    assert torch.equal(out[:4], ref[:4])                       # causal: earlier steps unchanged
    assert torch.isnan(out[4:, 0, 1]).any()                    # never silently "no spike"
    assert torch.equal(out[:, 1], ref[:, 1])                   # other samples untouched
    # single-step mode gives the same (NaN included)
    n = LIFNeuron(step_mode="s", **kw)
    single = torch.stack([n(xt) for xt in xb])
    assert torch.isnan(single[4:, 0, 1]).any() and torch.equal(single[:4], ref[:4])


def test_nan_spikes_match_the_plain_lif_reference():
    x = torch.rand(10, 5, dtype=torch.float64) * 2
    x[3, 2] = float("nan")
    out = LIFNeuron()(x)
    ref = _lif_reference(x)
    assert torch.equal(torch.isnan(out), torch.isnan(ref))
    fin = ~torch.isnan(ref)
    assert torch.equal(out[fin], ref[fin])


@pytest.mark.parametrize("case", ["finite", "nan", "inf", "-inf", "overflowing_sum", "empty"])
def test_nan_spikes_is_the_elementwise_rule(case):
    # S is NaN exactly where H is not finite, whatever the total of H (the CPU path first tests sum(H))
    from spikeDE.dynamics.spiking import nan_spikes_
    H = torch.randn(0 if case == "empty" else 50, 7)
    if case == "overflowing_sum":
        H[:4] = 3e38  # finite entries whose float32 sum is inf
    elif case != "finite" and case != "empty":
        H[17, 3] = float(case)
    S = (H >= 0.5).float()
    ref = torch.where(torch.isfinite(H), S, torch.full_like(S, float("nan")))
    out = nan_spikes_(S.clone(), H)
    assert torch.equal(torch.isnan(out), torch.isnan(ref)) and torch.equal(out[~out.isnan()], ref[~ref.isnan()])


@pytest.mark.parametrize("mode", ["multi", "single"])
def test_wrapper_propagates_nan(mode):
    net = nn.Sequential(nn.Linear(3, 4), LIFNeuron(), nn.Linear(4, 2), LIFNeuron())
    w = SNNWrapper(net, alpha=0.5, step_mode=mode)
    x = torch.rand(8, 2, 3) * 3
    xb = x.clone()
    xb[2, 1, 0] = float("nan")
    ref, out = w(x), w(xb)
    assert torch.equal(out[:2], ref[:2]) and torch.equal(out[:, 0], ref[:, 0])
    assert torch.isnan(out[2:, 1]).any()


# ------------------------------------------------------------------------- item 3: FractionalSSM causality
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_ssm_parallel_mode_refuses_non_finite_input_naming_the_position(bad):
    ssm = FractionalSSM(4, 8)
    x = torch.randn(2, 60, 4)
    x[1, 40, 3] = bad
    with pytest.raises(ValueError, match=r"x\[1, 40, 3\]"):
        ssm(x)
    block = LoongSpike(4, 8)
    with pytest.raises(ValueError, match=r"x\[1, 40, 3\]"):
        block.ssm(x)


def test_ssm_streaming_outputs_before_a_bad_sample_are_exactly_unchanged():
    ssm = FractionalSSM(4, 8, alpha=0.6).eval()
    x = torch.randn(2, 50, 4, dtype=torch.float64)
    ssm = ssm.double()
    xb = x.clone()
    xb[0, 30, 2] = float("nan")

    def stream(inp):
        st, ys = ssm.default_state(2, dtype=torch.float64), []
        with torch.no_grad():
            for t in range(inp.shape[1]):
                y, st = ssm.step(inp[:, t], st)
                ys.append(y)
        return torch.stack(ys, 1)

    a, b = stream(x), stream(xb)
    assert torch.equal(a[:, :30], b[:, :30])
    assert torch.isnan(b[0, 30:, 2]).all()
    # and the clean parallel mode agrees with the stream (the same map)
    torch.testing.assert_close(ssm(x), a, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- item 8: empty and half precision
def test_empty_sequences_give_empty_outputs():
    for kw in NEURONS:
        for shape in ((0, 2, 3), (5, 0, 3)):
            x = torch.zeros(shape)
            out = LIFNeuron(**kw)(x)
            assert out.shape == shape and out.dtype == x.dtype
    net = nn.Sequential(nn.Linear(3, 4), LIFNeuron())
    assert SNNWrapper(net)(torch.zeros(0, 2, 3)).shape == (0, 2, 4)
    assert SNNWrapper(net, step_mode="single")(torch.zeros(0, 2, 3)).shape == (0, 2, 4)
    for method in ("l1", "gl", "predictor"):
        y = fdeint(lambda t, y: -y, torch.zeros(0, dtype=torch.float64), torch.linspace(0, 1, 5), 0.5, method=method)
        assert y.shape == (5, 0) and y.dtype == torch.float64
    ssm = FractionalSSM(4, 8)
    assert ssm(torch.zeros(0, 10, 4)).shape == (0, 10, 4)
    assert ssm(torch.zeros(2, 0, 4)).shape == (2, 0, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_ssm_half_precision_matches_float32(dtype):
    ssm = FractionalSSM(4, 8)
    x = torch.randn(2, 30, 4).to(dtype)
    with torch.no_grad():
        y = ssm(x)
        ref = ssm(x.float())
    assert y.dtype == dtype and torch.isfinite(y).all()
    tol = 1e-2 if dtype == torch.float16 else 5e-2
    torch.testing.assert_close(y.float(), ref, rtol=tol, atol=tol * float(ref.abs().max()))


def test_single_step_batch_change_without_reset_is_a_clear_error():
    for kw in NEURONS:
        n = LIFNeuron(step_mode="s", **kw)
        n(torch.ones(4, 3))
        with pytest.raises(ValueError, match="reset"):
            n(torch.ones(2, 3))
        n.reset()
        assert n(torch.ones(2, 3)).shape == (2, 3)


def test_ssm_step_with_no_state_starts_at_zero():
    ssm = FractionalSSM(4, 8).eval()
    x = torch.randn(3, 4)
    y0, _ = ssm.step(x, None)
    y1, _ = ssm.step(x, ssm.default_state(3))
    assert torch.equal(y0, y1)
    with pytest.raises(ValueError, match="state"):
        ssm.step(x, "not a state")


def test_out_of_range_token_ids_name_the_argument():
    c = SpikingSSMClassifier(10, 3, d_model=8, n_blocks=1, d_state=4, tokens=True)
    for bad in (12, -1):
        with pytest.raises(ValueError, match=r"token ids .* 0 <= id < 10.*" + str(bad)):
            c(torch.tensor([[1, bad, 3]]))
    with pytest.raises(ValueError, match="token ids"):
        c.step(torch.tensor([10]), c.default_state(1))


# ------------------------------------------------------------------------------ item 9: invalid values
@pytest.mark.parametrize("thr", [float("nan"), 0, -1.0, float("-inf"), torch.tensor([1.0, float("nan")])])
def test_bad_threshold_is_refused(thr):
    with pytest.raises(ValueError, match="threshold"):
        LIFNeuron(threshold=thr)


def test_infinite_threshold_is_a_neuron_that_never_fires():
    out = LIFNeuron(threshold=float("inf"))(torch.full((5, 2, 3), 100.0))
    assert out.eq(0).all()


def test_wrapper_refuses_silent_broadcasts():
    net = nn.Sequential(nn.Linear(3, 4), LIFNeuron(), nn.Linear(4, 2), LIFNeuron())
    with pytest.raises(ValueError, match="alpha has 1 entries but the network has 2 neuron layers"):
        SNNWrapper(net, alpha=[0.5])
    assert SNNWrapper(net, alpha=0.5).get_per_layer_alpha() == [0.5, 0.5]
    one = nn.Sequential(nn.Linear(3, 4), LIFNeuron())
    assert SNNWrapper(one, alpha=[0.5]).get_per_layer_alpha() == [0.5]
    with pytest.raises(ValueError, match="multi_coefficient"):
        SNNWrapper(net, alpha=0.5, multi_coefficient=[2.0])
    for h in (0, -5, 1.5):
        with pytest.raises(ValueError, match="soe_horizon"):
            SNNWrapper(net, memory="soe", soe_horizon=h)


# ------------------------------------------------------------------------ item 10: recurrence in multi-step
class _Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.rec, self.lif = nn.Linear(3, 4), nn.Linear(4, 4), LIFNeuron()

    def forward(self, x):
        h = self.lif(self.fc(x))
        return self.lif(self.fc(x) + self.rec(h))


def test_recurrent_model_in_multi_step_mode_points_to_single():
    with pytest.raises(RuntimeError, match="step_mode='single'"):
        SNNWrapper(_Recurrent())(torch.ones(5, 2, 3))


@pytest.mark.gpu
def test_nan_spikes_and_half_precision_ssm_on_cuda():
    x = torch.rand(10, 2, 3, device="cuda") * 2
    x[3, 1, 2] = float("nan")
    for kw in NEURONS:
        out = LIFNeuron(**kw).cuda()(x)
        ref = LIFNeuron(**kw)(x.cpu())
        assert out.device.type == "cuda" and torch.isnan(out[3:, 1, 2]).any()
        torch.testing.assert_close(out[:3].cpu(), ref[:3], rtol=0, atol=0)
    ssm = FractionalSSM(4, 8).cuda()
    xs = torch.randn(2, 30, 4, device="cuda")
    y = ssm(xs.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16 and y.device.type == "cuda" and torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), ssm(xs), rtol=5e-2, atol=5e-2 * float(ssm(xs).abs().max()))
