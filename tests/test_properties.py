"""Property-based tests (hypothesis) of the public entry points.

For random, often invalid arguments every entry point either raises its documented exception (``ValueError`` /
``TypeError``, ``ConfigError`` for configurations) with a message naming the argument, or returns a finite result
of the right shape and dtype. On valid inputs: causality (changing the input at step ``t`` never changes an
output before ``t``) and single-step == multi-step. Sizes are small and example counts low, so the file runs in
seconds.
"""
import math
import os

import pytest
import torch
from torch import nn

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from spikeDE.analysis.attacks import ATTACKS, apply_attack  # noqa: E402
from spikeDE.events.layer import SpikingODELayer  # noqa: E402
from spikeDE.fractional.fdeint import fdeint  # noqa: E402
from spikeDE.neuron import IFNeuron, LIFNeuron  # noqa: E402
from spikeDE.ssm.fractional_ssm import FractionalSSM  # noqa: E402
from spikeDE.train.config import ConfigError, config_from_dict, load_config, save_config  # noqa: E402
from spikeDE.wrapper import SNNWrapper  # noqa: E402

FAST = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

DTYPES = st.sampled_from([torch.float32, torch.float64])
ANY_NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                       st.floats(min_value=0.05, max_value=1.0))
GOOD_ALPHA = st.floats(min_value=0.1, max_value=1.0)


def _names(err: Exception, *words) -> bool:
    text = str(err)
    return any(w in text for w in words)


def _valid_alpha(a) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) and 0 < a <= 1


# ------------------------------------------------------------------------------------------------ fdeint
@FAST
@given(alpha=ANY_NUMBER, method=st.sampled_from(["l1", "gl", "predictor", "corrector"]),
       memory=st.sampled_from([None, 3, "soe"]), shape=st.lists(st.integers(0, 3), max_size=2),
       n=st.integers(1, 12), dtype=DTYPES)
def test_fdeint_result_or_named_error(alpha, method, memory, shape, n, dtype):
    y0 = torch.rand(shape, dtype=dtype)
    t = torch.linspace(0, 1, n, dtype=dtype)
    try:
        y = fdeint(lambda s, y: -y + 1.0, y0, t, alpha, method=method, memory=memory)
    except (ValueError, TypeError) as e:
        event("named error")
        assert not _valid_alpha(alpha) and _names(e, "alpha"), e
        return
    assert _valid_alpha(alpha) or n == 1
    assert y.shape == (n, *shape) and y.dtype == dtype and bool(torch.isfinite(y).all())


@FAST
@given(alpha=GOOD_ALPHA, method=st.sampled_from(["l1", "gl", "predictor", "corrector"]),
       memory=st.sampled_from([None, 4, "soe"]), k=st.integers(1, 39))
def test_fdeint_is_causal(alpha, method, memory, k):
    t = torch.linspace(0, 4, 40, dtype=torch.float64)
    tk = float(t[k])

    def f(change):
        return lambda s, y: -y + (5.0 if change and float(s) >= tk else 1.0)

    a = fdeint(f(False), torch.ones(2, dtype=torch.float64), t, alpha, method=method, memory=memory, block_size=8)
    b = fdeint(f(True), torch.ones(2, dtype=torch.float64), t, alpha, method=method, memory=memory, block_size=8)
    assert torch.equal(a[:k], b[:k])  # y_j for j < k uses f only at t_0..t_j (corrector: also t_j itself)


# ----------------------------------------------------------------------------------------------- neurons
NEURON_KW = st.fixed_dictionaries({
    "alpha": GOOD_ALPHA, "method": st.sampled_from(["gl", "l1", "predictor", "corrector"]),
    "memory": st.sampled_from([None, 2, "soe"]), "reset": st.sampled_from(["subtract", "zero"]),
    "tau": st.floats(0.5, 5.0), "threshold": st.floats(0.2, 2.0)})


def _valid_neuron(kw) -> bool:
    return not (kw["memory"] == "soe" and kw["method"] not in ("gl", "l1"))


