"""Long-sequence experiments sized for a shared 2-core CPU (one thread per process, ``nice``).

(a) ``listops``: the offline ListOps (LRA procedure) at lengths 100-500, 3 seeds, three classifiers of the same
    width (H = 32, 2 blocks, d_state 16): spiking SSM with learnable alpha and f-LIF neurons, the same with
    alpha = 1 (integer-order SSM, LIF neurons), and the non-spiking SSM (GELU instead of the neuron). Same
    number of steps for every arm. Reported: test accuracy, spike rate.
(b) ``shakespeare``: character-level language models of about the same size (~110 k parameters: H = 128,
    2 blocks, d_state 32 for the SSMs; a 1-layer GRU of width 128), each trained for the same wall-clock
    budget, the arms interleaved in slices so that they share the machine's load equally. Reported: validation
    bits per character (the whole validation split), spike rate, estimated energy per token, generated text.

Budget (defaults): (a) 9 runs x 125 steps, (b) 4 arms x ``--lm-seconds`` (240 s) of training. Results go to
``benchmarks/results/sequences_{listops,shakespeare}.json``; ``--table`` prints the README tables from them.

    nice -n 10 python benchmarks/experiments_sequences.py listops
    SPIKEDE_DATA=/work/shared/data nice -n 10 python benchmarks/experiments_sequences.py shakespeare
    python benchmarks/experiments_sequences.py --table
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

from spikeDE.analysis.energy import E_AC_PJ, E_MAC_PJ, SynapticOpCounter
from spikeDE.data.listops import listops_generated
from spikeDE.data.text import LMWindows, tiny_shakespeare
from spikeDE.models.rnn_lm import GRULanguageModel
from spikeDE.models.ssm_lm import SSMLanguageModel
from spikeDE.models.ssm_seq import SSMSequenceClassifier
from spikeDE.train.param_groups import parameter_groups, ssm_rules

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
FLIF = {"alpha": 0.5, "learn_alpha": True, "method": "gl", "memory": "soe"}


def _arms(kind: str):
    """name -> keyword arguments of the SSM models (same width and state size for all)."""
    return {"spiking, learnable alpha (f-LIF)": dict(spiking=True, neuron=dict(FLIF), alpha=0.5, learn_alpha=True),
            "spiking, alpha = 1 (LIF)": dict(spiking=True, neuron=None, alpha=1.0, learn_alpha=False),
            "non-spiking SSM": dict(spiking=False, alpha=0.5, learn_alpha=True)}


def _optimizer(model, lr=3e-3):
    groups = parameter_groups(model, ssm_rules(1e-3, 0.0))
    return torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)


def _spike_rate(model) -> float | None:
    rates = [float(b.spike_rate) for b in getattr(model, "blocks", []) if getattr(b, "spike_rate", None) is not None]
    return statistics.mean(rates) if rates else None


# ------------------------------------------------------------------------------------------------ (a) ListOps
def run_listops(args):
    sets = listops_generated((args.n_train, 200, args.n_test), min_length=100, max_length=500, seed=0)
    out = {"config": {"n_train": args.n_train, "n_test": args.n_test, "lengths": "100-500", "d_model": 32,
                      "blocks": 2, "d_state": 16, "batch": 32, "steps": args.steps, "lr": 3e-3, "ssm_lr": 1e-3},
           "runs": []}
    path = os.path.join(RESULTS, f"sequences_listops{args.suffix}.json")
    test_ids, test_y = sets["test"].tokens.long(), sets["test"].targets
    out["chance"] = float(torch.bincount(test_y).max()) / len(test_y)
    for seed in range(args.seeds):
        for name, kw in _arms("listops").items():
            torch.manual_seed(seed)
            net = SSMSequenceClassifier(1, 10, 32, 2, 16, vocab_size=16, **kw)
            opt = _optimizer(net)
            g = torch.Generator().manual_seed(seed)
            t0 = time.perf_counter()
            n = len(sets["train"])
            step = 0
            while step < args.steps:
                for idx in torch.randperm(n, generator=g).split(32):
                    if step >= args.steps:
                        break
                    loss = F.cross_entropy(net(sets["train"].tokens[idx].long()), sets["train"].targets[idx])
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    step += 1
            train_s = time.perf_counter() - t0
            net.eval()
            correct, rates = 0, []
            with torch.no_grad():
                for idx in torch.arange(len(test_y)).split(100):
                    correct += int((net(test_ids[idx]).argmax(-1) == test_y[idx]).sum())
                    r = _spike_rate(net)
                    if r is not None:
                        rates.append(r)
            row = {"arm": name, "seed": seed, "test_acc": correct / len(test_y),
                   "spike_rate": statistics.mean(rates) if rates else None, "train_s": train_s,
                   "params": sum(p.numel() for p in net.parameters())}
            print(json.dumps(row), flush=True)
            out["runs"].append(row)
            os.makedirs(RESULTS, exist_ok=True)
            json.dump(out, open(path, "w"), indent=1)


# ------------------------------------------------------------------------------------------------ (b) Shakespeare
def _ssm_stream_macs(model) -> float:
    """Real multiply-accumulates per token of the SSMs' streaming recurrence (history window + SOE modes,
    complex numbers = 4 real MACs, plus the output ``2 Re(C s)``): the same for every SSM arm of one order."""
    total = 0.0
    for b in getattr(model, "blocks", []):
        W, Q = b.ssm._stream_shape()
        total += b.ssm.d_model * b.ssm.modes * (4 * (W + Q) + 2)
    return total


def _lm_energy(model, x) -> dict:
    """ACs and MACs per token: Linear layers counted by :class:`SynapticOpCounter` (spikes -> ACs); the GRU
    analytically (``3 (d_in h + h^2)`` MACs per layer and token); the SSM recurrence by :func:`_ssm_stream_macs`."""
    counter = SynapticOpCounter(model)
    with torch.no_grad():
        model(x)
    counter.remove()
    ops = counter.result(n_samples=x.numel())
    acs, macs = ops.acs / x.numel(), ops.macs / x.numel()
    if isinstance(model, GRULanguageModel):
        h = model.rnn.hidden_size
        macs += model.rnn.num_layers * 3 * (h * h + h * h)
    rec = _ssm_stream_macs(model)
    return {"acs_token": acs, "macs_token": macs, "ssm_macs_token": rec,
            "energy_nj_token": (E_AC_PJ * acs + E_MAC_PJ * macs) / 1000.0,
            "energy_nj_token_with_ssm": (E_AC_PJ * acs + E_MAC_PJ * (macs + rec)) / 1000.0}


def run_shakespeare(args):
    codec, splits = tiny_shakespeare()
    V, T, B = codec.vocab_size, 128, 32
    train = LMWindows(splits["train"], T, n_windows=200_000, seed=0)
    val = LMWindows(splits["val"], T)
    vx = torch.stack([val[i][0] for i in range(len(val))])
    vy = torch.stack([val[i][1] for i in range(len(val))])
    models = {name: SSMLanguageModel(V, 128, 2, 32, **kw) for name, kw in _arms("lm").items()}
    torch.manual_seed(0)
    models["GRU"] = GRULanguageModel(V, 128, 1)
    state = {name: {"opt": _optimizer(m), "steps": 0, "seconds": 0.0, "pos": 0} for name, m in models.items()}
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    budget, slice_s, max_steps = args.lm_seconds, args.lm_slice, args.lm_steps

    def running(s):  # a fixed number of steps (--lm-steps) or a fixed wall-clock budget
        return s["steps"] < max_steps if max_steps else s["seconds"] < budget

    while any(running(s) for s in state.values()):
        for name, m in models.items():
            s = state[name]
            if not running(s):
                continue
            m.train()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < slice_s and (s["steps"] < max_steps if max_steps else
                                                          s["seconds"] + (time.perf_counter() - t0) < budget):
                idx = order[s["pos"]:s["pos"] + B]
                s["pos"] += B
                x = torch.stack([train[int(i)][0] for i in idx])
                y = torch.stack([train[int(i)][1] for i in idx])
                loss = F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1))
                s["opt"].zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
                s["opt"].step()
                s["steps"] += 1
                s["last_loss"] = float(loss.detach())
            s["seconds"] += time.perf_counter() - t0
        print({n: (s["steps"], round(s["seconds"]), round(s.get("last_loss", 0) / math.log(2), 3))
               for n, s in state.items()}, flush=True)
    rows = []
    for name, m in models.items():
        m.eval()
        nats, rates = 0.0, []
        with torch.no_grad():
            for idx in torch.arange(len(vx)).split(64):
                nats += float(F.cross_entropy(m(vx[idx]).reshape(-1, V), vy[idx].reshape(-1), reduction="sum"))
                r = _spike_rate(m)
                if r is not None:
                    rates.append(r)
        bpc = nats / vy.numel() / math.log(2)
        g = torch.Generator().manual_seed(0)
        prompt = torch.tensor(codec.encode("ROMEO:\n"))
        sample = codec.decode(m.generate(prompt, args.sample_tokens, 0.8, generator=g).tolist())
        row = {"arm": name, "val_bpc": bpc, "spike_rate": statistics.mean(rates) if rates else None,
               "params": sum(p.numel() for p in m.parameters()), "steps": state[name]["steps"],
               "train_s": state[name]["seconds"], "sample": "ROMEO:\n" + sample,
               "alphas": _alphas(m), **_lm_energy(m, vx[:8])}
        print(json.dumps(row), flush=True)
        rows.append(row)
    os.makedirs(RESULTS, exist_ok=True)
    json.dump({"config": {"context": T, "batch": B, "seconds_per_arm": None if max_steps else budget,
                          "steps_per_arm": max_steps or None, "slice_s": slice_s, "d_model": 128,
                          "blocks": 2, "d_state": 32, "lr": 3e-3, "ssm_lr": 1e-3, "val_chars": int(vy.numel())},
               "rows": rows}, open(os.path.join(RESULTS, f"sequences_shakespeare{args.suffix}.json"), "w"), indent=1)


def _alphas(m) -> dict:
    out = {}
    for name, mod in m.named_modules():
        if name.endswith("order") and hasattr(mod, "forward"):
            try:
                out[name] = float(mod().mean())
            except TypeError:
                pass
    return out


# ------------------------------------------------------------------------------------------------ tables
def tables():
    for suffix in ("", "_long"):
        p = os.path.join(RESULTS, f"sequences_listops{suffix}.json")
        if os.path.exists(p):
            _listops_table(json.load(open(p)))
    _shakespeare_tables()


def _listops_table(d):
    if True:
        print(f"ListOps (generated, lengths 100-500; chance {d['chance']:.3f}); {d['config']}")
        print("| arm | test accuracy (mean ± sd over seeds) | per seed | spike rate | parameters |")
        print("|---|---|---|---|---|")
        arms = list(dict.fromkeys(r["arm"] for r in d["runs"]))
        for a in arms:
            rs = [r for r in d["runs"] if r["arm"] == a]
            accs = [r["test_acc"] for r in rs]
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            rate = [r["spike_rate"] for r in rs if r["spike_rate"] is not None]
            print(f"| {a} | {statistics.mean(accs):.3f} ± {sd:.3f} | {', '.join(f'{v:.3f}' for v in accs)} | "
                  f"{statistics.mean(rate):.3f} |" if rate else f"| {a} | {statistics.mean(accs):.3f} ± {sd:.3f} | "
                  f"{', '.join(f'{v:.3f}' for v in accs)} | - |", f" {rs[0]['params']} |")


def _shakespeare_tables():
    for suffix in ("", "_steps"):
        p = os.path.join(RESULTS, f"sequences_shakespeare{suffix}.json")
        if os.path.exists(p):
            _shakespeare_table(json.load(open(p)))


def _shakespeare_table(d):
    if True:
        print(f"\nShakespeare; {d['config']}")
        print("| arm | val bpc | steps | parameters | spike rate | energy nJ/token (Linear layers) | "
              "energy nJ/token (with SSM recurrence) |")
        print("|---|---|---|---|---|---|---|")
        for r in d["rows"]:
            rate = "-" if r["spike_rate"] is None else f"{r['spike_rate']:.3f}"
            print(f"| {r['arm']} | {r['val_bpc']:.3f} | {r['steps']} | {r['params']} | {rate} | "
                  f"{r['energy_nj_token']:.1f} | {r['energy_nj_token_with_ssm']:.1f} |")
        for r in d["rows"]:
            print(f"\n{r['arm']}:\n```\n{r['sample']}\n```")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", choices=["listops", "shakespeare"])
    p.add_argument("--table", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=125)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--lm-seconds", type=float, default=240.0)
    p.add_argument("--lm-slice", type=float, default=20.0)
    p.add_argument("--lm-steps", type=int, default=0, help="train every arm for this many steps instead of "
                                                          "--lm-seconds")
    p.add_argument("--sample-tokens", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--suffix", default="", help="results file suffix (_long: a longer ListOps run, _steps: "
                                                "Shakespeare at equal steps)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.table:
        tables()
    elif args.what == "listops":
        run_listops(args)
    elif args.what == "shakespeare":
        run_shakespeare(args)
    else:
        p.error("name an experiment (listops, shakespeare) or --table")


if __name__ == "__main__":
    main()
