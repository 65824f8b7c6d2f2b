import builtins

import numpy as np
import pytest
import torch

plots = pytest.importorskip("spikeDE.analysis.plots")
pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG


def test_every_plot_renders_a_png(tmp_path):
    hist = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 1 - 1 / (e + 1),
             "val_acc": 0.9 - 1 / (e + 1)} for e in range(1, 6)]
    t = np.linspace(0, 10, 101)
    v = np.cumsum(np.random.default_rng(0).normal(size=(2, 64)), axis=1)
    paths = [
        plots.plot_training_curves({"f-LIF": hist, "LIF": hist[::-1]}, tmp_path / "curves.png"),
        plots.plot_raster({"input": torch.rand(64, 17) < 0.1, "hidden": np.random.rand(64, 30) < 0.2},
                          tmp_path / "raster.png"),
        plots.plot_membrane_traces({"LIF": v[0], "f-LIF": v[1]}, tmp_path / "traces.png", threshold=1.0,
                                   spikes={"LIF": v[0] > 2}, inputs=np.abs(np.sin(np.arange(64) / 5))),
        plots.plot_relaxation(t, {"exp": np.exp(-t), "power": 1 / (1 + t) ** 0.5}, tmp_path / "relax.png"),
        plots.plot_accuracy_vs_delay([4, 16, 64], {"LIF": np.array([[0.9, 0.5, 0.3], [0.8, 0.4, 0.25]]),
                                                   "f-LIF": ([0.9, 0.8, 0.6], [0.02, 0.03, 0.05])},
                                     tmp_path / "sub" / "delay.png", chance=0.25),
        plots.plot_robustness([0, 0.1, 0.2], {"LIF": [0.9, 0.7, 0.5]}, tmp_path / "robust.png", attack="noise"),
    ]
    for p in paths:
        assert _is_png(p)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="points"):
        plots.plot_robustness([0, 1], {"a": [1, 2, 3]}, "unused.png")
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        plots.plot_raster(np.zeros(5), "unused.png")


def test_missing_matplotlib_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'spikede\[plot\]'"):
        plots.plot_robustness([0], {"a": [1]}, "unused.png")
