"""Graph readers on miniature files written here in the real formats; splits; the contextual SBM."""
import os
import pickle
import pickletools
import struct
from collections import defaultdict

import numpy as np
import pytest
import torch

sp = pytest.importorskip("scipy.sparse")

from spikeDE.data.graphs import (csbm, load_amazon, load_graph, load_planetoid, read_planetoid_pickle,  # noqa: E402
                                 split_masks)


# --------------------------------------------------------------------------------------------- writers
class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: byte strings as BINSTRING (Python 3 would call _codecs.encode)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_dumps(obj) -> bytes:
    buf = __import__("io").BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    raw = buf.getvalue()
    # the module names of the original files (scipy < 1.8, numpy < 2)
    raw = raw.replace(b"cscipy.sparse._csr\ncsr_matrix\n", b"cscipy.sparse.csr\ncsr_matrix\n")
    return raw.replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")


def globals_of(raw: bytes) -> set:
    return {arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"}


def write_planetoid(folder, name, feats, labels, n_train, n_val, test_idx, graph):
    """The eight ind.<name>.* files of a graph whose nodes are [allx rows | test rows at test_idx]."""
    folder.mkdir(parents=True, exist_ok=True)
    n_all = min(test_idx)
    k = labels.max() + 1
    onehot = np.eye(k)[labels]
    objs = {"x": sp.csr_matrix(feats[:n_train]), "y": onehot[:n_train],
            "allx": sp.csr_matrix(feats[:n_all]), "ally": onehot[:n_all],
            "tx": sp.csr_matrix(feats[test_idx]), "ty": onehot[test_idx], "graph": graph}
    order = np.random.default_rng(1).permutation(len(test_idx))      # test.index is not sorted in the real files
    objs["tx"], objs["ty"] = sp.csr_matrix(feats[np.asarray(test_idx)[order]]), onehot[np.asarray(test_idx)[order]]
    for key, obj in objs.items():
        (folder / f"ind.{name}.{key}").write_bytes(py2_dumps(obj))
    (folder / f"ind.{name}.test.index").write_text("\n".join(str(int(i)) for i in np.asarray(test_idx)[order]) + "\n")


@pytest.fixture
def tiny(tmp_path):
    """12 labelled nodes + a test range 12..19 with two gaps (Citeseer's isolated nodes) at 15 and 18."""
    rng = np.random.default_rng(0)
    n = 20
    feats = (rng.random((n, 6)) < 0.4).astype(np.float64)
    labels = np.arange(n) % 3
    test_idx = [12, 13, 14, 16, 17, 19]
    graph = defaultdict(list)
    for u, v in [(0, 1), (1, 2), (2, 0), (3, 12), (12, 13), (5, 19), (19, 5), (7, 7), (4, 16)]:
        graph[u].append(v)
    graph[15]  # an isolated node with an (empty) adjacency list
    write_planetoid(tmp_path / "planetoid", "citeseer", feats, labels, 6, 500, test_idx, graph)
    return tmp_path, feats, labels, test_idx


def test_files_are_in_the_real_format(tiny):
    root = tiny[0]
    raw = (root / "planetoid" / "ind.citeseer.x").read_bytes()
    assert raw[:2] == b"\x80\x02"
    assert globals_of(raw) == {"scipy.sparse.csr csr_matrix", "numpy.core.multiarray _reconstruct", "numpy ndarray",
                               "numpy dtype"}
    assert globals_of((root / "planetoid" / "ind.citeseer.graph").read_bytes()) == {"collections defaultdict",
                                                                                    "__builtin__ list"}


def test_planetoid_reader_with_gaps(tiny):
    root, feats, labels, test_idx = tiny
    g = load_planetoid("citeseer", root=root)
    assert g.n_nodes == 20 and g.n_classes == 3 and g.x.dtype == torch.float32
    gaps = [15, 18]
    expect = feats.copy()
    expect[gaps] = 0.0                                  # zero rows for test indices without a test row
    np.testing.assert_array_equal(g.x.numpy(), expect.astype(np.float32))
    expect_y = labels.copy()
    expect_y[gaps] = -1
    np.testing.assert_array_equal(g.y.numpy(), expect_y)
    assert g.masks["train"].nonzero().flatten().tolist() == list(range(6))
    assert g.masks["val"].nonzero().flatten().tolist() == list(range(6, 12))  # up to 500, before the test rows
    assert g.masks["test"].nonzero().flatten().tolist() == test_idx
    edges = {tuple(e) for e in g.edge_index.t().tolist()}
    und = {(0, 1), (1, 2), (0, 2), (3, 12), (12, 13), (5, 19), (4, 16)}
    assert edges == und | {(b, a) for a, b in und}      # symmetric, no self loop (7, 7), no duplicate (5, 19)
    g64 = load_graph("citeseer", root=root, dtype=torch.float64)
    assert g64.x.dtype == torch.float64


def test_torch_geometric_layout_and_env(tiny, tmp_path, monkeypatch):
    root = tiny[0]
    pyg = tmp_path / "pyg" / "CiteSeer" / "raw"
    pyg.mkdir(parents=True)
    for f in (root / "planetoid").iterdir():
        (pyg / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("SPIKEDE_DATA", str(tmp_path / "pyg"))
    g = load_planetoid("citeseer")
    assert g.n_nodes == 20


def test_missing_files_error(tmp_path, tiny):
    with pytest.raises(FileNotFoundError) as e:
        load_planetoid("cora", root=tmp_path / "nowhere")
    msg = str(e.value)
    assert "ind.cora.graph" in msg and "ind.cora.test.index" in msg and "nowhere" in msg and "planetoid" in msg
    os.remove(tiny[0] / "planetoid" / "ind.citeseer.ty")
    with pytest.raises(FileNotFoundError, match="lacks ind.citeseer.ty"):
        load_planetoid("citeseer", root=tiny[0])
    with pytest.raises(ValueError, match="name must be one of"):
        load_planetoid("cornell", root=tmp_path)


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _Evil2:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (eval, (f"open({str(self.path)!r}, 'w').close()",))


@pytest.mark.parametrize("evil", [_Evil, _Evil2])
def test_crafted_pickle_is_refused_unexecuted(tiny, tmp_path, evil):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(evil(marker), protocol=2)
    path = tiny[0] / "planetoid" / "ind.citeseer.graph"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="refused"):
        read_planetoid_pickle(path)
    with pytest.raises(ValueError, match="refused"):
        load_planetoid("citeseer", root=tiny[0])
    assert not marker.exists()
    # a payload hidden inside an allowed container (a list holding the call) is refused as well
    path.write_bytes(pickle.dumps([1, evil(marker)], protocol=2))
    with pytest.raises(ValueError, match="refused"):
        read_planetoid_pickle(path)
    assert not marker.exists()


def test_bad_content(tiny):
    root, feats, labels, test_idx = tiny
    folder = root / "planetoid"
    bad = feats.copy()
    bad[1, 2] = np.nan
    (folder / "ind.citeseer.allx").write_bytes(py2_dumps(sp.csr_matrix(bad[:12])))
    with pytest.raises(ValueError, match="NaN"):
        load_planetoid("citeseer", root=root)
    (folder / "ind.citeseer.allx").write_bytes(py2_dumps(sp.csr_matrix(feats[:12])))
    g = defaultdict(list)
    g[0].append(25)
    (folder / "ind.citeseer.graph").write_bytes(py2_dumps(g))
    with pytest.raises(ValueError, match="outside the 20 nodes"):
        load_planetoid("citeseer", root=root)


def test_amazon_npz(tmp_path):
    rng = np.random.default_rng(0)
    n, f = 15, 5
    adj = sp.random(n, n, density=0.2, format="csr", random_state=1)
    adj.data[:] = 1.0
    attr = sp.csr_matrix((rng.random((n, f)) < 0.3).astype(np.float32))
    labels = rng.integers(0, 3, n)
    (tmp_path / "amazon").mkdir()
    np.savez(tmp_path / "amazon" / "amazon_electronics_photo.npz", adj_data=adj.data, adj_indices=adj.indices,
             adj_indptr=adj.indptr, adj_shape=np.array(adj.shape), attr_data=attr.data, attr_indices=attr.indices,
             attr_indptr=attr.indptr, attr_shape=np.array(attr.shape), labels=labels)
    g = load_amazon("photo", root=tmp_path)
    np.testing.assert_array_equal(g.x.numpy(), attr.toarray())
    np.testing.assert_array_equal(g.y.numpy(), labels)
    a = adj.toarray()
    a = ((a + a.T) > 0) & ~np.eye(n, dtype=bool)
    dense = np.zeros((n, n), bool)
    dense[g.edge_index[0].numpy(), g.edge_index[1].numpy()] = True
    np.testing.assert_array_equal(dense, a)
    with pytest.raises(FileNotFoundError, match="amazon_electronics_computers.npz"):
        load_amazon("computers", root=tmp_path)


@pytest.mark.parametrize("split", ["random", "ratio"])
def test_split_sizes_disjoint_and_seeded(split):
    y = torch.as_tensor(np.r_[np.arange(3000) % 7, [-1] * 10])
    m = split_masks(y, split, seed=3)
    tr, va, te = m["train"], m["val"], m["test"]
    assert not (tr & va).any() and not (tr & te).any() and not (va & te).any()
    assert not (tr | va | te)[y < 0].any()
    if split == "random":
        assert (int(tr.sum()), int(va.sum()), int(te.sum())) == (140, 500, 1000)
        assert torch.bincount(y[tr], minlength=7).tolist() == [20] * 7
    else:
        assert int((tr | va | te).sum()) == 3000
        for c in range(7):
            nc = int((y == c).sum())
            assert int((tr & (y == c)).sum()) == round(0.7 * nc)
            assert int((va & (y == c)).sum()) == round(0.2 * nc)
    again = split_masks(y, split, seed=3)
    other = split_masks(y, split, seed=4)
    assert all(torch.equal(m[k], again[k]) for k in m)
    assert not torch.equal(m["train"], other["train"])


def test_split_errors():
    y = torch.arange(100) % 5
    with pytest.raises(ValueError, match="split must be one of"):
        split_masks(y, "fixed")
    with pytest.raises(ValueError, match="no public split"):
        split_masks(y, "public")
    with pytest.raises(ValueError, match="fewer than per_class"):
        split_masks(y, "random", per_class=30)
    with pytest.raises(ValueError, match="fewer than n_val"):
        split_masks(y, "random")
    with pytest.raises(ValueError, match="ratios"):
        split_masks(y, "ratio", ratios=(0.5, 0.2, 0.2))


def test_csbm_statistics():
    n, k, d, h = 4000, 4, 12.0, 0.75
    g = csbm(n, k, 8, avg_degree=d, homophily=h, snr=2.0, seed=5)
    assert torch.bincount(g.y).tolist() == [n // k] * k
    src, dst = g.edge_index
    deg = g.edge_index.shape[1] / n
    assert abs(deg - d) < 0.05 * d                                  # expected degree
    same = (g.y[src] == g.y[dst]).double().mean().item()
    assert abs(same - h) < 0.03                                     # homophily
    # features: class means ~ snr * unit vectors, unit noise
    means = torch.stack([g.x[g.y == c].mean(0) for c in range(k)])
    assert torch.allclose(means.norm(dim=1), torch.full((k,), 2.0), atol=0.15)
    resid = g.x - means[g.y]
    assert abs(resid.var().item() - 1.0) < 0.05
    g2 = csbm(n, k, 8, avg_degree=d, homophily=h, snr=2.0, seed=5)
    assert torch.equal(g.edge_index, g2.edge_index) and torch.equal(g.x, g2.x)
    with pytest.raises(ValueError, match="n_classes=9 does not fit"):
        csbm(5, 9)
    with pytest.raises(ValueError, match="p_in"):
        csbm(100, 50, avg_degree=50.0)


def test_ogbn_arxiv_files(tmp_path):
    import gzip

    from spikeDE.data.graphs import load_ogbn_arxiv
    rng = np.random.default_rng(0)
    n, f = 12, 4
    root = tmp_path / "ogbn_arxiv"
    (root / "raw").mkdir(parents=True)
    (root / "split" / "time").mkdir(parents=True)
    x = rng.standard_normal((n, f)).astype(np.float32)
    y = rng.integers(0, 3, n)
    edges = np.array([[0, 1], [2, 3], [3, 2], [5, 11]])

    def write(path, arr, fmt):
        with gzip.open(path, "wt") as fh:
            np.savetxt(fh, arr, delimiter=",", fmt=fmt)

    write(root / "raw" / "edge.csv.gz", edges, "%d")
    write(root / "raw" / "node-feat.csv.gz", x, "%.9g")
    write(root / "raw" / "node-label.csv.gz", y[:, None], "%d")
    for name, idx in (("train", range(0, 6)), ("valid", range(6, 9)), ("test", range(9, 12))):
        write(root / "split" / "time" / f"{name}.csv.gz", np.array(list(idx))[:, None], "%d")
    g = load_ogbn_arxiv(root=tmp_path)
    np.testing.assert_allclose(g.x.numpy(), x, rtol=1e-6)
    np.testing.assert_array_equal(g.y.numpy(), y)
    assert g.masks["val"].nonzero().flatten().tolist() == [6, 7, 8]
    assert g.n_edges == 3 and {tuple(e) for e in g.edge_index.t().tolist()} >= {(11, 5), (5, 11)}
    with pytest.raises(FileNotFoundError, match="node-feat.csv.gz"):
        load_ogbn_arxiv(root=tmp_path / "none")