@FAST
@given(kw=NEURON_KW, T=st.integers(1, 14), B=st.integers(1, 3), cls=st.sampled_from([LIFNeuron, IFNeuron]))
def test_neuron_single_step_equals_multi_step(kw, T, B, cls):
    x = torch.rand(T, B, 2, dtype=torch.float64) * 3
    try:
        multi = cls(**kw)(x)
    except ValueError as e:
        assert not _valid_neuron(kw) and _names(e, "memory", "method"), e
        return
    n = cls(step_mode="s", **kw)
    single = torch.stack([n(x[t]) for t in range(T)])
    assert multi.shape == x.shape and multi.dtype == x.dtype
    assert bool(((multi == 0) | (multi == 1)).all())
    torch.testing.assert_close(single, multi, rtol=0, atol=0)


@FAST
@given(kw=NEURON_KW, T=st.integers(2, 14), data=st.data())
def test_neuron_is_causal(kw, T, data):
    if not _valid_neuron(kw):
        return
    t = data.draw(st.integers(0, T - 1))
    x = torch.rand(T, 2, 3, dtype=torch.float64) * 3
    y = x.clone()
    y[t] = data.draw(st.sampled_from([0.0, 10.0, float("nan"), float("inf")]))
    a, b = LIFNeuron(**kw)(x), LIFNeuron(**kw)(y)
    assert torch.equal(a[:t], b[:t])
    if not bool(torch.isfinite(y[t]).all()):
        assert bool(torch.isnan(b[t:]).any())  # a non-finite input is never silent


@FAST
@given(tau=ANY_NUMBER, threshold=ANY_NUMBER, dt=ANY_NUMBER)
def test_neuron_arguments_are_checked(tau, threshold, dt):
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (tau, dt))
    ok = ok and isinstance(threshold, (int, float)) and threshold > 0  # +inf: a neuron that never fires
    try:
        n = LIFNeuron(tau=tau, threshold=threshold, dt=dt)
    except (ValueError, TypeError) as e:
        event("named error")
        assert not ok and _names(e, "tau", "threshold", "dt"), e
        return
    assert ok
    out = n(torch.rand(4, 2, 3))
    assert out.shape == (4, 2, 3) and bool(torch.isfinite(out).all())


# -------------------------------------------------------------------------------------------- SNNWrapper
def _net():
    return nn.Sequential(nn.Linear(3, 4), LIFNeuron(), nn.Linear(4, 2), LIFNeuron())


ALPHA_SPEC = st.one_of(ANY_NUMBER, st.lists(GOOD_ALPHA, min_size=0, max_size=3),
                       st.lists(st.lists(GOOD_ALPHA, min_size=1, max_size=2), min_size=1, max_size=3))


@FAST
@given(alpha=ALPHA_SPEC, method=st.sampled_from(["gl", "l1", "predictor", "corrector", "bogus"]),
       memory=st.sampled_from([None, 3, "soe", 0, "x"]), mode=st.sampled_from(["auto", "per_layer", "multiterm"]),
       T=st.integers(0, 6), dtype=DTYPES)
def test_wrapper_configurations(alpha, method, memory, mode, T, dtype):
    net = _net().to(dtype)
    try:
        w = SNNWrapper(net, alpha=alpha, method=method, memory=memory, alpha_mode=mode)
        x = torch.rand(T, 2, 3, dtype=dtype) * 3
        out = w(x)
    except (ValueError, TypeError) as e:
        event("named error")
        assert _names(e, "alpha", "method", "memory", "multi_coefficient", "layer"), e
        return
    assert out.shape == (T, 2, 2) and out.dtype == dtype and bool(torch.isfinite(out).all())
    w.step_mode = "single"
    torch.testing.assert_close(w(x), out, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------- FractionalSSM
@FAST
@given(H=st.integers(1, 3), N=st.sampled_from([2, 4]), alpha=ANY_NUMBER, B=st.integers(0, 2), L=st.integers(0, 20),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]), bidir=st.booleans())
def test_ssm_result_or_named_error(H, N, alpha, B, L, dtype, bidir):
    try:
        ssm = FractionalSSM(H, N, alpha=alpha, bidirectional=bidir)
    except (ValueError, TypeError) as e:
        event("named error")
        assert not _valid_alpha(alpha) and _names(e, "alpha"), e
        return
    assert _valid_alpha(alpha)
    x = torch.randn(B, L, H).to(dtype)
    y = ssm(x)
    assert y.shape == x.shape and y.dtype == dtype and bool(torch.isfinite(y).all())


