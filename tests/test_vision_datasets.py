"""Event datasets on tiny folders written here in each dataset's published layout and file format."""

import numpy as np
import pytest
import torch

from spikeDE.data import event_datasets as D
from spikeDE.data import events as E


def _events(n, w, h, seed, t_max=50_000):
    g = np.random.default_rng(seed)
    return E.make_events(g.integers(0, w, n), g.integers(0, h, n), np.sort(g.integers(0, t_max, n)),
                         g.integers(0, 2, n))


def test_nmnist_layout_and_frames(tmp_path):
    written = {}
    for split in ("Train", "Test"):
        for digit in range(3):
            for k in range(4):
                ev = _events(80, 34, 34, seed=100 * (split == "Test") + 10 * digit + k)
                f = tmp_path / "nmnist" / split / str(digit) / f"{k:05d}.bin"
                f.parent.mkdir(parents=True, exist_ok=True)
                E.write_atis_bin(f, ev)
                written[str(f)] = ev
    tr = D.nmnist("train", root=tmp_path, frames=4, val_fraction=0.25)
    va = D.nmnist("val", root=tmp_path, frames=4, val_fraction=0.25)
    te = D.nmnist("test", root=tmp_path, frames=4)
    assert (len(tr), len(va), len(te)) == (9, 3, 12)
    assert not {s.path for s in tr.samples} & {s.path for s in va.samples}
    for ds in (tr, te):
        for i in (0, len(ds) - 1):
            x, y = ds[i]
            s = ds.samples[i]
            assert y == int(s.path.split("/")[-2])
            assert torch.equal(x, E.to_frames(written[s.path], (34, 34, 2), n_time_bins=4))
    assert list((tmp_path / "nmnist" / "frames_cache").glob("*.npy"))      # cached on first read


def test_dvs_gesture_cuts_recordings_by_label_csv(tmp_path):
    base = tmp_path / "dvs_gesture" / "DvsGesture"
    base.mkdir(parents=True)
    ev = _events(3000, 128, 128, seed=1, t_max=3_000_000)
    cuts = [(1, 100_000, 900_000), (5, 1_000_000, 1_800_000), (11, 2_000_000, 2_900_000)]
    for user in ("user01_fluorescent", "user02_led"):
        E.write_aedat31(base / f"{user}.aedat", ev, packet_size=500)
        (base / f"{user}_labels.csv").write_text("class,startTime_usec,endTime_usec\n" +
                                                "".join(f"{c},{s},{e}\n" for c, s, e in cuts))
    (base / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (base / "trials_to_test.txt").write_text("user02_led.aedat\n")
    te = D.dvs_gesture("test", root=tmp_path, frames=3, split_by="time")
    assert len(te) == 3 and [s.label for s in te.samples] == [0, 4, 10]
    for i, (c, s, e) in enumerate(cuts):
        x, y = te[i]
        part = ev[(ev["t"] >= s) & (ev["t"] < e)]
        assert torch.equal(x, E.to_frames(part, (128, 128, 2), n_time_bins=3, split_by="time"))
    assert len(D.dvs_gesture("train", root=tmp_path, val_fraction=0.0)) == 3


def test_cifar10_dvs_and_ncaltech_seeded_splits(tmp_path):
    for c in D.CIFAR10_DVS_CLASSES:
        for k in range(5):
            f = tmp_path / "cifar10_dvs" / c / f"cifar10_{c}_{k}.aedat"
            f.parent.mkdir(parents=True, exist_ok=True)
            E.write_aedat2(f, _events(30, 128, 128, seed=k))
    sets = {s: D.cifar10_dvs(s, root=tmp_path, frames=2, seed=3) for s in ("train", "val", "test")}
    paths = [set(x.path for x in d.samples) for d in sets.values()]
    assert sum(map(len, paths)) == 50 and not (paths[0] & paths[1]) and not (paths[0] & paths[2])
    assert np.bincount(sets["train"].labels).tolist() == [4] * 10
    assert [s.path for s in D.cifar10_dvs("test", root=tmp_path, seed=3).samples] == \
        [s.path for s in sets["test"].samples]
    for c in ("accordion", "airplanes", "BACKGROUND_Google"):
        for k in range(10):
            f = tmp_path / "ncaltech101" / "Caltech101" / c / f"image_{k:04d}.bin"
            f.parent.mkdir(parents=True, exist_ok=True)
            E.write_atis_bin(f, _events(30, 240, 180, seed=k))
    tr = D.ncaltech101("train", root=tmp_path, frames=2)
    assert len(tr) == 16 and tr.n_classes == 2 and tr[0][0].shape == (2, 2, 180, 240)


def test_hardvs_lists(tmp_path):
    folder = tmp_path / "hardvs"
    (folder / "a").mkdir(parents=True)
    for k in range(3):
        np.save(folder / "a" / f"s{k}.npy", _events(20, 346, 260, seed=k))
    (folder / "train_label.txt").write_text("a/s0.npy 5\na/s1.npy 7\n")
    (folder / "test_label.txt").write_text("a/s2.npy 299\n")
    tr = D.hardvs("train", root=tmp_path, frames=2, downsample=2)
    assert len(tr) == 2 and tr[1][1] == 7 and tr[0][0].shape == (2, 2, 130, 173)
    assert D.hardvs("test", root=tmp_path)[0][1] == 299


@pytest.mark.parametrize("name,expect", [("nmnist", "Train/<digit>"), ("ncaltech101", "Caltech101/<class>"),
                                         ("dvs_gesture", "trials_to_train.txt"), ("cifar10_dvs", "airplane"),
                                         ("hardvs", "train_label.txt")])
def test_missing_dataset_lists_expected_files(tmp_path, name, expect):
    with pytest.raises(FileNotFoundError, match=expect) as err:
        D.EVENT_DATASETS[name]("train", root=tmp_path)
    assert "never downloads" in str(err.value)


def test_real_dataset_tasks(tmp_path):
    from spikeDE.train import get_task
    from spikeDE.train.config import ConfigError
    from spikeDE.train.registry import resolve_options
    for split in ("Train", "Test"):
        for digit in range(2):
            for k in range(3):
                f = tmp_path / "nmnist" / split / str(digit) / f"{k:05d}.bin"
                f.parent.mkdir(parents=True, exist_ok=True)
                E.write_atis_bin(f, _events(40, 34, 34, seed=k + 7 * digit))
    spec = get_task("nmnist")
    assert spec.defaults["model"] == "spiking-vgg"
    data = spec.build(resolve_options(spec.options, {"root": str(tmp_path), "frames": 3, "downsample": 2}, "nmnist"),
                      torch.float32)
    assert data.info.input_shape == (2, 17, 17) and data.info.steps == 3 and data.info.n_classes == 10
    x, y = data.train[0]
    assert x.shape == (3, 2, 17, 17) and len(data.test) == 6
    with pytest.raises(ConfigError, match="expected|Expected"):
        get_task("dvs-gesture").build(resolve_options(get_task("dvs-gesture").options, {"root": str(tmp_path)},
                                                      "dvs-gesture"), torch.float32)
