"""Regression tests of the ``spikede`` command's reliability: --overwrite and --resume never pass an old run
off as a new one, corrupt or crafted checkpoints are refused in one line, user mistakes exit 2 in one line
before anything is written, stale temporary files are cleaned."""
import json
import os
import shutil
import stat

import pytest
import torch

from spikeDE.cli import main
from spikeDE.train import checkpoint as ckpt
from spikeDE.train.checkpoint import load_checkpoint, save_checkpoint
from spikeDE.train.trainer import Trainer

TINY = ["--model", "gru", "--task-arg", "n_train=64", "--task-arg", "n_val=32", "--task-arg", "n_test=40",
        "--delay", "4", "--hidden", "8", "--batch-size", "16", "--epochs", "2", "--device", "cpu", "--no-progress",
        "--threads", "1", "--no-plots"]
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _error(capsys, rc, *needles):
    """The command failed with exit status 2 and its last word on stderr is one line ``spikede: error: ...``
    (no traceback; progress lines of the run may come before it)."""
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith("spikede: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("rel") / "run")
    assert main(["train", *TINY, "--out", out, "--seed", "5"]) == 0
    return out


def _copy(run_dir, tmp_path, name="copy"):
    dst = str(tmp_path / name)
    shutil.copytree(run_dir, dst)
    return dst


# --------------------------------------------------------------------- item 1: overwrite + interrupt + resume
def test_overwrite_interrupt_resume_never_reports_the_old_run(run_dir, tmp_path, monkeypatch, capsys):
    out = _copy(run_dir, tmp_path)
    old_summary = json.load(open(os.path.join(out, "summary.json")))

    def interrupt(self):
        raise KeyboardInterrupt  # Ctrl-C during the first epoch of the new run

    monkeypatch.setattr(Trainer, "_after_step", interrupt)
    rc = main(["train", *TINY, "--out", out, "--overwrite", "--lr", "0.05", "--task-arg", "n_train=96"])
    assert rc == 130
    monkeypatch.undo()
    # what --overwrite replaces is gone before the new run writes anything
    assert not os.path.exists(os.path.join(out, "summary.json"))
    assert not os.path.exists(os.path.join(out, "gru", "checkpoint.pt"))
    capsys.readouterr()
    assert main(["train", "--resume", out]) == 0
    new = json.load(open(os.path.join(out, "summary.json")))
    hist = load_checkpoint(os.path.join(out, "gru", "checkpoint.pt"))["history"]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert load_checkpoint(os.path.join(out, "gru", "checkpoint.pt"))["extra"]["config"]["lr"] == 0.05
    assert new["rows"][0]["train_time_s"] != old_summary["rows"][0]["train_time_s"]


def test_resume_refuses_a_checkpoint_of_another_configuration(run_dir, tmp_path, capsys):
    out = _copy(run_dir, tmp_path)
    path = os.path.join(out, "config.toml")
    text = open(path).read().replace("lr = 0.005", "lr = 0.05").replace("hidden = 8", "hidden = 9")
    open(path, "w").write(text)
    line = _error(capsys, main(["train", "--resume", out]), "gru/checkpoint.pt", "lr", "hidden")
    assert "config.toml" in line


# ---------------------------------------------------------------------------- item 2: corrupt checkpoints
def _flip_weight_bytes(path):
    """Overwrite 400 bytes of the largest stored tensor in place (its values become ~1e38, still finite)."""
    state = load_checkpoint(path)
    name, w = max(state["model"].items(), key=lambda kv: kv[1].numel())
    raw = w.contiguous().numpy().tobytes()
    data = bytearray(open(path, "rb").read())
    at = data.find(raw[:64])
    assert at >= 0
    data[at:at + 400] = b"\x7e" * 400
    open(path, "wb").write(bytes(data))
    return name


def test_flipped_tensor_bytes_are_detected(run_dir, tmp_path, capsys):
    out = _copy(run_dir, tmp_path)
    ck = os.path.join(out, "gru", "checkpoint.pt")
    _flip_weight_bytes(ck)
    _error(capsys, main(["evaluate", out, "--no-plots"]), f"checkpoint {ck} is corrupt", "checksum")
    _error(capsys, main(["train", "--resume", out]), f"checkpoint {ck} is corrupt")


@pytest.mark.parametrize("where", ["model", "optimizer"])
def test_non_finite_weights_or_optimiser_state_are_refused(run_dir, tmp_path, capsys, where):
    out = _copy(run_dir, tmp_path)
    ck = os.path.join(out, "gru", "checkpoint.pt")
    state = load_checkpoint(ck)
    if where == "model":
        next(iter(state["model"].values()))[0] = float("nan")
    else:
        st = next(iter(state["optimizer"]["state"].values()))
        st["exp_avg_sq"].fill_(float("inf"))
    state = {k: v for k, v in state.items() if k not in ("format", "version")}
    save_checkpoint(state, ck)  # a valid checksum: only the content check can catch it
    _error(capsys, main(["train", "--resume", out]), f"checkpoint {ck} is corrupt", "non-finite")
    if where == "model":
        _error(capsys, main(["evaluate", out, "--no-plots"]), f"checkpoint {ck} is corrupt", "non-finite")


def test_corrupt_optimiser_structure_is_refused(run_dir, tmp_path, capsys):
    out = _copy(run_dir, tmp_path)
    ck = os.path.join(out, "gru", "checkpoint.pt")
    state = load_checkpoint(ck)
    st = next(iter(state["optimizer"]["state"].values()))
    st["exp_avg"] = st["exp_avg"][:1]
    state = {k: v for k, v in state.items() if k not in ("format", "version")}
    save_checkpoint(state, ck)
    _error(capsys, main(["train", "--resume", out]), f"checkpoint {ck} is corrupt", "optimizer")


# ------------------------------------------------------------------------------ item 5: crafted checkpoints
CRAFTED = [
    ("epoch", None, "epoch"), ("epoch", "two", "epoch"), ("epoch", 10**12, "epoch"),
    ("step_in_epoch", -1, "step_in_epoch"), ("accum", None, "accum"), ("accum", {"loss": 1}, "accum"),
    ("rng", None, "rng"), ("rng", [1, 2, 3], "rng"), ("scheduler", "x", "scheduler"), ("history", 5, "history"),
    ("history", [1], "history"), ("model", None, "model"), ("model", {"w": 1}, "model"),
    ("global_step", 10**9, "global_step"),
]


@pytest.mark.parametrize("field, value, needle", CRAFTED, ids=[f"{c[0]}={c[1]!r}"[:30] for c in CRAFTED])
def test_crafted_checkpoint_fields_are_one_line_errors(run_dir, tmp_path, capsys, field, value, needle):
    out = _copy(run_dir, tmp_path)
    ck = os.path.join(out, "gru", "checkpoint.pt")
    state = load_checkpoint(ck)
    state = {k: v for k, v in state.items() if k not in ("format", "version")}
    if value is None:
        del state[field]
    else:
        state[field] = value
    save_checkpoint(state, ck)
    _error(capsys, main(["train", "--resume", out, "--epochs", "3"]), f"checkpoint {ck} is corrupt", needle)
    if field != "global_step":  # evaluate does not know the batches per epoch
        _error(capsys, main(["evaluate", out, "--no-plots"]), f"checkpoint {ck} is corrupt", needle)


# ----------------------------------------------------------------------------- item 5, 13: output folders
def test_bad_output_folders_are_one_line_errors(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    _error(capsys, main(["train", *TINY, "--out", str(afile)]), "--out", "not a folder")
    _error(capsys, main(["train", *TINY, "--out", str(afile / "below")]), "--out")
    _error(capsys, main(["train", *TINY, "--out", "/dev/null"]), "--out", "not a folder")
    _error(capsys, main(["train", *TINY, "--out", ""]), "--out", "empty")
    assert not os.path.exists("runs") or not any(n.startswith("delay-gru") for n in os.listdir("runs"))


@pytest.mark.skipif(ROOT, reason="root ignores permissions")
def test_read_only_folders_are_one_line_errors(run_dir, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        _error(capsys, main(["train", *TINY, "--out", str(ro / "run")]), "--out", "cannot")
        run = _copy(run_dir, tmp_path, "rorun")
        for d in (run, os.path.join(run, "gru")):
            os.chmod(d, stat.S_IRUSR | stat.S_IXUSR)
        try:
            _error(capsys, main(["evaluate", run, "--attack", "noise", "--levels", "0.1", "--no-plots"]),
                   "not writable")
            _error(capsys, main(["train", "--resume", run, "--epochs", "3"]), "not writable")
        finally:
            for d in (run, os.path.join(run, "gru")):
                os.chmod(d, stat.S_IRWXU)
    finally:
        ro.chmod(stat.S_IRWXU)


def test_disk_full_keeps_the_previous_checkpoint_and_says_how_much(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "epoch": 1}, path)

    real_open = open

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            raise OSError(28, "No space left on device")

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(ckpt, "_open_for_write", lambda p: Full(real_open(p, "wb")))
    with pytest.raises(ckpt.CheckpointError, match=r"no space left on device.*needs \d+ bytes"):
        save_checkpoint({"model": {"w": torch.ones(1000)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.pt"]


# ------------------------------------------------------------------------ item 5, 6, 7: values and seeds
@pytest.mark.parametrize("argv, needle", [
    (["--seed", "99999999999999999999"], "seed"),
    (["--seed", "-1"], "seed"),
    (["--threads", "50000"], "threads"),
    (["--method", "foo"], "method"),
    (["--memory", "foo"], "memory"),
    (["--model-arg", "tau=0"], "tau"),
    (["--model-arg", "threshold=0"], "threshold"),
    (["--model-arg", "layers=0"], "layers"),
])
def test_bad_values_fail_before_the_run_folder_exists(tmp_path, capsys, argv, needle):
    out = tmp_path / "run"
    _error(capsys, main(["train", *TINY, "--model", "mlp", "--neuron", "flif", *argv, "--out", str(out)]), needle)
    assert not out.exists()


def test_seed_overflow_in_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("seed = 99999999999999999999\n")
    _error(capsys, main(["train", "--config", str(cfg), "--out", str(tmp_path / "r")]), "seed")
    assert not (tmp_path / "r").exists()


def test_yaml_parse_error_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: delay\n  hidden: [1, 2\nepochs: 3\n")
    _error(capsys, main(["train", "--config", str(cfg)]), "could not be parsed", "line")


# ------------------------------------------------------------------------- item 11: stale temporary files
def test_stale_temporary_checkpoints_are_cleaned(run_dir, tmp_path, capsys):
    out = _copy(run_dir, tmp_path)
    stale = os.path.join(out, "gru", ".checkpoint.pt.tmp-999999999")
    open(stale, "wb").write(b"PK half written")
    mine = os.path.join(out, "gru", "notes.txt")
    open(mine, "w").write("user file")
    assert main(["train", "--resume", out]) == 0
    assert not os.path.exists(stale) and os.path.exists(mine)


def test_read_only_run_folders_even_as_root(run_dir, tmp_path, monkeypatch, capsys):
    """The same checks with write permission denied through ``os.access`` (root ignores chmod)."""
    from spikeDE.train import run as run_mod

    run = _copy(run_dir, tmp_path, "rorun")
    real = os.access
    monkeypatch.setattr(run_mod.os, "access", lambda p, mode: False if os.fspath(p).startswith(run) else real(p, mode))
    _error(capsys, main(["evaluate", run, "--attack", "noise", "--levels", "0.1", "--no-plots"]), "not writable")
    _error(capsys, main(["train", "--resume", run, "--epochs", "3"]), "not writable")
    _error(capsys, main(["train", *TINY, "--out", os.path.join(run, "sub")]), "not writable")
    assert sorted(os.listdir(run)) == sorted(os.listdir(run_dir))
