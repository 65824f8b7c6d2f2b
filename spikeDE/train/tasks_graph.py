r"""Graph tasks and models of the ``spikede`` command: transductive node classification.

Tasks ``cora``, ``citeseer``, ``pubmed`` (Planetoid raw files), ``photo``, ``computers`` (Amazon ``.npz``),
``arxiv`` (ogbn-arxiv, when its files are present) and ``csbm`` (embedded contextual SBM, no file). Files are
read from ``root`` (task option) or ``$SPIKEDE_DATA`` (:mod:`spikeDE.data.graphs`).

Nodes are the samples: a sample is a node id (``[1, 1]``, one step) and its label; the datasets hold the nodes of
the split's masks (``--task-arg split=public|random|ratio``, ``split_seed``; ``val_nodes = n > 0`` keeps a seeded
subset of ``n`` validation nodes, which the trainer evaluates after every epoch, to save time). The test set holds every test node
``repeats`` times (default 20), so the reported test accuracy is the mean over ``repeats`` spike re-encodings of
the trained model. The task prepares, once, ``X' = zscore(A_hat^hops X)`` (``A_hat = D^-1/2 (A+I) D^-1/2``,
sparse) and a ``pe``-dimensional Laplacian positional encoding (z-scored, for ``drsgnn``); the models map node
ids to these rows (:class:`spikeDE.models.graph.NodeInput`) and encode them into ``steps`` spike steps.

Models: ``sgcn`` and ``drsgnn`` (spiking, arms ``flif`` and ``lif`` by default) and ``gcn`` (non-spiking
two-layer GCN on the full graph; train it full-batch, ``--batch-size`` >= the training nodes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from ..data.graphs import SPLITS, GraphData, load_graph, split_masks
from ..graph import laplacian_pe, normalized_adjacency, propagate
from ..models.graph import DRSGNN, GCN, SGCN, NodeInput, zscore
from .config import ConfigError
from .models import wrap_spiking
from .registry import TaskData, TaskInfo, get_neuron, register_model, register_task

__all__ = ["PreparedGraph", "prepared_graph", "GRAPH_TASKS"]


@dataclass
class PreparedGraph:
    """What the graph models of the last built graph task need: the feature tables and the adjacency."""

    graph: GraphData
    features: torch.Tensor      # zscore(A_hat^hops X)            [N, F]
    pe: torch.Tensor            # zscore(Laplacian PE)            [N, P]
    adj: torch.Tensor           # sparse A_hat                    [N, N]


_PREPARED: dict[str, PreparedGraph] = {}


def prepared_graph(task_name: str) -> PreparedGraph:
    """The tables of the most recent build of graph task ``task_name`` (a model builder calls this)."""
    if task_name not in _PREPARED:
        raise ConfigError(f"the graph models (sgcn, drsgnn, gcn) need a graph task (cora, citeseer, pubmed, photo, "
                          f"computers, arxiv, csbm); task {task_name!r} is not one")
    return _PREPARED[task_name]


_COMMON = {"split": "public", "split_seed": 0, "hops": 1, "pe": 32, "steps": 100, "repeats": 20, "val_nodes": 0,
           "root": ""}
_DEFAULT_SPLIT = {"photo": "ratio", "computers": "ratio", "csbm": "ratio"}
_CSBM = {"n_nodes": 1000, "n_classes": 4, "n_features": 32, "avg_degree": 10.0, "homophily": 0.8, "snr": 1.0,
         "graph_seed": 0}
GRAPH_TASKS = {"cora": "Cora citation graph (Planetoid files; 2708 nodes, 7 classes)",
               "citeseer": "Citeseer citation graph (Planetoid files; 3327 nodes, 6 classes)",
               "pubmed": "Pubmed citation graph (Planetoid files; 19717 nodes, 3 classes)",
               "photo": "Amazon Photo co-purchase graph (amazon_electronics_photo.npz; 8 classes)",
               "computers": "Amazon Computers co-purchase graph (amazon_electronics_computers.npz; 10 classes)",
               "arxiv": "ogbn-arxiv citation graph (OGB files; 169343 nodes, 40 classes)",
               "csbm": "contextual stochastic block model (embedded, seeded; options n_nodes, n_classes, "
                       "n_features, avg_degree, homophily, snr, graph_seed)"}


def _nodes(mask: torch.Tensor, y: torch.Tensor, repeats: int = 1) -> TensorDataset:
    ids = mask.nonzero().flatten().repeat(repeats)
    return TensorDataset(ids.to(torch.float64).reshape(-1, 1, 1), y[ids].clone())


def _build(name: str, opts: dict, dtype) -> TaskData:
    for key, lo in (("hops", 0), ("pe", 0), ("steps", 1), ("repeats", 1), ("val_nodes", 0)):
        if opts[key] < lo:
            raise ConfigError(f"task {name!r}: option {key} must be >= {lo}, got {opts[key]}")
    if opts["split"] not in SPLITS:
        raise ConfigError(f"task {name!r}: split must be one of {', '.join(SPLITS)}, got {opts['split']!r}")
    kw = {k: opts[k] for k in _CSBM if k in opts}
    if name == "csbm":
        kw["seed"] = kw.pop("graph_seed")
    try:
        g = load_graph(name, root=opts["root"] or None, dtype=torch.float64, **kw)
        masks = split_masks(g.y, opts["split"], seed=opts["split_seed"], public=g.masks)
    except ValueError as e:
        raise ConfigError(f"task {name!r}: {e}") from e
    except FileNotFoundError as e:
        raise ConfigError(str(e)) from e
    adj = normalized_adjacency(g.edge_index, g.n_nodes, dtype=torch.float64)
    feats = zscore(propagate(adj, g.x, opts["hops"]))
    if opts["pe"]:
        try:
            pe = zscore(laplacian_pe(g.edge_index, g.n_nodes, opts["pe"], dtype=torch.float64))
        except (ValueError, ImportError) as e:
            raise ConfigError(f"task {name!r}: {e}") from e
    else:
        pe = torch.zeros(g.n_nodes, 0, dtype=torch.float64)
    _PREPARED[name] = PreparedGraph(g, feats.to(dtype), pe.to(dtype), adj)
    val = masks["val"]
    if 0 < opts["val_nodes"] < int(val.sum()):      # a seeded subset of the validation nodes (monitoring only)
        keep = val.nonzero().flatten()
        keep = keep[torch.randperm(len(keep), generator=torch.Generator().manual_seed(opts["split_seed"]))]
        val = torch.zeros_like(val)
        val[keep[: opts["val_nodes"]]] = True
    test = _nodes(masks["test"], g.y, opts["repeats"])
    counts = torch.bincount(g.y[masks["test"]], minlength=g.n_classes)
    chance = float(counts.max()) / max(int(masks["test"].sum()), 1)
    info = TaskInfo(name, (1,), g.n_classes, opts["steps"], "real", "mean", None, chance)
    return TaskData(info, _nodes(masks["train"], g.y), _nodes(val, g.y), test)


def _register_task(name: str):
    opts = dict(_COMMON, split=_DEFAULT_SPLIT.get(name, "public"))
    if name == "csbm":
        opts.update(_CSBM)

    @register_task(name, description=GRAPH_TASKS[name], options=opts, readouts=("mean",))
    def _task(o, dtype):
        return _build(name, o, dtype)


for _name in GRAPH_TASKS:
    _register_task(_name)


# -------------------------------------------------------------------------------------------------- models
_SPIKING = {"layers": 1, "tau": 2.0, "threshold": 1.0, "learn_tau": False, "scale": 5.0, "gain": 1.0,
            "encoder": "bernoulli", "dt": 1.0}


def _with_step(wrapper, dt: float):
    """The wrapper with time step ``dt`` (the neurons integrate ``tau D^alpha v = -v + I`` on a grid of step ``dt``)."""
    wrapper.dt = float(dt)
    return wrapper


def _spiking(model_cls, info: TaskInfo, cfg, neuron: str, opts: dict, with_pe: bool) -> NodeInput:
    prep = prepared_graph(info.name)
    if opts["layers"] not in (1, 2):
        raise ConfigError(f"option layers must be 1 (Linear -> neuron) or 2 (one hidden spiking layer of --hidden "
                          f"neurons), got {opts['layers']}")
    for key in ("tau", "threshold", "scale", "gain", "dt"):
        if not opts[key] > 0:
            raise ConfigError(f"option {key} must be > 0, got {opts[key]}")
    if with_pe and prep.pe.shape[1] == 0:
        raise ConfigError("model 'drsgnn' needs a positional encoding: task option pe must be >= 1")
    table = torch.cat([prep.features, prep.pe], 1) if with_pe else prep.features
    spec = get_neuron(neuron)

    def make(name):
        return spec.build(cfg, tau=opts["tau"], threshold=opts["threshold"], learn_tau=opts["learn_tau"], name=name)

    try:
        net = model_cls(table.shape[1], info.n_classes, make, hidden=cfg.hidden if opts["layers"] == 2 else 0,
                        steps=info.steps, encoder=opts["encoder"], scale=opts["scale"], gain=opts["gain"],
                        wrap=lambda base: _with_step(wrap_spiking(base, neuron, cfg), opts["dt"]), eval_seed=cfg.seed)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    return NodeInput(net, table)


@register_model("sgcn", description="spiking GCN: A_hat^hops X rate-coded into spikes -> Linear -> neuron, "
                                    "firing-rate readout", neurons=True, default_neurons=("flif", "lif"),
                options=_SPIKING)
def _sgcn(info, cfg, neuron, opts):
    return _spiking(SGCN, info, cfg, neuron, opts, with_pe=False)


@register_model("drsgnn", description="SGCN on [A_hat^hops X, Laplacian PE] with learnable thresholds",
                neurons=True, default_neurons=("flif", "lif"), options=_SPIKING)
def _drsgnn(info, cfg, neuron, opts):
    return _spiking(DRSGNN, info, cfg, neuron, opts, with_pe=True)


@register_model("gcn", description="non-spiking two-layer GCN on the full graph (train full-batch)",
                options={"dropout": 0.5})
def _gcn(info, cfg, neuron, opts):
    prep = prepared_graph(info.name)
    try:
        net = GCN(prep.graph.x.shape[1], cfg.hidden, info.n_classes, dropout=opts["dropout"])
    except ValueError as e:
        raise ConfigError(str(e)) from e
    x = prep.graph.x
    if bool((x >= 0).all()):            # bag-of-words features: row-normalised, as in the GCN paper
        x = x / x.sum(1, keepdim=True).clamp(min=1e-12)
    return NodeInput(net, x.clone(), prep.adj, mode="graph")

