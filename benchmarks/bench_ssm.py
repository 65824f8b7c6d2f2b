"""Fractional SSM benchmark: kernel generation, training throughput, streaming throughput, sequential digits.

    python benchmarks/bench_ssm.py                 # full run (CPU, 2 cores: about 15 minutes)
    python benchmarks/bench_ssm.py --quick         # smoke run
    python benchmarks/bench_ssm.py --only kernel   # one section (kernel, train, stream, digits)

Each figure is measured in a fresh process (peak memory = growth of that one job, after a warm-up call at a
tiny length); times are medians over repeats; ratios come from the same run.

1. Kernel generation, H = 64, d_state N = 64 (32 complex modes), L in {1024, 4096, 16384}: the fractional
   kernel (alpha = 0.5 per channel, learnable) in the float32 layer (contour points P = L) and the float64 layer
   (P = 2L), the same code at alpha = 1, and, for reference, the closed-form alpha = 1 (backward-Euler)
   kernel computed the conventional S4D way (materialised ``[H, M, L]`` Vandermonde powers).
2. Training step (forward + backward + AdamW) of a classifier: encoder, ``--blocks`` blocks, mean-pool
   decoder; d_model 128, batch 8, at the same L; alpha learnable vs fixed alpha = 1; tokens/s, peak memory.
   Block kinds live in ``BLOCKS``: ``ssm-glu`` = FractionalSSM -> GELU -> GLU mixing with residual and
   layer norm (no spikes). Further kinds (the spiking block) register there and are chosen with ``--block``.
3. Streaming (``torch.no_grad``, float32, one intra-op thread unless ``--threads`` is given): time per
   ``step`` call of one layer (H = 64, N = 64, batch 1) at alpha = 1 (fixed: the state is ``s_{n-1}``) and at
   alpha = 0.5 (learnable) with the layer's optimal SOE memory (balanced truncation, the default) and with the
   quadrature SOE it reduces (:func:`spikeDE.fractional.soe.soe_rates` / ``soe_weights``, no reduction), and
   of the block stack (batch 8); the variants of a table run interleaved in one process (medians; with one
   thread the process's CPU time, which other processes' load does not inflate), so the ratios to alpha = 1
   come from the same run.
4. Sequential digits (8x8 digits pixel by pixel): alpha learnable (sector and direct parameterisation of A)
   vs alpha = 1, ``--seeds`` seeds.
5. Spiking classifier (``--only spiking``): training step (forward + backward + AdamW) of a 4-block
   :class:`spikeDE.ssm.SpikingSSMClassifier` (LoongSpike blocks: FractionalSSM -> LIF / f-LIF neuron -> GLU),
   d_model 128, N 64, batch 8, at the same L: tokens/s and peak memory for alpha = 1 (integer SSM, LIF), a
   learnable SSM order (LIF neurons) and learnable orders of both the SSMs and the f-LIF neurons (SOE memory);
   streaming steps/s of the same stack (batch 8).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import measure_peak, median_time, print_table, run_isolated, train_sequential_digits  # noqa: E402

from spikeDE.fractional.soe import soe_rates, soe_weights
from spikeDE.ssm import FractionalSSM, SpikingSSMClassifier  # noqa: E402


# ---------------------------------------------------------------------------------------------- models
class SSMGLUBlock(nn.Module):
    """Block without spikes: ``x + GLU(W GELU(SSM(LN(x))))`` (pre-norm) or ``LN(x + GLU(...SSM(x)))`` (post-norm)."""

    def __init__(self, d_model, d_state, alpha, learn_alpha, prenorm=True, **ssm_kw):
        super().__init__()
        self.prenorm = prenorm
        self.norm = nn.LayerNorm(d_model)
        self.ssm = FractionalSSM(d_model, d_state, alpha=alpha, learn_alpha=learn_alpha, **ssm_kw)
        self.mix = nn.Linear(d_model, 2 * d_model)

    def forward(self, x):
        if self.prenorm:
            return x + F.glu(self.mix(F.gelu(self.ssm(self.norm(x)))), -1)
        return self.norm(x + F.glu(self.mix(F.gelu(self.ssm(x))), -1))

    def default_state(self, batch):
        return self.ssm.default_state(batch)

    def step(self, x_t, state):
        if self.prenorm:
            z, state = self.ssm.step(self.norm(x_t), state)
            return x_t + F.glu(self.mix(F.gelu(z)), -1), state
        z, state = self.ssm.step(x_t, state)
        return self.norm(x_t + F.glu(self.mix(F.gelu(z)), -1)), state


BLOCKS = {"ssm-glu": SSMGLUBlock}


class QuadratureSOESSM(FractionalSSM):
    """The layer with the quadrature SOE streaming memory (fixed rates for lags ``W+1..stream_n_max`` at
    ``stream_tol``, no balanced truncation): the construction the optimal SOE reduces, for comparison."""

    def _stream_soe(self, a):
        W, H = self.stream_window, self.d_model
        rates, du = soe_rates(W + 1, self.stream_n_max, self.stream_tol, device=a.device)
        return rates.expand(H, -1), soe_weights("gl", a if a.dim() else a.expand(H), rates, du)


class Classifier(nn.Module):
    """Encoder -> blocks -> decoder on the mean over time (``"mean"``) or the last step (``"last"``)."""

    def __init__(self, block, d_input, d_model, d_state, n_blocks, n_classes, alpha, learn_alpha,
                 decoder="mean", prenorm=True, **ssm_kw):
        super().__init__()
        self.decoder_mode = decoder
        self.encoder = nn.Linear(d_input, d_model)
        self.blocks = nn.ModuleList(BLOCKS[block](d_model, d_state, alpha, learn_alpha, prenorm, **ssm_kw)
                                    for _ in range(n_blocks))
        self.norm = nn.LayerNorm(d_model) if prenorm else nn.Identity()
        self.decoder = nn.Linear(d_model, n_classes)

    def forward(self, x):  # [B, L, d_input]
        z = self.encoder(x)
        for b in self.blocks:
            z = b(z)
        z = self.norm(z)
        return self.decoder(z.mean(1) if self.decoder_mode == "mean" else z[:, -1])

    def default_state(self, batch):
        return [b.default_state(batch) for b in self.blocks]

    def step(self, x_t, states):
        """One time step of the stack: per-step logits of the last-step decoder."""
        z = self.encoder(x_t)
        new = []
        for b, s in zip(self.blocks, states):
            z, s = b.step(z, s)
            new.append(s)
        return self.decoder(self.norm(z)), new


# ---------------------------------------------------------------------------------------------- workers
def vandermonde_alpha1_kernel(ssm: FractionalSSM, L: int) -> torch.Tensor:
    """Reference: the alpha = 1 backward-Euler kernel the conventional way (``[H, M, L]`` powers)."""
    _, lam, c, _ = ssm.discrete()
    n = torch.arange(L, dtype=torch.float64)
    powers = torch.exp(-(n + 1) * torch.log(1.0 - lam).unsqueeze(-1))  # [H, M, L]
    return 2.0 * (c[0].unsqueeze(-1) * powers).sum(1).real


def worker_kernel(variant: str, L: int, repeats: int, backward: bool) -> dict:
    torch.manual_seed(0)
    dtype = torch.float64 if variant == "frac-f64" else torch.float32
    alpha, learn = (1.0, False) if variant in ("alpha1", "vandermonde") else (0.5, True)
    ssm = FractionalSSM(64, 64, alpha=alpha, learn_alpha=learn, dtype=dtype)
    make = (lambda n: vandermonde_alpha1_kernel(ssm, n)) if variant == "vandermonde" else ssm.kernel

    def run(n=L):
        K = make(n)
        if backward:
            K.square().sum().backward()

    run(64)  # load libraries and code paths before measuring
    return {"mib": measure_peak(run), "s": median_time(run, repeats)}


def train_throughput(model, L: int, repeats: int) -> dict:
    """Peak memory and median time of an AdamW training step on a batch of 8 random sequences of length ``L``."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_step(n=L):
        x, y = torch.randn(8, n, 1), torch.randint(0, 10, (8,))
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    train_step(64)
    peak = measure_peak(train_step)
    t = median_time(train_step, repeats, warmup=0)
    return {"peak_mib": peak, "step_s": t, "tokens_s": 8 * L / t}


