r"""Graphs for node classification: the Planetoid citation graphs, Amazon co-purchase graphs, ogbn-arxiv (when its
files are present) and an embedded contextual stochastic block model (``csbm``, no file).

Every loader returns a :class:`GraphData`: node features ``x [N, F]``, labels ``y [N]`` (``-1``: no label),
an undirected ``edge_index [2, E]`` holding both directions of every edge (no self loops, no duplicates) and,
where the dataset defines one, the public split's masks. :func:`split_masks` draws the ``public``, ``random``
(20 labels per class, 500 validation and 1000 test nodes) and ``ratio`` (stratified 0.7 / 0.2 / 0.1) splits.

**Planetoid** (Cora, Citeseer, Pubmed; Yang, Cohen and Salakhutdinov 2016): the raw files
``ind.<name>.{x, y, tx, ty, allx, ally, graph, test.index}`` in ``<root>/planetoid/``, ``<root>/`` or
torch_geometric's ``<root>/<Name>/raw/`` (``root``: the argument, else ``$SPIKEDE_DATA``). ``x, tx, allx`` are
scipy CSR matrices, ``y, ty, ally`` one-hot numpy arrays and ``graph`` a ``defaultdict`` of adjacency lists,
pickled by Python 2. They are read by a restricted unpickler that resolves only the names these files hold
(numpy's array reconstruction, numpy ``ndarray``/``dtype``, scipy's ``csr_matrix`` - replaced by a plain
container, so scipy is not needed - ``collections.defaultdict`` and ``list``); any other global (a crafted
file calling ``os.system``, ``eval`` ...) is refused before anything runs. Node order follows the standard
readers: ``allx`` rows first, then the test rows at the positions given by ``test.index``. Citeseer's test
range has 15 indices with no test row (isolated nodes): as the standard readers do, these nodes get zero
feature rows; their label is ``-1`` here (the standard readers give them class 0 by taking the argmax of a zero
row), so they are in no split.

**Amazon** Photo / Computers (Shchur et al. 2018): ``amazon_electronics_{photo,computers}.npz`` (CSR arrays
``adj_*``, ``attr_*``, ``labels``) in ``<root>/amazon/``, ``<root>/`` or ``<root>/<Photo|Computers>/raw/``.

**ogbn-arxiv** (optional): the OGB folder ``<root>/ogbn_arxiv/`` with ``raw/{edge,node-feat,node-label}.csv.gz``
and ``split/time/{train,valid,test}.csv.gz`` (the public split).

spikeDE never downloads: a missing file raises a ``FileNotFoundError`` that lists the expected files, the
folders searched and where to get them.
"""
from __future__ import annotations

import gzip
import io
import math
import pickle
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ._files import data_root, missing

__all__ = ["GraphData", "load_planetoid", "load_amazon", "load_ogbn_arxiv", "csbm", "split_masks", "load_graph",
           "read_planetoid_pickle", "PLANETOID_NAMES", "AMAZON_NAMES", "SPLITS"]

PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
AMAZON_NAMES = {"photo": "Photo", "computers": "Computers"}
SPLITS = ("public", "random", "ratio")
_PLANETOID_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
_PLANETOID_SOURCE = ("the Planetoid repository (github.com/kimiyoung/planetoid, folder data/) or any copy of "
                     "its ind.<name>.* files")
_AMAZON_SOURCE = "github.com/shchur/gnn-benchmark (folder data/npz/)"
_ARXIV_SOURCE = "ogb.stanford.edu (ogbn-arxiv; the extracted arxiv.zip)"


