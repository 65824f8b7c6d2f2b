"""The mechanics under the neuron modules (spikeDE.neuron_base, the Dynamics builders of dynamics.functional):
call layouts and their errors, the StepModule template (state registration, reset_net, single = multi step),
the layering, and a neuron with extra streaming state inside the LoongSpike block's streaming mode."""
import ast
import math
import pathlib

import pytest
import torch

import spikeDE
from spikeDE import AdaptiveLIFNeuron, CubaLIFNeuron, LIFNeuron, reset_net
from spikeDE.dynamics import functional
from spikeDE.neuron_base import CallContext, StepModule, call_layout, check_step_mode, sequence_by_steps
from spikeDE.ssm import LoongSpike

F64 = torch.float64
PKG = pathlib.Path(spikeDE.__file__).resolve().parent


def _ctx(mode, T=3, B=2):
    return CallContext(functional.make_dynamics("odeint", None, None, "gl", None, 1.0), mode, T, B, -1, "lif1")


def test_call_layout_own_and_wrapper_calls():
    x = torch.zeros(3, 2, 4)
    assert call_layout(x, None, "m", "N") == (3, 2, 4)
    assert call_layout(x[0], None, "s", "N") is None
    with pytest.raises(ValueError, match=r"N \(multi-step mode\) expects input \[T, B, \.\.\.\]"):
        call_layout(torch.zeros(4), None, "m", "N")
    with pytest.raises(ValueError, match="single-step mode"):
        call_layout(torch.zeros(()), None, "s", "N")
    with pytest.raises(TypeError, match="context must be a CallContext"):
        call_layout(x, object(), "m", "N")
    fold = _ctx("fold")
    assert call_layout(torch.zeros(6, 4), fold, "s", "N") == (3, 2, 4)  # [T*B, ...] -> (T, B, ...)
    with pytest.raises(RuntimeError, match="called twice in one forward"):  # a recurrent network
        call_layout(torch.zeros(6, 4), fold, "s", "N")
    with pytest.raises(RuntimeError, match=r"T\*B = 3\*2 = 6"):
        call_layout(torch.zeros(5, 4), _ctx("fold"), "m", "N")
    single = _ctx("single")
    for t in range(3):
        single.step_index = t
        assert call_layout(x[t], single, "m", "N") is None
    with pytest.raises(RuntimeError, match="'lif1' was called twice in one time step"):
        call_layout(x[2], single, "m", "N")


def test_step_mode_names():
    assert [check_step_mode(m) for m in ("m", "multi", "multi_step", "s", "single", "single_step")] == list("mmmsss")
    with pytest.raises(ValueError, match="step_mode must be 'm'"):
        LIFNeuron(step_mode="x")


def test_moved_names_are_the_same_objects_in_spikeDE_neuron():
    from spikeDE import neuron

    for name in ("check_memory", "check_integrator", "make_dynamics"):
        assert getattr(neuron, name) is getattr(functional, name)
    assert neuron.CallContext is CallContext and issubclass(neuron.BaseNeuron, StepModule)
    assert functional.check_integrator(" FDEINT_adjoint ") == "fdeint"
    with pytest.raises(ValueError, match="integrator must be 'odeint' or 'fdeint'"):
        functional.check_integrator("euler")
    with pytest.raises(ValueError, match="L1: memory must be None"):
        functional.check_memory(0, "L1")


class Leaky(StepModule):
    """A non-spiking leaky integrator ``v_t = a v_{t-1} + x_t`` on the StepModule template."""

    STREAM_STATE = ("_v",)

    def __init__(self, a=0.5, step_mode="m"):
        super().__init__()
        self.a, self.step_mode = a, step_mode

    def own_dynamics(self):
        return None

    def _run_sequence(self, seq, dyn, shape):
        _, V = sequence_by_steps(self.__dict__, self.STREAM_STATE, self._step, seq)
        self.__dict__["v"] = V[-1].reshape(shape[1:])
        return V

    def _step(self, x):
        v = x if self._v is None else self.a * self._v + x
        self.__dict__["_v"] = v
        return v, v

    def _run_step(self, x, dyn):
        return self._step(x.reshape(-1))[0].reshape(x.shape)


