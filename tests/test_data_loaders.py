"""Dataset loaders, on miniature files written here in each dataset's standard format."""
import gzip
import pickle
import struct
import wave

import numpy as np
import pytest
import torch

from spikeDE.data.lra import LISTOPS_VOCAB, aan_retrieval, cifar_image, imdb_text, listops, pathfinder
from spikeDE.data.smnist import read_idx, sequential_mnist
from spikeDE.data.speech_commands import speech_commands


# --------------------------------------------------------------------------------------------- writers
def write_idx(path, array, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    head = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist(folder, n_train=30, n_test=12, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        out[prefix] = (images, labels)
    return out


def write_wav(path, samples_int16):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(samples_int16, dtype="<i2").tobytes())


# --------------------------------------------------------------------------------------------- sMNIST
def test_smnist_reads_idx_in_raster_order_with_train_val_test(tmp_path):
    data = write_mnist(tmp_path / "MNIST" / "raw")
    train = sequential_mnist("train", root=tmp_path, val_size=6)
    val = sequential_mnist("val", root=tmp_path, val_size=6)
    test = sequential_mnist("test", root=tmp_path)
    assert (len(train), len(val), len(test)) == (24, 6, 12)
    x, y = test[3]
    assert x.shape == (784, 1) and x.dtype == torch.float32
    img, lab = data["t10k"][0][3], data["t10k"][1][3]
    assert int(y) == lab
    for r, c in [(0, 0), (5, 17), (27, 27)]:
        assert x[r * 28 + c, 0].item() == pytest.approx(img[r, c] / 255.0)
    # train and val partition the training file; no test image leaks in
    rows = {tuple(train.pixels[i].tolist()) for i in range(len(train))} | {tuple(val.pixels[i].tolist()) for i in range(len(val))}
    assert rows == {tuple(im.reshape(-1).tolist()) for im in data["train"][0]}


def test_psmnist_uses_one_fixed_permutation(tmp_path):
    write_mnist(tmp_path / "mnist", gz=False)
    plain = sequential_mnist("test", root=tmp_path)
    perm = sequential_mnist("test", root=tmp_path, permuted=True, perm_seed=7)
    order = np.random.default_rng(7).permutation(784)
    for i in (0, 5):
        torch.testing.assert_close(perm[i][0], plain[i][0][order])
    assert not torch.equal(perm[0][0], plain[0][0])


def test_read_idx_checks_the_header(tmp_path):
    a = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="10"):
        read_idx(tmp_path / "short.idx")


# --------------------------------------------------------------------------------------------- LRA
def test_listops_tokenises_with_the_fixed_vocabulary(tmp_path):
    d = tmp_path / "lra_release" / "listops-1000"
    d.mkdir(parents=True)
    rows = [("( ( [MAX 2 9 ) 4 ] )", 9), ("[SM 3 ( [MIN 1 ] ) ]", 4), ("[MED 7 ]", 7)]
    for split in ("train", "val", "test"):
        with open(d / f"basic_{split}.tsv", "w") as f:
            f.write("Source\tTarget\n")
            for src, tgt in rows:
                f.write(f"{src}\t{tgt}\n")
    ds = listops("val", root=tmp_path, max_length=8)
    x, y = ds[0]
    V = LISTOPS_VOCAB
    assert x.tolist() == [V["[MAX"], V["2"], V["9"], V["4"], V["]"], 0, 0, 0] and int(y) == 9
    assert ds.lengths.tolist() == [5, 6, 3] and ds.n_truncated == 0
    assert len(set(V.values())) == 15 and min(V.values()) == 1
    assert listops("train", root=tmp_path, max_length=4).n_truncated == 2
    with open(d / "basic_test.tsv", "a") as f:
        f.write("[AVG 1 ]\t1\n")
    with pytest.raises(ValueError, match=r"line 5: unknown ListOps token '\[AVG'"):
        listops("test", root=tmp_path)


