import os

import pytest
import torch

from spikeDE.train import checkpoint as ckpt
from spikeDE.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _state(v):
    return {"model": {"w": torch.full((3,), float(v))}, "epoch": v, "history": [{"loss": 0.5}]}


def test_round_trip(tmp_path):
    p = save_checkpoint(_state(2), tmp_path / "sub" / "c.pt")
    s = load_checkpoint(p)
    assert s["epoch"] == 2 and torch.equal(s["model"]["w"], torch.full((3,), 2.0))
    assert os.listdir(tmp_path / "sub") == ["c.pt"]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(_state(1), path)

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # interrupted while writing

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_state(2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.pt"]          # no temporary file left behind


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)
    good = save_checkpoint(_state(1), tmp_path / "good.pt")
    data = open(good, "rb").read()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "garbage.pt").write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "garbage.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a spikeDE checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"format": "spikede-checkpoint", "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "future.pt")
