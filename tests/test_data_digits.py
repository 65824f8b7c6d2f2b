import numpy as np
import pytest
import torch

from spikeDE.data.digits import load_digits_arrays, sequential_digits


def test_shapes_and_ranges():
    tr = sequential_digits("train")
    x, y = tr.tensors
    assert x.shape[1:] == (64, 1) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert set(y.tolist()) == set(range(10))
    xr, _ = sequential_digits("train", mode="row", dtype=torch.float64).tensors
    assert xr.shape[1:] == (8, 8) and xr.dtype == torch.float64
    # row mode is the same image, read row by row
    torch.testing.assert_close(xr.reshape(-1, 64), x.reshape(-1, 64).double())


def test_splits_partition_the_data_and_are_stratified():
    images, labels = load_digits_arrays()
    sizes = [len(sequential_digits(s)) for s in ("train", "val", "test")]
    assert sum(sizes) == len(labels) == 1797
    keys = set()
    for s in ("train", "val", "test"):
        x, y = sequential_digits(s, dtype=torch.float64).tensors
        for row in x.reshape(len(x), -1).numpy():
            keys.add(row.tobytes())
        counts = np.bincount(y.numpy(), minlength=10) / len(y)
        assert np.all(np.abs(counts - 0.1) < 0.03)
    assert len(keys) >= 1790  # (a handful of identical images exist in the original data)


def test_permuted_is_a_fixed_permutation():
    x, _ = sequential_digits("test", dtype=torch.float64).tensors
    xp, _ = sequential_digits("test", permuted=True, dtype=torch.float64).tensors
    assert not torch.equal(x, xp)
    torch.testing.assert_close(x.sort(dim=1).values, xp.sort(dim=1).values)
    xp2, _ = sequential_digits("test", permuted=True, dtype=torch.float64).tensors
    assert torch.equal(xp, xp2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        sequential_digits("validation")
    with pytest.raises(ValueError, match="mode"):
        sequential_digits("train", mode="column")
