import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spikeDE.data import cue_oracle, delay_task, make_delay_sequences, time_first_collate
from spikeDE.data.delay import delay_task_shape


def test_shapes_dtypes_values_and_time_first_batches():
    ds = delay_task("train", delay=10, n_samples=40, dtype=torch.float64)
    x, y = ds.tensors
    assert x.shape == (40, 4 + 10 + 4, 17) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert delay_task_shape(10) == (18, 17)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    xb, yb = next(iter(DataLoader(ds, batch_size=8, collate_fn=time_first_collate)))
    assert xb.shape == (18, 8, 17) and yb.shape == (8,)
    torch.testing.assert_close(xb[:, 3], x[3])
    # the go channel is on exactly in the recall window
    go = x[:, :, -1]
    assert torch.all(go[:, -4:] == 1) and torch.all(go[:, :-4] == 0)


def test_balanced_classes_and_noise_rate():
    x, y = delay_task("test", delay=20, n_samples=800, p_noise=0.1).tensors
    assert np.bincount(y.numpy(), minlength=4).tolist() == [200] * 4
    delay_part = x[:, 4:24, :16]
    rate = float(delay_part.mean())
    assert abs(rate - 0.1) < 4 * np.sqrt(0.1 * 0.9 / delay_part.numel())


def test_deterministic_and_splits_differ():
    a = delay_task("train", delay=5, n_samples=64, seed=3)
    b = delay_task("train", delay=5, n_samples=64, seed=3)
    c = delay_task("train", delay=5, n_samples=64, seed=4)
    v = delay_task("val", delay=5, n_samples=64, seed=3)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], c.tensors[0])
    assert not torch.equal(a.tensors[0], v.tensors[0])


def test_label_recoverable_from_cue():
    x, y = delay_task("test", delay=50, n_samples=1000).tensors
    assert torch.equal(cue_oracle(x), y)
    # time-first layout gives the same answer
    assert torch.equal(cue_oracle(x.transpose(0, 1), time_dim=0), y)
    # with a sparse cue (p_cue = 0.5) the oracle is still far above chance
    x, y = delay_task("test", delay=50, n_samples=1000, p_cue=0.5).tensors
    assert float((cue_oracle(x) == y).float().mean()) > 0.9


def test_only_the_cue_window_depends_on_the_label():
    labels_a = np.array([0, 1, 2, 3, 0, 1])
    labels_b = np.array([3, 1, 0, 2, 2, 1])
    xa = make_delay_sequences(labels_a, 12, seed=9)
    xb = make_delay_sequences(labels_b, 12, seed=9)
    assert torch.equal(xa[:, 4:], xb[:, 4:])                 # everything after the cue: identical
    for i, (la, lb) in enumerate(zip(labels_a, labels_b)):
        untouched = [c for c in range(17) if c // 4 not in (la, lb) or c == 16]
        assert torch.equal(xa[i, :4, untouched], xb[i, :4, untouched])
        assert torch.all(xa[i, :4, 4 * la:4 * la + 4] == 1)


def test_label_not_recoverable_from_the_rest():
    tr = delay_task("train", delay=16, n_samples=2000, p_noise=0.2, dtype=torch.float64)
    te = delay_task("test", delay=16, n_samples=1000, p_noise=0.2, dtype=torch.float64)

    def nearest_centroid_accuracy(part):
        a = part(tr.tensors[0]).reshape(2000, -1)
        b = part(te.tensors[0]).reshape(1000, -1)
        centroids = torch.stack([a[tr.tensors[1] == k].mean(0) for k in range(4)])
        pred = torch.cdist(b, centroids).argmin(1)
        return float((pred == te.tensors[1]).double().mean())

    # the same classifier reads the label off the cue window, but not off the delay and recall steps
    assert nearest_centroid_accuracy(lambda x: x[:, :4]) > 0.99
    chance_sd = np.sqrt(0.25 * 0.75 / 1000)
    assert nearest_centroid_accuracy(lambda x: x[:, 4:]) < 0.25 + 4 * chance_sd
    # a single step of the cue window already carries the label
    assert nearest_centroid_accuracy(lambda x: x[:, 3]) > 0.95


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        delay_task("validation")
    with pytest.raises(ValueError, match="delay"):
        delay_task("train", delay=-1)
    with pytest.raises(TypeError, match="delay"):
        delay_task("train", delay=2.5)
    with pytest.raises(ValueError, match="p_noise"):
        delay_task("train", p_noise=1.5)
    with pytest.raises(ValueError, match="labels"):
        make_delay_sequences(np.array([0, 4]), 3)