def test_imdb_bytes_and_val_carved_from_train(tmp_path):
    texts = {}
    for part in ("train", "test"):
        for label, sub in enumerate(("neg", "pos")):
            folder = tmp_path / "aclImdb" / part / sub
            folder.mkdir(parents=True)
            for k in range(5):
                t = f"{part} {sub} review {k} café"
                (folder / f"{k}_{k + 1}.txt").write_text(t, encoding="utf-8")
                texts[t] = label
    train = imdb_text("train", root=tmp_path, max_length=64, val_fraction=0.2)
    val = imdb_text("val", root=tmp_path, max_length=64, val_fraction=0.2)
    test = imdb_text("test", root=tmp_path, max_length=64)
    assert (len(train), len(val), len(test)) == (8, 2, 10)

    def decode(tokens, n):
        return bytes((tokens[:n] - 1).tolist()).decode("utf-8")

    for ds, part in ((train, "train"), (val, "train"), (test, "test")):
        for i in range(len(ds)):
            x, y = ds[i]
            t = decode(x, int(ds.lengths[i]))
            assert t.startswith(part) and texts[t] == int(y)
            assert bool((x[int(ds.lengths[i]):] == 0).all())


def write_cifar(folder, n_per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data}, f, protocol=2)
        out[name] = (data, labels)
    return out


def test_cifar_image_grayscale_sequences(tmp_path):
    data = write_cifar(tmp_path / "cifar-10-batches-py")
    test = cifar_image("test", root=tmp_path)
    x, y = test[2]
    raw, labels = data["test_batch"]
    assert x.shape == (1024, 1) and int(y) == labels[2]
    for pix in (0, 33, 1023):  # R, G, B planes of 1024 values each
        gray = round(0.2989 * raw[2, pix] + 0.5870 * raw[2, 1024 + pix] + 0.1140 * raw[2, 2048 + pix])
        assert x[pix, 0].item() == pytest.approx(gray / 255.0)
        assert cifar_image("test", root=tmp_path, tokens=True)[2][0][pix].item() == gray
    train = cifar_image("train", root=tmp_path, val_size=3)
    val = cifar_image("val", root=tmp_path, val_size=3)
    assert (len(train), len(val)) == (17, 3)