def worker_train(block: str, learn: bool, L: int, repeats: int, n_blocks: int) -> dict:
    torch.manual_seed(0)
    model = Classifier(block, 1, 128, 64, n_blocks, 10, alpha=0.5 if learn else 1.0, learn_alpha=learn)
    return train_throughput(model, L, repeats)


def interleaved_us_per_step(models: dict, xs: torch.Tensor, repeats: int, clock=time.perf_counter) -> dict:
    """Median microseconds per ``step`` call (``torch.no_grad``, a fresh ``default_state`` per sequence) of each
    model over ``xs [steps, batch, width]``, the models timed in turn within each repeat (same load), by
    ``clock`` (wall clock, or the process's CPU time for one thread: other processes' load does not count)."""

    def runner(model):
        @torch.no_grad()
        def run():
            state = model.default_state(xs.shape[1])
            for x_t in xs:
                _, state = model.step(x_t, state)
        return run

    runs = {k: runner(m) for k, m in models.items()}
    for run in runs.values():  # warm-up: coefficients, caches, code paths
        run()
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, run in runs.items():
            t0 = clock()
            run()
            times[k].append(clock() - t0)
    return {k: statistics.median(v) / xs.shape[0] * 1e6 for k, v in times.items()}


def worker_stream(model: str, steps: int, repeats: int, n_blocks: int) -> dict:
    torch.manual_seed(0)
    if model == "layer":
        models = {"alpha=1": FractionalSSM(64, 64, alpha=1.0, learn_alpha=False),
                  "optimal": FractionalSSM(64, 64, alpha=0.5, learn_alpha=True),
                  "quadrature": QuadratureSOESSM(64, 64, alpha=0.5, learn_alpha=True)}
        batch, width = 1, 64
        modes = {k: m.stream_modes for k, m in models.items()}
    else:
        models = {"alpha=1": Classifier("ssm-glu", 128, 128, 64, n_blocks, 10, alpha=1.0, learn_alpha=False),
                  "optimal": Classifier("ssm-glu", 128, 128, 64, n_blocks, 10, alpha=0.5, learn_alpha=True)}
        batch, width = 8, 128
        modes = {k: m.blocks[0].ssm.stream_modes for k, m in models.items()}
    clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
    us = interleaved_us_per_step(models, torch.randn(steps, batch, width), repeats, clock)
    return {k: {"us_step": us[k], "modes": modes[k]} for k in models}


