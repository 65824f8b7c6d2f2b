"""The file tasks of ``spikede train`` on tiny files written here in the real formats: shapes, labels and
values against what was written, padding masks, two-sequence retrieval, clear errors (missing files listed,
malformed files, sequences longer than max_length unless truncation is asked for)."""
import csv
import gzip
import pickle
import struct
import wave

import numpy as np
import pytest
import torch

from spikeDE.cli import main
from spikeDE.train import get_task
from spikeDE.train.config import ConfigError
from spikeDE.train.registry import resolve_options


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread

F32 = torch.float32


def build(name, root, monkeypatch, **opts):
    monkeypatch.setenv("SPIKEDE_DATA", str(root))
    spec = get_task(name)
    return spec.build(resolve_options(spec.options, opts, name), F32)


def _idx(path, arr, code):
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(">u1").tobytes())


def test_smnist_and_psmnist(tmp_path, monkeypatch):
    d = tmp_path / "MNIST" / "raw"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (20, 28, 28)), rng.integers(0, 256, (6, 28, 28))
    _idx(d / "train-images-idx3-ubyte.gz", tr, 0x08)
    _idx(d / "train-labels-idx1-ubyte.gz", np.arange(20) % 10, 0x08)
    _idx(d / "t10k-images-idx3-ubyte.gz", te, 0x08)
    _idx(d / "t10k-labels-idx1-ubyte.gz", np.arange(6) % 10, 0x08)
    data = build("smnist", tmp_path, monkeypatch, val_size=4)
    assert data.info.steps == 784 and data.info.n_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (16, 4, 6)
    x, y = data.test[2]
    assert x.shape == (784, 1) and int(y) == 2
    assert torch.allclose(x[:, 0], torch.tensor(te[2].reshape(-1) / 255.0, dtype=F32))
    p = build("psmnist", tmp_path, monkeypatch, val_size=4)
    xp, _ = p.test[2]
    assert not torch.equal(xp, x) and torch.equal(xp.sort(0).values, x.sort(0).values)  # same pixels, permuted
    with pytest.raises(ConfigError, match="t10k-images-idx3-ubyte"):
        build("smnist", tmp_path / "empty", monkeypatch)


def _listops_files(root, rows):
    d = root / "lra_release" / "listops-1000"
    d.mkdir(parents=True)
    for split in ("train", "val", "test"):
        with open(d / f"basic_{split}.tsv", "w", newline="") as f:
            w = csv.writer(f, delimiter="\t")
            w.writerow(["Source", "Target"])
            w.writerows(rows)
    return d


def test_listops_files_padding_and_truncation(tmp_path, monkeypatch):
    rows = [["( ( ( [MAX 2 ) 9 ) ] )", "9"], ["( ( ( [SM 4 ) ( ( [MIN 3 ) 7 ) ] ) ) ] )", "7"]]
    _listops_files(tmp_path, rows)
    data = build("listops", tmp_path, monkeypatch, max_length=10)
    assert data.info.vocab_size == 16 and data.info.input_kind == "tokens"
    x, y = data.train[0]
    assert x.tolist() == [2, 8, 15, 5, 0, 0, 0, 0, 0, 0] and int(y) == 9  # [MAX 2 9 ] + padding
    with pytest.raises(ConfigError, match="longer than max_length=6"):
        build("listops", tmp_path, monkeypatch, max_length=6)
    cut = build("listops", tmp_path, monkeypatch, max_length=6, truncate=True)
    assert cut.train[1][0].tolist() == [4, 10, 1, 9, 13, 5]  # [SM 4 [MIN 3 7 ] (digit d -> d + 6)
    (tmp_path / "lra_release" / "listops-1000" / "basic_val.tsv").write_text("Input\tOutput\n")
    with pytest.raises(ConfigError, match="header"):
        build("listops", tmp_path, monkeypatch, max_length=10)