def test_cifar_refuses_pickles_with_other_objects(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": print}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        cifar_image("test", root=tmp_path)


def test_pathfinder_metadata_images_and_split(tmp_path):
    from PIL import Image
    d = tmp_path / "lra_release" / "pathfinder32" / "curv_contour_length_14"
    (d / "metadata").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, lines = {}, []
    for k in range(20):
        sub = d / "imgs" / str(k % 2)
        sub.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 256, size=(32, 32), dtype=np.uint8)
        Image.fromarray(img, mode="L").save(sub / f"sample_{k}.png")
        images[f"sample_{k}.png"] = (img, k % 3 == 0)
        lines.append(f"imgs/{k % 2} sample_{k}.png 0 {int(k % 3 == 0)} 1.0 6 2")
    (d / "imgs" / "0" / "sample_99.png").write_bytes(b"")  # the release has one empty file
    lines.append("imgs/0 sample_99.png 0 1 1.0 6 2")
    (d / "metadata" / "0.npy").write_text("\n".join(lines[:11]) + "\n")
    (d / "metadata" / "1.npy").write_text("\n".join(lines[11:]) + "\n")
    parts = {s: pathfinder(s, root=tmp_path) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    assert parts["train"].n_skipped == 1
    assert len({p.name for ds in parts.values() for p in ds.paths}) == 20
    x, y = parts["val"][1]
    img, label = images[parts["val"].paths[1].name]
    assert x.shape == (1024, 1) and int(y) == label
    torch.testing.assert_close(x[:, 0], torch.from_numpy(img.reshape(-1)).float() / 255.0)


def test_aan_pairs(tmp_path):
    d = tmp_path / "lra_release" / "lra_release" / "tsv_data"
    d.mkdir(parents=True)
    for split in ("train", "eval", "test"):
        with open(d / f"new_aan_pairs.{split}.tsv", "w") as f:
            f.write(f"1.0\tP1\tP2\t{split} paper one\tpaper two\n0.0\tP3\tP4\tabc\tdefgh\n")
    ds = aan_retrieval("val", root=tmp_path, max_length=6)
    x, y = ds[0]
    assert x.shape == (2, 6) and int(y) == 1
    assert bytes((x[0] - 1).tolist()) == b"eval p" and ds.n_truncated == 2
    x1, y1 = ds[1]
    assert bytes((x1[1, :5] - 1).tolist()) == b"defgh" and x1[1, 5] == 0 and int(y1) == 0
    with open(d / "new_aan_pairs.test.tsv", "a") as f:
        f.write("1.0\tonly\tthree\n")
    with pytest.raises(ValueError, match="line 3: expected 5 tab-separated fields"):
        aan_retrieval("test", root=tmp_path)


# --------------------------------------------------------------------------------------------- Speech Commands
def test_speech_commands_lists_padding_and_subsets(tmp_path):
    d = tmp_path / "SpeechCommands" / "speech_commands_v0.02"
    rng = np.random.default_rng(0)
    words = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zebra"]
    clips = {}
    for w in words + ["_background_noise_"]:
        (d / w).mkdir(parents=True)
        for k in range(3):
            n = 16000 if k == 0 else 12000
            s = rng.integers(-32768, 32767, size=n)
            write_wav(d / w / f"spk{k}_nohash_0.wav", s)
            clips[f"{w}/spk{k}_nohash_0.wav"] = s
    (d / "validation_list.txt").write_text("\n".join(f"{w}/spk1_nohash_0.wav" for w in words) + "\n")
    (d / "testing_list.txt").write_text("\n".join(f"{w}/spk2_nohash_0.wav" for w in words) + "\n")
    sc35 = {s: speech_commands(s, root=tmp_path) for s in ("train", "val", "test")}
    assert [len(sc35[s]) for s in ("train", "val", "test")] == [11, 11, 11]
    assert sc35["train"].classes == tuple(sorted(words))
    x, y = sc35["test"][0]  # 'down' first in sorted order
    assert x.shape == (16000, 1) and sc35["test"].classes[int(y)] == "down"
    ref = clips["down/spk2_nohash_0.wav"] / 32768.0
    torch.testing.assert_close(x[:12000, 0].double(), torch.from_numpy(ref), rtol=0, atol=1e-7)
    assert bool((x[12000:] == 0).all())
    sc10 = speech_commands("val", root=tmp_path, subset="sc10", downsample=4)
    assert len(sc10) == 10 and sc10.classes[0] == "yes"
    x, y = sc10[0]
    ref = np.pad(clips["yes/spk1_nohash_0.wav"] / 32768.0, (0, 4000)).reshape(-1, 4).mean(1)
    assert x.shape == (4000, 1) and int(y) == 0
    torch.testing.assert_close(x[:, 0].double(), torch.from_numpy(ref), rtol=0, atol=1e-7)
    write_wav(d / "go" / "long_nohash_0.wav", np.zeros(16001))
    ds = speech_commands("train", root=tmp_path)
    with pytest.raises(ValueError, match="more than one second"):
        ds[[p.name for p in ds.paths].index("long_nohash_0.wav")]


# --------------------------------------------------------------------------------------------- absent files
@pytest.mark.parametrize("load,expect", [
    (lambda r: sequential_mnist("train", root=r), r"sMNIST: data files not found.*train-images-idx3-ubyte"),
    (lambda r: listops("train", root=r), r"LRA ListOps.*basic_train.tsv.*long-range-arena"),
    (lambda r: imdb_text("train", root=r), r"IMDB.*aclImdb"),
    (lambda r: cifar_image("train", root=r), r"CIFAR.*data_batch_1"),
    (lambda r: pathfinder("train", root=r), r"Pathfinder.*pathfinder32/curv_contour_length_14"),
    (lambda r: aan_retrieval("train", root=r), r"AAN.*new_aan_pairs.train.tsv"),
    (lambda r: speech_commands("train", root=r), r"Speech Commands.*testing_list.txt.*speech_commands_v0.02"),
])
def test_absent_files_say_where_to_put_them(tmp_path, load, expect):
    with pytest.raises(FileNotFoundError, match=expect) as e:
        load(tmp_path)
    assert str(tmp_path) in str(e.value) and "never downloads" in str(e.value)


def test_default_data_folder_from_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "MNIST" / "raw", n_train=8, n_test=4)
    monkeypatch.setenv("SPIKEDE_DATA", str(tmp_path))
    assert len(sequential_mnist("test")) == 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        sequential_mnist("validation")
    with pytest.raises(ValueError, match="subset"):
        speech_commands("train", subset="sc12")
    with pytest.raises(ValueError, match="resolution"):
        pathfinder("train", resolution=48)