def worker_digits(variant: str, seed: int, epochs: int, n_blocks: int) -> dict:
    """Sequential digits (T = 64, pixel by pixel): train on ``train``, report ``val`` and ``test`` accuracy
    after a fixed number of epochs (no model selection on either)."""
    alpha, learn, param = {"alpha-learn": (0.5, True, "sector"), "alpha-learn-direct": (0.5, True, "direct"),
                           "alpha=1": (1.0, False, "sector")}[variant]
    torch.manual_seed(seed)
    model = Classifier("ssm-glu", 1, 64, 32, n_blocks, 10, alpha=alpha, learn_alpha=learn, decoder="last",
                       prenorm=False, dt_min=1e-2, dt_max=0.5, A_parameterization=param)
    out = train_sequential_digits(model, epochs, lr=5e-3)
    out["alpha"] = torch.cat([b.ssm.alpha.reshape(-1) for b in model.blocks]).mean().item()
    return out


SPIKING = {"alpha=1": "alpha = 1 fixed (SSM, LIF)",
           "ssm-learn": "SSM alpha learnable (0.5), LIF",
           "all-learn": "SSM + f-LIF alpha learnable (0.5, SOE)"}


def spiking_classifier(variant: str, n_blocks: int, d_input: int = 1) -> SpikingSSMClassifier:
    learn = variant != "alpha=1"
    neuron = {"alpha": 0.5, "learn_alpha": True, "memory": "soe"} if variant == "all-learn" else None
    return SpikingSSMClassifier(d_input, 10, d_model=128, n_blocks=n_blocks, d_state=64,
                                alpha=0.5 if learn else 1.0, learn_alpha=learn, neuron=neuron)


