"""Bring your SNN: networks trained by SpikingJelly and snnTorch, converted to spikeDE and fine-tuned with
learnable fractional orders; a trained ANN converted to IF / LIF / f-LIF spiking networks at T = 8 ... 128.

    python benchmarks/experiments_convert.py             # 3 seeds (~10 min on one thread)
    python benchmarks/experiments_convert.py --quick     # smoke run (1 seed, few epochs; not the result)
    python benchmarks/experiments_convert.py --seeds 2 --out runs/convert

Task: the 8x8 digits (scikit-learn's bundled copy, ``spikeDE.data.digits``, its stratified train / test split),
each image fed as a constant input for ``T`` steps.

1. SpikingJelly CNN (multi-step, LIF tau = 2, soft reset, ATan) and snnTorch MLP (``Leaky`` beta = 0.8, reset to
   zero, atan), each trained by its own library (Adam, ``--epochs``). Converted with ``spikeDE.convert``
   (``alpha = 1``: the peer's accuracy and outputs must be reproduced), then fine-tuned for ``--ft-epochs`` epochs
   with a learnable order per layer (from alpha = 0.9; Adam, weights 1e-3, orders 2e-2), and, as a control for the extra training, with the
   integer order (alpha = 1) for the same epochs.
2. ANN (CNN with BatchNorm and average pooling) trained in float32, converted with
   ``spikeDE.convert.ann_to_snn`` (99.9th-percentile thresholds); accuracy at T in {8, 16, 32, 64, 128} (one
   run of T = 128, read at every horizon) for IF, LIF (tau = 32 steps) and f-LIF (the same, alpha = 0.9).

Writes ``OUT/experiments_convert.md`` (tables, mean +- std over seeds) and prints it.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from spikeDE import SNNWrapper  # noqa: E402
from spikeDE.convert import ann_to_snn, from_snntorch, from_spikingjelly  # noqa: E402
from spikeDE.data.digits import sequential_digits  # noqa: E402

HORIZONS = (8, 16, 32, 64, 128)
T_PEER = 8
ORDER_LR = 2e-2  # learning rate of the orders' logits during fine-tuning (weights: 1e-3)


def digits():
    tr, te = sequential_digits("train", mode="row"), sequential_digits("test", mode="row")
    return (tr.tensors[0].reshape(-1, 1, 8, 8), tr.tensors[1], te.tensors[0].reshape(-1, 1, 8, 8), te.tensors[1])


def batches(n, bs, gen):
    p = torch.randperm(n, generator=gen)
    return [p[i:i + bs] for i in range(0, n, bs)]


def repeat(x, T=T_PEER):
    return x.unsqueeze(0).expand(T, *x.shape).contiguous()


# ----------------------------------------------------------------------------- peers
def sj_cnn():
    from spikingjelly.activation_based import functional, layer, neuron, surrogate
    lif = dict(tau=2.0, v_reset=None, surrogate_function=surrogate.ATan(), detach_reset=True)
    net = nn.Sequential(layer.Conv2d(1, 16, 3, padding=1, bias=False), layer.BatchNorm2d(16), neuron.LIFNode(**lif),
                        layer.AvgPool2d(2), layer.Conv2d(16, 32, 3, padding=1, bias=False), layer.BatchNorm2d(32),
                        neuron.LIFNode(**lif), layer.AvgPool2d(2), layer.Flatten(), layer.Linear(128, 10))
    functional.set_step_mode(net, "m")
    return net


def sj_forward(net, x):
    from spikingjelly.activation_based import functional
    functional.reset_net(net)
    return net(repeat(x)).mean(0)


def st_mlp():
    import snntorch as snn
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128),
                         snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism="zero"),
                         nn.Linear(128, 10),
                         snn.Leaky(beta=0.8, init_hidden=True, output=True, reset_mechanism="zero", reset_delay=False))


def st_forward(net, x):
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    return torch.stack([net(x)[0] for _ in range(T_PEER)]).sum(0)  # spike counts as logits


def de_forward(wrapped, x, st=False):
    out = wrapped(repeat(x))
    return out[0].sum(0) if st else out.mean(0)


def train(forward, params, data, epochs, lr, seed):
    xtr, ytr = data
    opt = torch.optim.Adam(params, lr)
    return _loop(opt, forward, xtr, ytr, epochs, seed)


def _loop(opt, forward, xtr, ytr, epochs, seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for b in batches(len(ytr), 64, gen):
            opt.zero_grad()
            nn.functional.cross_entropy(forward(xtr[b]), ytr[b]).backward()
            opt.step()


@torch.no_grad()
def accuracy(forward, x, y, bs=256):
    hits = sum(int((forward(x[i:i + bs]).argmax(-1) == y[i:i + bs]).sum()) for i in range(0, len(y), bs))
    return hits / len(y)


@torch.no_grad()
def outputs_equal(f1, f2, x):
    return bool(torch.equal(f1(x[:128]), f2(x[:128])))


def peer_rows(name, make, fwd, seed, data, args, st=False):
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    net = make()
    train(lambda x: fwd(net, x), net.parameters(), (xtr, ytr), args.epochs, 5e-3, seed)
    net.eval()
    peer_acc = accuracy(lambda x: fwd(net, x), xte, yte)
    conv = SNNWrapper(from_spikingjelly(copy.deepcopy(net)) if not st else from_snntorch(copy.deepcopy(net)),
                      integrator="fdeint", alpha=1.0).eval()
    conv_acc = accuracy(lambda x: de_forward(conv, x, st), xte, yte)
    same = outputs_equal(lambda x: fwd(net, x), lambda x: de_forward(conv, x, st), xte)
    row = {"peer": peer_acc, "converted": conv_acc, "identical": same}
    for arm, alpha, learn in (("flif", 0.9, True), ("lif", 1.0, False)):
        base = from_spikingjelly(copy.deepcopy(net)) if not st else from_snntorch(copy.deepcopy(net))
        w = SNNWrapper(base, integrator="fdeint", alpha=alpha, learn_alpha=learn)
        w.eval()
        row[f"{arm}_init"] = accuracy(lambda x: de_forward(w, x, st), xte, yte)
        w.train()
        orders = [p for n, p in w.named_parameters() if n.startswith("orders")]
        rest = [p for n, p in w.named_parameters() if not n.startswith("orders")]
        groups = [{"params": rest, "lr": 1e-3}] + ([{"params": orders, "lr": ORDER_LR}] if orders else [])
        _loop(torch.optim.Adam(groups), lambda x: de_forward(w, x, st), xtr, ytr, args.ft_epochs, seed + 1)
        w.eval()
        row[f"{arm}_ft"] = accuracy(lambda x: de_forward(w, x, st), xte, yte)
        if learn:
            row["alphas"] = [round(a, 3) for a in w.get_per_layer_alpha()]
    print(f"  {name} seed {seed}: {row}", flush=True)
    return row


# ----------------------------------------------------------------------------- ANN -> SNN
def ann_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(128, 10))


ANN_ARMS = {"IF": dict(neuron="if"), "LIF (tau=32)": dict(neuron="lif", tau=32.0),
            "f-LIF (tau=32, alpha=0.9)": dict(neuron="lif", tau=32.0, alpha=0.9)}


def ann_rows(seed, data, args):
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    net = ann_cnn()
    train(net, net.parameters(), (xtr, ytr), args.ann_epochs, 1e-2, seed)
    net.eval()
    row = {"ANN": accuracy(net, xte, yte)}
    calib = xtr[torch.randperm(len(ytr), generator=torch.Generator().manual_seed(seed))[:500]]
    for arm, kw in ANN_ARMS.items():
        snn = ann_to_snn(net, calib, T=max(HORIZONS), **kw).eval()
        with torch.no_grad():
            pred = torch.cat([snn(xte[i:i + 256], all_steps=True).argmax(-1) for i in range(0, len(yte), 256)], 1)
        acc = (pred == yte).float().mean(-1)
        row[arm] = {T: float(acc[T - 1]) for T in HORIZONS}
    print(f"  ANN seed {seed}: {row}", flush=True)
    return row


def ms(values, pct=True):
    k = 100.0 if pct else 1.0
    m = statistics.mean(values) * k
    s = statistics.stdev(values) * k if len(values) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15, help="training epochs of the peer networks")
    ap.add_argument("--ft-epochs", type=int, default=3, help="fine-tuning epochs after conversion")
    ap.add_argument("--ann-epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "convert"))
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.ft_epochs, args.ann_epochs = 1, 2, 1, 3
    torch.set_num_threads(args.threads)
    data = digits()
    t0 = time.time()
    seeds = list(range(args.seeds))
    lines = [f"Digits 8x8 (train {len(data[1])}, test {len(data[3])}); {args.seeds} seed(s), mean ± std, accuracy "
             f"in %; peers trained {args.epochs} epochs, fine-tuning {args.ft_epochs} epochs; torch "
             f"{torch.__version__}, {args.threads} thread(s).", ""]
    lines += ["| network (trained by the peer, T = 8) | peer | converted (alpha = 1) | outputs identical | "
              "fine-tuned, learnable alpha: at init (0.9) → after | fine-tuned, alpha = 1 (control) | "
              "learned alphas (seed 0) |", "|---|---|---|---|---|---|---|"]
    for name, make, fwd, st in (("SpikingJelly CNN", sj_cnn, sj_forward, False),
                                ("snnTorch MLP", st_mlp, st_forward, True)):
        rows = [peer_rows(name, make, fwd, s, data, args, st) for s in seeds]
        lines.append(f"| {name} | {ms([r['peer'] for r in rows])} | {ms([r['converted'] for r in rows])} | "
                     f"{sum(r['identical'] for r in rows)}/{len(rows)} | {ms([r['flif_init'] for r in rows])} → "
                     f"{ms([r['flif_ft'] for r in rows])} | {ms([r['lif_ft'] for r in rows])} | "
                     f"{rows[0]['alphas']} |")
    ann = [ann_rows(s, data, args) for s in seeds]
    lines += ["", f"ANN → SNN (ann_to_snn, IF / LIF / f-LIF; ANN accuracy {ms([r['ANN'] for r in ann])}):", "",
              "| neuron | " + " | ".join(f"T = {T}" for T in HORIZONS) + " | best T − ANN |",
              "|---|" + "---|" * (len(HORIZONS) + 1)]
    for arm in ANN_ARMS:
        cells = [ms([r[arm][T] for r in ann]) for T in HORIZONS]
        gap = statistics.mean(max(r[arm].values()) - r["ANN"] for r in ann) * 100
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {gap:+.1f} |")
    lines += ["", f"total time {time.time() - t0:.0f} s"]
    text = "\n".join(lines)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "experiments_convert.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