@FAST
@given(alpha=GOOD_ALPHA, L=st.integers(2, 30), data=st.data())
def test_ssm_is_causal(alpha, L, data):
    t = data.draw(st.integers(0, L - 1))
    ssm = FractionalSSM(2, 4, alpha=alpha).double()
    x = torch.randn(2, L, 2, dtype=torch.float64)
    y = x.clone()
    y[:, t] += 3.0
    with torch.no_grad():
        a, b = ssm(x), ssm(y)
    torch.testing.assert_close(a[:, :t], b[:, :t], rtol=0, atol=1e-12)  # FFT round-off only
    y[0, t, 1] = float("nan")
    with pytest.raises(ValueError, match=rf"x\[0, {t}, 1\]"):
        ssm(y)


# ----------------------------------------------------------------------------------------- event layer
@settings(max_examples=10, deadline=None, derandomize=True)
@given(T=st.integers(1, 6), n_in=st.integers(1, 3), n_out=st.integers(1, 3), scale=st.floats(0.0, 5.0),
       data=st.data())
def test_event_layer_counts_and_causality(T, n_in, n_out, scale, data):
    layer = SpikingODELayer(n_in, n_out, seed=1, dtype=torch.float64)
    x = torch.rand(T, n_in, dtype=torch.float64) * scale
    with torch.no_grad():
        c = layer(x)
    assert c.shape == (T, n_out) and bool(torch.isfinite(c).all())
    assert bool((c >= 0).all()) and torch.equal(c, c.round())
    t = data.draw(st.integers(0, T - 1))
    y = x.clone()
    y[t] += 2.0
    with torch.no_grad():
        assert torch.equal(layer(y)[:t], c[:t])
    y[t, 0] = data.draw(st.sampled_from([float("nan"), float("inf")]))
    with pytest.raises(ValueError, match="inputs"):
        layer(y)


# -------------------------------------------------------------------------------------------- attacks
@FAST
@given(name=st.sampled_from(sorted(ATTACKS)), level=ANY_NUMBER, T=st.integers(1, 6), dtype=DTYPES)
def test_attacks_result_or_named_error(name, level, T, dtype):
    x = (torch.rand(T, 2, 4) > 0.5).to(dtype)
    try:
        y = apply_attack(name, x, level, generator=0)
    except (ValueError, TypeError) as e:
        event("named error")
        assert _names(e, "level"), e
        assert not (isinstance(level, (int, float)) and math.isfinite(level) and 0 <= level
                    and (name in ("noise", "jitter") or level <= 1)), e
        return
    assert y.shape == x.shape and y.dtype == dtype and bool(torch.isfinite(y).all())
    if level == 0:
        assert torch.equal(y, x)


# --------------------------------------------------------------------------------------- config loader
CONFIG_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=True),
                          st.text(max_size=6), st.lists(st.text(min_size=1, max_size=4), max_size=3))
KEYS = ["epochs", "hidden", "lr", "seed", "threads", "dtype", "neurons", "alpha", "out", "batch_size",
        "readout", "schedule", "grad_clip", "bogus-key"]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(KEYS), CONFIG_VALUES, max_size=3))
def test_config_loader_names_the_key_or_round_trips(values, tmp_path_factory):
    try:
        cfg = config_from_dict(values)
    except ConfigError as e:
        event("named error")
        assert isinstance(e, ValueError)
        assert any(k.replace("-", "_") in str(e) or k in str(e) for k in values), e
        return
    path = os.path.join(tmp_path_factory.mktemp("cfg"), "c.toml")
    save_config(cfg, path)
    assert load_config(path) == cfg