def worker_spiking_train(variant: str, L: int, repeats: int, n_blocks: int) -> dict:
    torch.manual_seed(0)
    model = spiking_classifier(variant, n_blocks)
    return dict(train_throughput(model, L, repeats), rate=model.spike_rate.item())


def worker_spiking_stream(variant: str, steps: int, repeats: int, n_blocks: int) -> dict:
    torch.manual_seed(0)
    model = spiking_classifier(variant, n_blocks, d_input=128).eval()
    xs = torch.randn(steps, 8, 128)

    @torch.no_grad()
    def run():
        state = model.default_state(8)
        for x_t in xs:
            _, state = model.step(x_t, state)

    t = median_time(run, repeats)
    return {"steps_s": steps / t}


# ---------------------------------------------------------------------------------------------- driver
def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: short sequences, one repeat, one seed")
    p.add_argument("--block", default="ssm-glu", choices=sorted(BLOCKS))
    p.add_argument("--blocks", type=int, default=4, help="blocks of the throughput/streaming stack")
    p.add_argument("--threads", type=int, default=None, help="torch threads in every job (default: torch's)")
    p.add_argument("--only", default="kernel,train,stream,digits,spiking",
                   help="comma-separated sections to run (kernel, train, stream, digits, spiking)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        job = json.loads(a.worker)
        if job.get("threads"):
            torch.set_num_threads(job["threads"])
        job.pop("threads", None)
        fn = {"kernel": worker_kernel, "train": worker_train, "stream": worker_stream,
              "digits": worker_digits, "spiking_train": worker_spiking_train,
              "spiking_stream": worker_spiking_stream}[job.pop("job")]
        print(json.dumps(fn(**job)))
        return

    sections = set(a.only.split(","))
    lengths = [256, 1024] if a.quick else [1024, 4096, 16384]
    reps = 1 if a.quick else 5
    script = os.path.abspath(__file__)

    def job(name, **kw):
        return run_isolated(script, ["--worker", json.dumps({"job": name, "threads": a.threads, **kw})])

    threads = a.threads or torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {threads} threads, CPU, load average at start {load:.2f}\n")
    if "kernel" in sections:
        print("1. Kernel generation, H=64, N=64 (32 complex modes); time in s (median), peak memory growth in MiB")
        names = {"frac-f32": "alpha=0.5 learnable, float32 layer (P=L)",
                 "frac-f64": "alpha=0.5 learnable, float64 layer (P=2L)",
                 "alpha1": "alpha=1 fixed, same code (P=L)",
                 "vandermonde": "alpha=1 closed form, [H,M,L] powers"}
        rows = []
        for L in lengths:
            base = None
            for v in names:
                f, b = (job("kernel", variant=v, L=L, repeats=reps, backward=bw) for bw in (False, True))
                base = base or f["s"]
                rows.append([str(L), names[v], f["s"], f["mib"], b["s"], b["mib"], f["s"] / base])
        print_table(["L", "kernel", "fwd s", "fwd MiB", "fwd+bwd s", "fwd+bwd MiB", "fwd / first row"], rows)

    if "train" in sections:
        print(f"\n2. Training step (forward, backward, AdamW), {a.blocks} x {a.block} blocks, d_model 128, N 64, "
              "batch 8, float32")
        rows = []
        for L in lengths:
            res = {learn: job("train", block=a.block, learn=learn, L=L, repeats=max(1, reps - 2),
                              n_blocks=a.blocks) for learn in (True, False)}
            for learn in (True, False):
                r = res[learn]
                rows.append([str(L), "alpha learnable (0.5)" if learn else "alpha = 1 fixed", r["step_s"],
                             r["tokens_s"], r["peak_mib"], res[False]["tokens_s"] / r["tokens_s"]])
        print_table(["L", "order", "step s", "tokens/s", "peak MiB", "time / alpha=1"], rows)

    if "stream" in sections:
        steps = 50 if a.quick else 300
        st_threads = a.threads or 1
        probe = FractionalSSM(4, 4, alpha=0.5)
        print(f"\n3. Streaming (torch.no_grad, float32, {st_threads} thread(s)), {steps} steps per sequence; "
              f"microseconds per step call ({'CPU time of the process' if st_threads == 1 else 'wall clock'}, median "
              f"of {2 * reps + 1} interleaved repeats); SOE memory: Q modes per "
              f"state entry besides the W = {probe.stream_window} exact lags (stream_tol = {probe.stream_tol:g}, "
              f"lags up to {probe.stream_n_max})")
        soe = {"alpha=1": "alpha = 1 fixed (s_{n-1} only)",
               "optimal": "alpha = 0.5, optimal SOE (balanced truncation)",
               "quadrature": "alpha = 0.5, quadrature SOE (no reduction)"}
        rows = []
        for kind, label in (("layer", "one FractionalSSM, H=64, N=64, batch 1"),
                            ("stack", f"{a.blocks} x ssm-glu, d_model 128, N 64, batch 8")):
            res = run_isolated(script, ["--worker", json.dumps({"job": "stream", "threads": st_threads, "model": kind,
                                                                "steps": steps, "repeats": 2 * reps + 1,
                                                                "n_blocks": a.blocks})])
            for k, r in res.items():
                rows.append([label, soe[k], str(r["modes"]), r["us_step"], 1e6 / r["us_step"],
                             r["us_step"] / res["alpha=1"]["us_step"]])
        print_table(["model", "order / memory", "SOE modes Q", "us / step", "steps/s", "time / alpha=1"], rows)

    if "digits" in sections:
        seeds = 1 if a.quick else a.seeds
        epochs = 2 if a.quick else a.epochs
        print(f"\n4. Sequential digits (T=64), 2 x ssm-glu (post-norm), d_model 64, N 32, last-step decoder, "
              f"{epochs} epochs, {seeds} seed(s); accuracy after the last epoch (no selection)")
        rows = []
        for v, label in (("alpha-learn", "alpha learnable from 0.5 (sector A)"),
                         ("alpha-learn-direct", "alpha learnable from 0.5 (direct A = P)"),
                         ("alpha=1", "alpha = 1 fixed")):
            rs = [job("digits", variant=v, seed=sd, epochs=epochs, n_blocks=2) for sd in range(seeds)]
            mean = lambda k: statistics.mean(r[k] for r in rs)  # noqa: E731
            sd = lambda k: statistics.pstdev(r[k] for r in rs)  # noqa: E731
            rows.append([label, f"{mean('val'):.3f} +- {sd('val'):.3f}", f"{mean('test'):.3f} +- {sd('test'):.3f}",
                         mean("alpha"), mean("train_s")])
        print_table(["model", "val acc", "test acc", "final mean alpha", "train s"], rows)

    if "spiking" in sections:
        print(f"\n5. Spiking classifier, training step (forward, backward, AdamW), {a.blocks} x LoongSpike, "
              "d_model 128, N 64, batch 8, float32; spike rate = mean firing rate after the last step")
        rows = []
        for L in lengths:
            res = {v: job("spiking_train", variant=v, L=L, repeats=max(1, reps - 2), n_blocks=a.blocks)
                   for v in SPIKING}
            for v, label in SPIKING.items():
                r = res[v]
                rows.append([str(L), label, r["step_s"], r["tokens_s"], r["peak_mib"],
                             r["step_s"] / res["alpha=1"]["step_s"], r["peak_mib"] / res["alpha=1"]["peak_mib"],
                             r["rate"]])
        print_table(["L", "orders", "step s", "tokens/s", "peak MiB", "time / alpha=1", "mem / alpha=1",
                     "spike rate"], rows)
        steps = 50 if a.quick else 300
        rows = []
        res = {v: job("spiking_stream", variant=v, steps=steps, repeats=reps, n_blocks=a.blocks) for v in SPIKING}
        for v, label in SPIKING.items():
            rows.append([label, res[v]["steps_s"], res["alpha=1"]["steps_s"] / res[v]["steps_s"]])
        print(f"\n   Streaming (torch.no_grad), {a.blocks} x LoongSpike, d_model 128, N 64, batch 8, {steps} steps")
        print_table(["orders", "steps/s", "time / alpha=1"], rows)


if __name__ == "__main__":
    main()