def test_cli_listops_files_end_to_end(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    rows = [[f"( ( ( [MAX {a} ) {b} ) ] )", str(max(a, b))] for a, b in rng.integers(0, 10, (16, 2))]
    _listops_files(tmp_path / "data", rows)
    monkeypatch.setenv("SPIKEDE_DATA", str(tmp_path / "data"))
    args = ["train", "--task", "listops", "--task-arg", "max_length=8", "--hidden", "8", "--model-arg", "d_state=4",
            "--batch-size", "8", "--epochs", "1", "--device", "cpu", "--no-progress", "--no-plots", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert main([*args, "--model-arg", "max_length=4", "--out", str(tmp_path / "run2")]) == 2  # model maximum


def test_lra_text_and_retrieval(tmp_path, monkeypatch):
    for split in ("train", "test"):
        for lab, sub in enumerate(("neg", "pos")):
            d = tmp_path / "aclImdb" / split / sub
            d.mkdir(parents=True)
            for k in range(5):
                (d / f"{k}_1.txt").write_text(f"{sub} review {k} é")
    data = build("lra-text", tmp_path, monkeypatch, max_length=32)
    assert data.info.vocab_size == 257 and len(data.test) == 10
    x, y = data.test[0]  # sorted: neg first
    text = "neg review 0 é".encode()
    assert x[:len(text)].tolist() == [b + 1 for b in text] and torch.all(x[len(text):] == 0) and int(y) == 0
    d = tmp_path / "lra_release" / "tsv_data"
    d.mkdir(parents=True)
    for s in ("train", "eval", "test"):
        with open(d / f"new_aan_pairs.{s}.tsv", "w") as f:
            f.write("1\tp1\tp2\tabc\txy\n0.0\tp3\tp4\tq\trst\n")
    r = build("lra-retrieval", tmp_path, monkeypatch, max_length=5)
    assert r.info.pair
    x, y = r.train[0]
    assert x.shape == (2, 5) and x[0].tolist() == [98, 99, 100, 0, 0] and x[1].tolist() == [121, 122, 0, 0, 0]
    assert int(y) == 1 and int(r.train[1][1]) == 0
    # a two-sequence model run on the pair task through the trainer's adapter
    from spikeDE.train.config import TrainConfig
    from spikeDE.train.registry import get_model
    m = get_model("ssm-seq").build(r.info, TrainConfig(hidden=8), None, resolve_options(
        get_model("ssm-seq").options, {"d_state": 4}, "m"))
    xb = torch.stack([r.train[i][0] for i in range(2)]).transpose(0, 1).float()  # time-first batch [2, B, L]
    assert m(xb).shape == (1, 2, 2)
    (d / "new_aan_pairs.eval.tsv").write_text("1\tonly three\tfields\n")
    with pytest.raises(ConfigError, match="5 tab-separated"):
        build("lra-retrieval", tmp_path, monkeypatch, max_length=5)


def test_lra_image(tmp_path, monkeypatch):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        batches[name] = data
        with open(d / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [0, 1, 2, 3]}, f)
    t = build("lra-image", tmp_path, monkeypatch, val_size=2)
    assert (len(t.train), len(t.val), len(t.test)) == (18, 2, 4) and t.info.steps == 1024
    x, y = t.test[1]
    rgb = batches["test_batch"][1].reshape(3, 1024).astype(float)
    gray = np.clip(np.round(0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]), 0, 255) / 255.0
    assert torch.allclose(x[:, 0], torch.tensor(gray, dtype=F32)) and int(y) == 1


def test_pathfinder_and_pathx(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    from PIL import Image
    for res, task in ((32, "pathfinder"), (128, "pathx")):
        d = tmp_path / "lra_release" / f"pathfinder{res}" / "curv_contour_length_14"
        (d / "imgs" / "0").mkdir(parents=True)
        (d / "metadata").mkdir()
        lines = []
        for i in range(10):
            img = (np.arange(res * res).reshape(res, res) * (i + 1)) % 256
            Image.fromarray(img.astype(np.uint8)).save(d / "imgs" / "0" / f"sample_{i}.png")
            lines.append(f"imgs/0 sample_{i}.png 0 {i % 2} 1 2 3")
        (d / "metadata" / "0.npy").write_text("\n".join(lines) + "\n")
        data = build(task, tmp_path, monkeypatch)
        assert data.info.steps == res * res and data.info.n_classes == 2
        assert len(data.train) + len(data.val) + len(data.test) == 10
        x, y = data.train[0]
        assert x.shape == (res * res, 1) and 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ConfigError, match="resolution"):
        build("pathfinder", tmp_path, monkeypatch, resolution=48)


def _wav(path, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def test_speech_commands_35_10_raw_and_downsampled(tmp_path, monkeypatch):
    root = tmp_path / "speech_commands_v0.02"
    words = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "cat"]
    for w in words:
        (root / w).mkdir(parents=True)
        for k in range(3):
            _wav(root / w / f"spk{k}_nohash_0.wav", np.full(8000, 1000 * (k + 1)))
    (root / "validation_list.txt").write_text("\n".join(f"{w}/spk1_nohash_0.wav" for w in words))
    (root / "testing_list.txt").write_text("\n".join(f"{w}/spk2_nohash_0.wav" for w in words))
    raw = build("speech-commands", tmp_path, monkeypatch)
    assert raw.info.n_classes == 11 and raw.info.steps == 16000 and len(raw.test) == 11
    x, y = raw.test[0]  # first word in sorted order: 'cat'
    assert x.shape == (16000, 1) and float(x[0, 0]) == pytest.approx(3000 / 32768) and float(x[-1, 0]) == 0.0
    sc10 = build("speech-commands", tmp_path, monkeypatch, subset="sc10", downsample=4)
    assert sc10.info.n_classes == 10 and sc10.info.steps == 4000 and sc10.train[0][0].shape == (4000, 1)
    with pytest.raises(ConfigError, match="downsample"):
        build("speech-commands", tmp_path, monkeypatch, downsample=3)
    with pytest.raises(ConfigError, match="testing_list.txt"):
        build("speech-commands", tmp_path / "none", monkeypatch)
