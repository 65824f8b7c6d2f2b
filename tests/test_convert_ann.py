"""ANN -> SNN conversion: BatchNorm folding, the integrate-and-fire rate code against a plainly written
reference, refusals, and the converted digits CNN's accuracy as T grows."""
import math

import pytest
import torch
from torch import nn

from spikeDE.convert import RateCodedSNN, UnsupportedModuleError, ann_to_snn, fold_batchnorm


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_fold_batchnorm_equals_batchnorm_after_layer(kind, dtype):
    if kind == "linear":
        layer, bn, x = nn.Linear(5, 7), nn.BatchNorm1d(7), torch.randn(16, 5)
    else:
        layer, bn, x = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), torch.randn(8, 3, 6, 6)
    layer, bn, x = layer.to(dtype), bn.to(dtype), x.to(dtype)
    bn.train()
    for _ in range(3):  # non-trivial running statistics
        bn(layer(x * 2 + 1))
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1.0, 1.0)
    bn.eval()
    folded = fold_batchnorm(layer, bn)
    with torch.no_grad():
        ref = bn(layer(x))
        out = folded(x)
    assert out.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)


def _if_count(current: torch.Tensor, T: int) -> torch.Tensor:
    """Spike count of the integrate-and-fire neuron (threshold 1, subtractive reset) driven by a constant
    current, simulated step by step in plain Python."""
    counts = []
    for i in current.reshape(-1).tolist():
        v, n = 0.0, 0
        for _ in range(T):
            v += i
            if v >= 1.0:
                v -= 1.0
                n += 1
        counts.append(n)
    return torch.tensor(counts, dtype=current.dtype).reshape(current.shape)


@pytest.mark.parametrize("layout", ["plain", "nested"])
def test_if_rate_code_matches_reference_and_converges(layout):
    torch.manual_seed(1)
    dtype = torch.float64
    if layout == "plain":
        ann = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).to(dtype)
        pre, head = ann[0], ann[2]
    else:  # two affine layers in a row, nested containers, dropout and identity (dropped / kept)
        ann = nn.Sequential(nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 6)), nn.ReLU(), nn.Dropout(0.5),
                            nn.Identity(), nn.Linear(6, 3)).to(dtype).eval()
        pre, head = ann[0], ann[4]
    calib = torch.rand(200, 4, dtype=dtype)
    x = torch.rand(5, 4, dtype=dtype)
    errs = {}
    for T in (8, 32, 128):
        snn = ann_to_snn(ann, calib, neuron="if", T=T, percentile=100.0)
        lam = snn.scales[0]
        with torch.no_grad():
            out = snn(x)
            hidden = pre(x) / lam
            expected = (_if_count(hidden, T) * lam / T) @ head.weight.T + head.bias
            ref = ann(x)
        assert out.dtype == dtype and out.shape == (5, 3)
        torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
        # percentile 100: no activation exceeds lambda, so every unit's rate error is below 1/T
        bound = head.weight.abs().sum(1) * lam / T
        assert bool(((out - ref).abs() <= bound + 1e-12).all())
        errs[T] = float((out - ref).abs().max())
    assert errs[128] < errs[8]


def test_calibration_batches_equal_one_tensor():
    ann = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    calib = torch.rand(90, 4)
    loader = [(calib[i:i + 32], torch.zeros(len(calib[i:i + 32]))) for i in range(0, 90, 32)]
    a = ann_to_snn(ann, calib, percentile=99.0).scales
    b = ann_to_snn(ann, loader, percentile=99.0).scales
    assert a == b and len(a) == 2 and all(v > 0 for v in a)


def test_lif_neuron_leaks_and_fractional_orders_train():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    calib = torch.rand(100, 4)
    x = torch.rand(5, 4)
    if_out = ann_to_snn(ann, calib, neuron="if", T=40)(x)
    lif_out = ann_to_snn(ann, calib, neuron="lif", tau=5.0, T=40)(x)
    assert not torch.allclose(if_out, lif_out)
    snn = ann_to_snn(ann, calib, neuron="if", T=16, alpha=0.8, learn_alpha=True)
    assert isinstance(snn, RateCodedSNN)
    snn(x).sum().backward()
    orders = [p for n, p in snn.named_parameters() if "orders" in n]
    assert orders and all(p.grad is not None and torch.isfinite(p.grad).all() for p in orders)


def test_unsupported_layers_are_listed_with_reasons():
    ann = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Sigmoid(), nn.Flatten(),
                        nn.Linear(4, 3), nn.ReLU())
    with pytest.raises(UnsupportedModuleError) as e:
        ann_to_snn(ann, torch.rand(4, 1, 6, 6))
    msg = str(e.value)
    assert "2 (MaxPool2d): max pooling" in msg and "average" in msg
    assert "3 (torch.nn.modules.activation.Sigmoid)" in msg and "supported:" in msg
    with pytest.raises(UnsupportedModuleError, match="must not be followed by a ReLU"):
        ann_to_snn(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.rand(4, 3))
    with pytest.raises(UnsupportedModuleError, match="BatchNorm must follow"):
        ann_to_snn(nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)), torch.rand(4, 3))


def test_argument_errors():
    ann = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    for kwargs, match in [(dict(neuron="izh"), "neuron"), (dict(T=0), "T"), (dict(percentile=0), "percentile"),
                          (dict(neuron="lif", tau=0.5), "tau")]:
        with pytest.raises(ValueError, match=match):
            ann_to_snn(ann, torch.rand(4, 3), **kwargs)
    with pytest.raises(ValueError, match="empty"):
        ann_to_snn(ann, torch.zeros(0, 3))
    with torch.no_grad():
        ann[0].weight.zero_()
        ann[0].bias.fill_(-1.0)
    with pytest.raises(ValueError, match="never active"):
        ann_to_snn(ann, torch.rand(4, 3))


def _digits():
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return x[perm[:1300]], y[perm[:1300]], x[perm[1300:]], y[perm[1300:]]


def digits_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.1), nn.Linear(128, 10))


def test_digits_cnn_accuracy_approaches_the_ann_as_T_grows():
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = _digits()
    net = digits_cnn()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        p = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(p), 64):
            b = p[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xtr[b]), ytr[b]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        ann_acc = float((net(xte).argmax(1) == yte).float().mean())
        snn = ann_to_snn(net, xtr[:300], neuron="if", T=32)
        accs = (snn(xte[:250], all_steps=True).argmax(-1) == yte[:250]).float().mean(-1)
        ann_sub = float((net(xte[:250]).argmax(1) == yte[:250]).float().mean())
    assert ann_acc > 0.93
    assert float(accs[-1]) >= ann_sub - 0.03  # T = 32: within 3 points of the ANN
    assert float(accs[3]) < float(accs[-1]) - 0.05  # T = 4 is clearly worse: accuracy grows with T
    assert not math.isnan(float(accs.sum()))
