import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikeDE.data import delay_task
from spikeDE.train.checkpoint import load_checkpoint
from spikeDE.train.sampler import GlobalBatchSampler
from spikeDE.train.trainer import Trainer, readout


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread


class TinyGRU(nn.Module):
    def __init__(self, c=17, h=8, k=4):
        super().__init__()
        self.rnn = nn.GRU(c, h)
        self.drop = nn.Dropout(0.2)          # random: a resumed run must restore the RNG state
        self.out = nn.Linear(h, k)

    def forward(self, x):
        return self.out(self.drop(self.rnn(x)[0]))


def _data():
    return (delay_task("train", delay=3, n_samples=60, seed=1), delay_task("val", delay=3, n_samples=20, seed=1))


def _trainer(out_dir, model_seed=0, seed=0, **kw):
    torch.manual_seed(model_seed)
    train, val = _data()
    args = dict(epochs=3, batch_size=16, lr=1e-2, schedule="cosine", readout="window", readout_window=4,
                seed=seed, out_dir=str(out_dir) if out_dir else None, checkpoint_every=3, progress=False,
                log=lambda s: None, extra_state={"note": "test"})
    args.update(kw)
    return Trainer(TinyGRU(), train, val, **args)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("stop_at", [6, 7])
def test_resume_equals_uninterrupted_bitwise(tmp_path, stop_at):
    full = _trainer(tmp_path / "full")
    full.fit()

    class Interrupted(Trainer):
        def _after_step(self):
            if self.global_step == stop_at:
                raise KeyboardInterrupt

    torch.manual_seed(0)
    train, val = _data()
    part = Interrupted(TinyGRU(), train, val, epochs=3, batch_size=16, lr=1e-2, schedule="cosine",
                       readout="window", readout_window=4, seed=0, out_dir=str(tmp_path / "part"),
                       checkpoint_every=3, progress=False, log=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        part.fit()
    saved = load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert saved["global_step"] == 6 and saved["epoch"] == 1 and saved["step_in_epoch"] == 2

    resumed = _trainer(tmp_path / "part", model_seed=123)   # other initial weights: must be overwritten
    resumed.resume()
    assert resumed.global_step == 6
    resumed.fit()
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert _strip(full.history) == _strip(resumed.history)
    sa, sb = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for k in sa:
        assert torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"])


def test_seed_reproducibility():
    a, b, c = _trainer(None), _trainer(None), _trainer(None, seed=1)
    for t in (a, b, c):
        t.fit()
    pa, pb, pc = (torch.cat([p.flatten() for p in t.model.parameters()]) for t in (a, b, c))
    assert torch.equal(pa, pb) and _strip(a.history) == _strip(b.history)
    assert not torch.equal(pa, pc)   # another seed: another batch order and dropout stream


def test_checkpoint_contents_and_mismatch(tmp_path):
    t = _trainer(tmp_path, epochs=1)
    t.fit()
    s = load_checkpoint(tmp_path / "checkpoint.pt")
    assert s["epoch"] == 1 and s["step_in_epoch"] == 0 and s["global_step"] == 4
    assert s["extra"] == {"note": "test"} and len(s["history"]) == 1
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "metrics.csv").read_text().startswith("epoch,")
    other = _trainer(tmp_path, batch_size=8)
    with pytest.raises(Exception, match="batch_size"):
        other.resume()


def test_trainer_learns_a_separable_task():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    x = torch.nn.functional.one_hot(y, 4).float()[:, None, :].expand(200, 5, 4) + 0.3 * torch.randn(200, 5, 4,
                                                                                                     generator=g)
    ds = TensorDataset(x.contiguous(), y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4))
    t = Trainer(model, ds, ds, epochs=5, batch_size=20, lr=2e-2, progress=False, log=lambda s: None)
    hist = t.fit()
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["val_acc"] > 0.95


def test_sampler_shards_cover_the_global_batches():
    n, bs, W = 53, 12, 3
    single = GlobalBatchSampler(n, bs, seed=5)
    shards = [GlobalBatchSampler(n, bs, seed=5, rank=r, world_size=W) for r in range(W)]
    for epoch in (0, 1):
        batches = single.global_batches(epoch)
        assert sorted(torch.cat(batches).tolist()) == list(range(n))   # every sample once per epoch
        local = [list(s.local_batches(epoch)) for s in shards]
        for k, b in enumerate(batches):
            union = sorted(torch.cat([local[r][k][0] for r in range(W)]).tolist())
            assert union == sorted(b.tolist()) and all(local[r][k][1] == len(b) for r in range(W))
        assert [i.tolist() for i, _ in single.local_batches(epoch, start=2)] == [b.tolist() for b in batches[2:]]
    assert not torch.equal(single.order(0), single.order(1))
    assert torch.equal(single.order(1), GlobalBatchSampler(n, bs, seed=5).order(1))
    with pytest.raises(ValueError, match="at least the number of processes"):
        GlobalBatchSampler(10, 2, rank=0, world_size=4)


def test_readout():
    z = torch.randn(6, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(readout(z, "mean"), sum(z[t] for t in range(6)) / 6)
    assert torch.equal(readout(z, "last"), z[5])
    torch.testing.assert_close(readout(z, "window", 2), (z[4] + z[5]) / 2)
    with pytest.raises(ValueError, match=r"\[T, B, K\]"):
        readout(z[0], "mean")
    with pytest.raises(ValueError, match="window"):
        readout(z, "window", 7)


def test_progress_bar_draws_only_on_a_terminal():
    import io

    from spikeDE.train.progress import ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, log = Tty(), io.StringIO()
    bar = ProgressBar(4, "epoch 1/2", stream=tty, min_interval=0.0, width=8)
    bar.update(2, loss=0.5)
    bar.close(loss=0.25)
    text = tty.getvalue()
    assert "epoch 1/2 [####....] 2/4  loss 0.500" in text and "[########] 2/4" not in text
    assert text.endswith("\n") and "loss 0.250" in text
    quiet = ProgressBar(4, stream=log)
    quiet.update(3, loss=1.0)
    quiet.close()
    assert log.getvalue() == ""