@dataclass
class GraphData:
    """A node-classification graph.

    ``x [N, F]`` features; ``y [N]`` labels in ``0 .. n_classes - 1`` (``-1``: unlabelled, in no split);
    ``edge_index [2, E]`` both directions of every undirected edge, no self loops, no duplicates;
    ``masks``: the dataset's public split (``{"train", "val", "test"}`` boolean ``[N]``) or empty.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    edge_index: torch.Tensor
    n_classes: int
    masks: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_edges(self) -> int:
        """Undirected edges (half of ``edge_index``'s columns)."""
        return int(self.edge_index.shape[1]) // 2

    def __repr__(self) -> str:
        return (f"GraphData({self.name!r}, nodes={self.n_nodes}, edges={self.n_edges}, features={self.x.shape[1]}, "
                f"classes={self.n_classes})")


# ------------------------------------------------------------------------------------------- checks
def _finish(name, x, y, edges, n_classes, masks=None, dtype=torch.float32) -> GraphData:
    """Validate and package: finite features, labels in range, edges inside ``[0, N)``; symmetrise and dedupe."""
    x = np.asarray(x)
    n = x.shape[0]
    if x.ndim != 2:
        raise ValueError(f"{name}: features must be a matrix [N, F], got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f"{name}: features hold {int(bad.sum())} NaN/inf values (rows {rows[:5].tolist()}"
                         f"{' ...' if len(rows) > 5 else ''}); clean the file or pass finite features")
    y = np.asarray(y, dtype=np.int64)
    if y.shape != (n,):
        raise ValueError(f"{name}: {y.shape} labels for {n} nodes")
    if ((y < -1) | (y >= n_classes)).any():
        raise ValueError(f"{name}: labels must be in [0, {n_classes}) (or -1 for unlabelled), got values in "
                         f"[{int(y.min())}, {int(y.max())}]")
    edges = np.asarray(edges, dtype=np.int64).reshape(2, -1)
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        out = edges[:, (edges.min(0) < 0) | (edges.max(0) >= n)]
        raise ValueError(f"{name}: {out.shape[1]} edge(s) point outside the {n} nodes, e.g. {out[:, 0].tolist()}; "
                         f"node ids must be in [0, {n})")
    edges = undirected(edges, n)
    return GraphData(name, torch.as_tensor(x, dtype=dtype), torch.as_tensor(y), torch.as_tensor(edges), int(n_classes),
                     {k: torch.as_tensor(v, dtype=torch.bool) for k, v in (masks or {}).items()})


def undirected(edges: np.ndarray, n: int) -> np.ndarray:
    """Both directions of every edge of ``edges [2, E]``, self loops removed, duplicates merged, sorted."""
    src, dst = edges
    keep = src != dst
    src, dst = np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])
    key = np.unique(src * n + dst)
    return np.stack([key // n, key % n])


# ------------------------------------------------------------------------------------ restricted pickle
class _CSRState:
    """Stand-in for a pickled ``scipy.sparse.csr_matrix``: keeps its state (``data, indices, indptr, _shape``)."""

    def __setstate__(self, state):
        self.state = state

    def toarray(self, where: str) -> np.ndarray:
        s = self.state
        try:
            data, indices, indptr = (np.asarray(s[k]) for k in ("data", "indices", "indptr"))
            rows, cols = (int(v) for v in s["_shape"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: not a CSR matrix (state keys {sorted(s) if isinstance(s, dict) else s!r})") from e
        if s.get("format", "csr") != "csr" or len(indptr) != rows + 1 or indptr[-1] != len(data) or len(data) != len(indices):
            raise ValueError(f"{where}: inconsistent CSR matrix (shape {(rows, cols)}, {len(indptr)} row pointers, "
                             f"{len(data)} values)")
        if len(indices) and (indices.min() < 0 or indices.max() >= cols):
            raise ValueError(f"{where}: CSR column index out of range [0, {cols})")
        out = np.zeros((rows, cols), dtype=np.float64)
        row = np.repeat(np.arange(rows), np.diff(indptr))
        np.add.at(out, (row, indices), data)
        return out


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("scipy.sparse.csr", "csr_matrix"): lambda: _CSRState,
    ("scipy.sparse._csr", "csr_matrix"): lambda: _CSRState,
    ("scipy.sparse", "csr_matrix"): lambda: _CSRState,
    ("collections", "defaultdict"): lambda: defaultdict,
    ("builtins", "list"): lambda: list,
    ("__builtin__", "list"): lambda: list,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Resolves only the globals of the Planetoid files (:data:`_ALLOWED`); anything else is refused."""

    def find_class(self, module, name):
        make = _ALLOWED.get((module, name))
        if make is None:
            allowed = ", ".join(sorted({f"{m}.{n}" for m, n in _ALLOWED}))
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which a Planetoid file never holds "
                                         f"(allowed: {allowed})")
        return make()


def read_planetoid_pickle(path):
    """One Planetoid pickle (Python 2, ``encoding='latin1'``) through the restricted unpickler; a CSR matrix comes
    back as a dense float64 array. A file referring to any other global raises ``ValueError`` unexecuted."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        obj = _PlanetoidUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: refused: the pickle {e}; it is not a Planetoid file") from e
    except (EOFError, AttributeError, TypeError, IndexError, KeyError) as e:
        raise ValueError(f"{path}: not a readable Planetoid pickle ({type(e).__name__}: {e})") from e
    if isinstance(obj, _CSRState):
        return obj.toarray(str(path))
    return obj


# ------------------------------------------------------------------------------------------- Planetoid
def _planetoid_dir(name: str, root):
    base = data_root(root)
    pretty = PLANETOID_NAMES[name]
    cands = [base / "planetoid", base, base / pretty / "raw", base / name / "raw", base / "planetoid" / pretty / "raw"]
    files = [f"ind.{name}.{s}" for s in _PLANETOID_SUFFIXES]
    for c in cands:
        if all((c / f).is_file() for f in files):
            return c
    partial = [c for c in cands if any((c / f).is_file() for f in files)]
    if partial:
        c = partial[0]
        absent = [f for f in files if not (c / f).is_file()]
        raise FileNotFoundError(f"{pretty}: {c} holds some Planetoid files but lacks {', '.join(absent)}. Get them "
                                f"from {_PLANETOID_SOURCE}. spikeDE never downloads datasets.")
    raise missing(pretty, cands, files, _PLANETOID_SOURCE)


def load_planetoid(name: str, root=None, dtype=torch.float32) -> GraphData:
    """Cora / Citeseer / Pubmed from the raw Planetoid files, with the public split (see the module docstring):
    train = the first ``len(y)`` nodes (20 per class), val = the next 500 (of the ``allx`` rows), test = the nodes of ``test.index``."""
    key = str(name).lower()
    if key not in PLANETOID_NAMES:
        raise ValueError(f"name must be one of {', '.join(PLANETOID_NAMES)}, got {name!r}")
    folder = _planetoid_dir(key, root)
    obj = {s: read_planetoid_pickle(folder / f"ind.{key}.{s}") for s in _PLANETOID_SUFFIXES if s != "test.index"}
    text = (folder / f"ind.{key}.test.index").read_text().split()
    try:
        test_idx = np.array([int(t) for t in text], dtype=np.int64)
    except ValueError as e:
        raise ValueError(f"{folder / f'ind.{key}.test.index'}: expected one integer per line ({e})") from e
    x, y, tx, ty, allx, ally = (np.asarray(obj[s], dtype=np.float64) for s in ("x", "y", "tx", "ty", "allx", "ally"))
    pretty = PLANETOID_NAMES[key]
    if len(tx) != len(test_idx) or len(ty) != len(tx) or len(ally) != len(allx) or len(y) != len(x):
        raise ValueError(f"{pretty}: inconsistent files: x {x.shape}, y {y.shape}, allx {allx.shape}, ally "
                         f"{ally.shape}, tx {tx.shape}, ty {ty.shape}, {len(test_idx)} test indices")
    if len(test_idx) and test_idx.min() < len(allx):
        raise ValueError(f"{pretty}: test.index holds {int(test_idx.min())}, inside the {len(allx)} allx rows")
    lo, hi = (int(test_idx.min()), int(test_idx.max())) if len(test_idx) else (len(allx), len(allx) - 1)
    span = hi - lo + 1
    # Citeseer: indices of [lo, hi] without a test row are isolated nodes: zero rows (as the standard readers)
    tx_full = np.zeros((span, allx.shape[1]))
    ty_full = np.zeros((span, ally.shape[1]))
    tx_full[test_idx - lo] = tx
    ty_full[test_idx - lo] = ty
    feats = np.vstack([allx, tx_full])
    onehot = np.vstack([ally, ty_full])
    n = len(feats)
    labels = np.where(onehot.sum(1) > 0, onehot.argmax(1), -1)
    graph = obj["graph"]
    if not isinstance(graph, dict):
        raise ValueError(f"{pretty}: ind.{key}.graph must be a dict of adjacency lists, got {type(graph).__name__}")
    src = np.fromiter((int(u) for u, vs in graph.items() for _ in vs), dtype=np.int64)
    dst = np.fromiter((int(v) for vs in graph.values() for v in vs), dtype=np.int64)
    keys = np.fromiter((int(u) for u in graph), dtype=np.int64)
    if len(keys) and (keys.max() >= n or keys.min() < 0):
        raise ValueError(f"{pretty}: the graph names node {int(keys.max())}, but the feature files hold {n} nodes")
    masks = {"train": np.zeros(n, bool), "val": np.zeros(n, bool), "test": np.zeros(n, bool)}
    masks["train"][: len(y)] = True
    masks["val"][len(y): min(len(y) + 500, len(allx))] = True  # never inside the test rows
    masks["test"][test_idx] = True
    return _finish(pretty, feats, labels, np.stack([src, dst]), onehot.shape[1], masks, dtype)


# ---------------------------------------------------------------------------------------------- Amazon
def _csr_dense(d, prefix, where):
    data, indices, indptr, shape = (d[f"{prefix}_{k}"] for k in ("data", "indices", "indptr", "shape"))
    rows, cols = (int(v) for v in shape)
    state = {"data": data, "indices": indices, "indptr": indptr, "_shape": (rows, cols)}
    c = _CSRState()
    c.__setstate__(state)
    return c.toarray(where)


def load_amazon(name: str, root=None, dtype=torch.float32) -> GraphData:
    """Amazon Photo / Computers from ``amazon_electronics_<name>.npz`` (no public split: use ``random`` or
    ``ratio``)."""
    key = str(name).lower()
    if key not in AMAZON_NAMES:
        raise ValueError(f"name must be one of {', '.join(AMAZON_NAMES)}, got {name!r}")
    base = data_root(root)
    fname = f"amazon_electronics_{key}.npz"
    cands = [base / "amazon", base, base / AMAZON_NAMES[key] / "raw", base / key / "raw"]
    path = next((c / fname for c in cands if (c / fname).is_file()), None)
    if path is None:
        raise missing(f"Amazon {AMAZON_NAMES[key]}", cands, [fname], _AMAZON_SOURCE)
    with np.load(path, allow_pickle=False) as d:
        need = [f"{p}_{k}" for p in ("adj", "attr") for k in ("data", "indices", "indptr", "shape")] + ["labels"]
        absent = [k for k in need if k not in d.files]
        if absent:
            raise ValueError(f"{path}: missing arrays {', '.join(absent)} (holds {', '.join(d.files)})")
        x = _csr_dense(d, "attr", str(path))
        a_indptr, a_indices = d["adj_indptr"], d["adj_indices"]
        n_adj = int(d["adj_shape"][0])
        labels = np.asarray(d["labels"], dtype=np.int64)
    src = np.repeat(np.arange(n_adj), np.diff(a_indptr))
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    return _finish(f"Amazon {AMAZON_NAMES[key]}", x, labels, np.stack([src, a_indices.astype(np.int64)]), n_classes,
                   None, dtype)


# ------------------------------------------------------------------------------------------ ogbn-arxiv
def _read_csv_gz(path, dtype):
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)


def load_ogbn_arxiv(root=None, dtype=torch.float32) -> GraphData:
    """ogbn-arxiv from the extracted OGB folder (``ogbn_arxiv/raw/*.csv.gz``, ``split/time/*.csv.gz``), with
    its public (time) split. Citations are read as undirected edges (as is usual for node classification)."""
    base = data_root(root)
    cands = [base / "ogbn_arxiv", base / "arxiv", base]
    files = ["raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node-label.csv.gz", "split/time/train.csv.gz",
             "split/time/valid.csv.gz", "split/time/test.csv.gz"]
    folder = next((c for c in cands if all((c / f).is_file() for f in files)), None)
    if folder is None:
        raise missing("ogbn-arxiv", cands, files, _ARXIV_SOURCE)
    edges = _read_csv_gz(folder / "raw/edge.csv.gz", np.int64).T
    x = _read_csv_gz(folder / "raw/node-feat.csv.gz", np.float32)
    y = _read_csv_gz(folder / "raw/node-label.csv.gz", np.int64)[:, 0]
    n = len(x)
    masks = {}
    for key, f in (("train", "train"), ("val", "valid"), ("test", "test")):
        idx = _read_csv_gz(folder / f"split/time/{f}.csv.gz", np.int64)[:, 0]
        m = np.zeros(n, bool)
        m[idx] = True
        masks[key] = m
    return _finish("ogbn-arxiv", x, y, edges, int(y.max()) + 1, masks, dtype)


# ------------------------------------------------------------------------------------------------ CSBM
def csbm(n_nodes: int = 1000, n_classes: int = 4, n_features: int = 32, *, avg_degree: float = 10.0,
         homophily: float = 0.8, p_in: float | None = None, p_out: float | None = None, snr: float = 1.0,
         seed: int = 0, dtype=torch.float32) -> GraphData:
    r"""A contextual stochastic block model (seeded, any size).

    Labels: node ``i`` has class ``i mod k`` (classes of equal size up to one node), then nodes are shuffled.
    Edges: each pair of nodes of the same class is joined with probability ``p_in``, of different classes with
    ``p_out`` (both directions stored). Unless given, ``p_in`` and ``p_out`` follow from the expected degree
    ``avg_degree`` and the expected fraction ``homophily`` of edges inside a class:
    ``p_in (N/k - 1) = h d``, ``p_out N (k-1)/k = (1 - h) d``. The number of edges of each block is drawn
    exactly (binomial), their endpoints uniformly inside the block; the rare repeated pair is merged, so a sparse
    block keeps its expected size to ``O(d^2/N)``.
    Features: ``x_i = snr * u_{y_i} + g_i`` with ``g_i ~ N(0, I_F)`` and ``u_c`` random unit vectors, so class
    means are about ``snr * sqrt(2)`` apart against unit noise per direction (``snr = 0``: features carry no
    label information, only the graph does).
    """
    for name, v, lo in (("n_nodes", n_nodes, 2), ("n_classes", n_classes, 2), ("n_features", n_features, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"csbm: {name} must be an integer >= {lo}, got {v!r}")
    if n_classes > n_nodes:
        raise ValueError(f"csbm: n_classes={n_classes} does not fit n_nodes={n_nodes} (need n_classes <= n_nodes)")
    if not (math.isfinite(snr) and snr >= 0):
        raise ValueError(f"csbm: snr must be a finite number >= 0, got {snr!r}")
    n, k = int(n_nodes), int(n_classes)
    if p_in is None or p_out is None:
        if not (avg_degree >= 0 and math.isfinite(avg_degree)):
            raise ValueError(f"csbm: avg_degree must be >= 0, got {avg_degree!r}")
        if not 0.0 <= homophily <= 1.0:
            raise ValueError(f"csbm: homophily must be in [0, 1], got {homophily!r}")
        size = n / k
        p_in = homophily * avg_degree / max(size - 1, 1e-12) if p_in is None else p_in
        p_out = (1 - homophily) * avg_degree / (n * (k - 1) / k) if p_out is None else p_out
    for name, p in (("p_in", p_in), ("p_out", p_out)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"csbm: {name} must be a probability in [0, 1], got {p!r} (lower avg_degree)")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % k)
    members = [np.nonzero(y == c)[0] for c in range(k)]
    src, dst = [], []
    for a in range(k):
        for b in range(a, k):
            na, nb = len(members[a]), len(members[b])
            pairs = na * (na - 1) // 2 if a == b else na * nb
            m = rng.binomial(pairs, p_in if a == b else p_out) if pairs else 0
            if m == 0:
                continue
            u = members[a][rng.integers(0, na, m)]
            v = members[b][rng.integers(0, nb, m)]
            src.append(u)
            dst.append(v)
    edges = np.stack([np.concatenate(src), np.concatenate(dst)]) if src else np.zeros((2, 0), np.int64)
    u = rng.standard_normal((k, n_features))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    x = snr * u[y] + rng.standard_normal((n, n_features))
    return _finish("csbm", x.astype(np.float32), y, edges, k, None, dtype)


# ---------------------------------------------------------------------------------------------- splits
def split_masks(y, split: str = "public", *, seed: int = 0, public: dict | None = None, per_class: int = 20,
                n_val: int = 500, n_test: int = 1000, ratios=(0.7, 0.2, 0.1)) -> dict:
    """Boolean masks ``{"train", "val", "test"}`` over the nodes, pairwise disjoint, only labelled nodes.

    * ``public``: the dataset's own masks (``public``; an error if it has none).
    * ``random``: ``per_class`` training nodes of every class, then ``n_val`` and ``n_test`` nodes drawn from the
      remaining labelled nodes (seeded).
    * ``ratio``: stratified fractions ``ratios`` (train, val, test; summing to 1) of every class, rounded per
      class (seeded).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    y = torch.as_tensor(y).cpu().numpy().astype(np.int64)
    n = len(y)
    if split == "public":
        if not public:
            raise ValueError("split 'public': this graph has no public split; use split='random' or 'ratio'")
        return {k: torch.as_tensor(public[k], dtype=torch.bool).clone() for k in ("train", "val", "test")}
    rng = np.random.default_rng(seed)
    labelled = np.nonzero(y >= 0)[0]
    classes = np.unique(y[labelled])
    masks = {k: np.zeros(n, bool) for k in ("train", "val", "test")}
    if split == "random":
        for c in classes:
            idx = labelled[y[labelled] == c]
            if len(idx) < per_class:
                raise ValueError(f"split 'random': class {int(c)} has {len(idx)} labelled nodes, fewer than "
                                 f"per_class={per_class}")
            masks["train"][rng.choice(idx, per_class, replace=False)] = True
        rest = rng.permutation(labelled[~masks["train"][labelled]])
        if len(rest) < n_val + n_test:
            raise ValueError(f"split 'random': {len(rest)} labelled nodes are left after the training nodes, fewer "
                             f"than n_val + n_test = {n_val + n_test}")
        masks["val"][rest[:n_val]] = True
        masks["test"][rest[n_val:n_val + n_test]] = True
    else:
        r = np.asarray(ratios, dtype=np.float64)
        if r.shape != (3,) or (r < 0).any() or abs(r.sum() - 1.0) > 1e-9:
            raise ValueError(f"ratios must be three fractions >= 0 summing to 1, got {ratios!r}")
        for c in classes:
            idx = rng.permutation(labelled[y[labelled] == c])
            a = int(round(r[0] * len(idx)))
            b = a + int(round(r[1] * len(idx)))
            masks["train"][idx[:a]] = True
            masks["val"][idx[a:b]] = True
            masks["test"][idx[b:]] = True
        for key in masks:
            if not masks[key].any() and r[("train", "val", "test").index(key)] > 0:
                raise ValueError(f"split 'ratio': the {key} set is empty ({n} nodes, ratios {tuple(r)})")
    return {k: torch.as_tensor(v) for k, v in masks.items()}


def load_graph(name: str, root=None, dtype=torch.float32, **csbm_kwargs) -> GraphData:
    """A graph by name: ``cora``, ``citeseer``, ``pubmed``, ``photo``, ``computers``, ``arxiv`` or ``csbm``."""
    key = str(name).lower()
    if key in PLANETOID_NAMES:
        return load_planetoid(key, root, dtype)
    if key in AMAZON_NAMES:
        return load_amazon(key, root, dtype)
    if key in ("arxiv", "ogbn-arxiv"):
        return load_ogbn_arxiv(root, dtype)
    if key == "csbm":
        return csbm(dtype=dtype, **csbm_kwargs)
    raise ValueError(f"graph name must be one of {', '.join([*PLANETOID_NAMES, *AMAZON_NAMES, 'arxiv', 'csbm'])}, "
                     f"got {name!r}")