def test_step_module_template_single_equals_multi_and_reset():
    x = torch.randn(7, 2, 3, dtype=F64)
    ref = torch.zeros_like(x)
    for t in range(7):  # the recurrence written out
        ref[t] = x[t] + (0.5 * ref[t - 1] if t else 0)
    multi = Leaky()
    assert torch.allclose(multi(x), ref, rtol=0, atol=1e-15)
    assert multi._v is None and torch.equal(multi.v, ref[-1])  # a multi-step call leaves the stream at rest
    single = Leaky(step_mode="s")
    out = torch.stack([single(x[t]) for t in range(4)])
    saved = single.stream_state()
    out = torch.cat([out, torch.stack([single(x[t]) for t in range(4, 7)])])
    assert torch.allclose(out, ref, rtol=0, atol=1e-15)
    single.load_stream_state(saved)  # continue the stream from step 4 again
    assert torch.allclose(single(x[4]), ref[4], rtol=0, atol=1e-15)
    reset_net(torch.nn.Sequential(single))
    assert single.stream_state() == (None,) and single.v is None
    with pytest.raises(ValueError, match=r"Leaky.load_stream_state: expected a tuple of 1 entries"):
        single.load_stream_state((None, None))


def _imports(path: pathlib.Path):
    """The spikeDE modules (dotted, relative to the package) that ``path`` imports."""
    pkg = path.relative_to(PKG).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(pkg[: len(pkg) - node.level + 1])
            yield ".".join(base + (node.module.split(".") if node.module else []))


def test_layering_dynamics_below_the_neuron_modules():
    bad = [f"{p.name} imports {m}" for p in (PKG / "dynamics").rglob("*.py") for m in _imports(p)
           if m.split(".")[0] in ("neuron", "neuron_base", "neuron_adaptive", "neuron_current", "order", "wrapper")]
    bad += [f"neuron_base.py imports {m}" for m in _imports(PKG / "neuron_base.py")
            if m.split(".")[0] in ("neuron", "neuron_adaptive", "neuron_current", "wrapper")]
    assert not bad, bad
    assert "dynamics.functional" in set(_imports(PKG / "neuron_base.py"))  # the scanner sees relative imports


def _alif_reference(x, tau, theta, beta, tau_adapt):
    """Integer-order ALIF written out: theta_t = theta + beta a, H = V + (X - V)/tau, V = H - theta_t S,
    a <- exp(-1/tau_adapt) a + S."""
    v, a, out = torch.zeros_like(x[0]), torch.zeros_like(x[0]), []
    for xt in x:
        th = theta + beta * a
        h = v + (xt - v) / tau
        s = (h >= th).to(x.dtype)
        v, a = h - th * s, math.exp(-1.0 / tau_adapt) * a + s
        out.append(s)
    return torch.stack(out)


def _streamed(block, x):
    """The block's streaming outputs over ``x`` ``[B, L, H]`` and the neuron's inputs and spikes per step."""
    u, s = [], []
    h1 = block.neuron.register_forward_pre_hook(lambda m, a: u.append(a[0].detach()))
    h2 = block.neuron.register_forward_hook(lambda m, a, o: s.append(o.detach()))
    state, ys = block.default_state(x.shape[0], dtype=x.dtype), []
    for t in range(x.shape[1]):
        y, state = block.step(x[:, t], state)
        ys.append(y)
    h1.remove()
    h2.remove()
    return torch.stack(ys, 1), torch.stack(u), torch.stack(s), state


@pytest.mark.parametrize("make", [lambda: AdaptiveLIFNeuron(threshold=0.4, beta=0.5, tau_adapt=4.0),
                                  lambda: CubaLIFNeuron(threshold=0.4, tau_syn=3.0, alpha=0.7, memory="soe")],
                         ids=["alif", "cubalif"])
def test_loongspike_streams_a_neuron_with_extra_state(make):
    # default_state holds one entry per name in the neuron's own STREAM_STATE (ALIF: + the adaptation,
    # CubaLIF: + the synaptic current), and the streamed spikes are the neuron's on the streamed input.
    torch.manual_seed(0)
    blk = LoongSpike(5, 8, alpha=0.7, learn_alpha=False, neuron=make(), dtype=F64).eval()
    assert len(blk.default_state(2).neuron) == len(blk.neuron.STREAM_STATE) == 5
    x = torch.randn(2, 40, 5, dtype=F64)
    with torch.no_grad():
        ys, u, s, state = _streamed(blk, x)
        y = blk(x)
        ref = make().double()(u)  # the same neuron, multi-step, on the streamed input
    assert 0.05 < s.mean() < 0.9
    assert torch.equal(s, ref)
    assert state.neuron[-1] is not None  # the extra state is carried from step to step
    assert (ys - y).abs().max() <= 1e-4 * y.abs().max()  # = parallel mode (up to the SSM's SOE memory)
    if isinstance(blk.neuron, AdaptiveLIFNeuron):
        assert torch.equal(s, _alif_reference(u, 2.0, 0.4, 0.5, 4.0))
