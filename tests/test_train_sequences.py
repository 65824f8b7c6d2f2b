"""Long-sequence tasks in the ``spikede`` command: ListOps generated offline end to end (the reported test
accuracy recomputed by hand from the checkpoint), padding masks that change nothing, clear errors."""
import json
import os

import pytest
import torch

from spikeDE.cli import main
from spikeDE.data.listops import listops_generated
from spikeDE.models.ssm_seq import SSMSequenceClassifier
from spikeDE.train.checkpoint import load_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread

F64 = torch.float64
COMMON = ["--device", "cpu", "--no-progress", "--no-plots", "--threads", "1"]
LISTOPS_TINY = ["--task", "listops-gen", "--task-arg", "n_train=24", "--task-arg", "n_val=8", "--task-arg", "n_test=12",
                "--task-arg", "min_length=10", "--task-arg", "max_length=40", "--hidden", "8", "--model-arg",
                "d_state=4", "--batch-size", "8", "--epochs", "1"]


def test_cli_listops_gen_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    assert main(["train", *LISTOPS_TINY, *COMMON, "--out", out]) == 0  # no --model: the task's default
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["model"] == "ssm-seq"
    row = summary["rows"][0]
    # recompute the test accuracy from the checkpoint on the regenerated test set
    sets = listops_generated((24, 8, 12), min_length=10, max_length=40, seed=0)
    net = SSMSequenceClassifier(1, 10, 8, 2, 4, alpha=0.5, vocab_size=16,
                                neuron={"alpha": 0.5, "learn_alpha": True, "method": "gl", "memory": "soe"},
                                ssm_kwargs={"dt_min": 0.001, "dt_max": 0.1})
    state = load_checkpoint(os.path.join(out, "ssm-seq", "checkpoint.pt"))["model"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})
    net.eval()
    ids, y = sets["test"].tokens.long(), sets["test"].targets
    with torch.no_grad():
        acc = float((net(ids).argmax(-1) == y).float().mean())
    assert row["test_acc"] == pytest.approx(acc)


@pytest.mark.parametrize("spiking", [True, False])
@pytest.mark.parametrize("pool", ["mean", "last"])
def test_padding_changes_nothing(spiking, pool):
    torch.manual_seed(1)
    net = SSMSequenceClassifier(1, 5, 8, 2, 4, alpha=0.6, vocab_size=16, spiking=spiking, pool=pool,
                                neuron={"alpha": 0.6, "learn_alpha": True} if spiking else None).to(F64).eval()
    x = torch.randint(1, 16, (3, 30))
    with torch.no_grad():
        ref = net(x)
        padded = net(torch.cat([x, torch.zeros(3, 17, dtype=torch.long)], 1))
        # mixed lengths in one batch: each row equals the row run alone without padding
        lengths = [30, 12, 21]
        mixed = torch.zeros(3, 30, dtype=torch.long)
        for i, n in enumerate(lengths):
            mixed[i, :n] = x[i, :n]
        together = net(mixed)
        alone = torch.cat([net(x[i:i + 1, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(padded, ref, rtol=0, atol=1e-9)
    assert torch.allclose(together, alone, rtol=0, atol=1e-9)
    # without padding the mask changes nothing: the plain pooling of the network's features, written out
    with torch.no_grad():
        z = net.encoder(x)
        for block in net.blocks:
            z = block(z)
        f = net.norm(z)
        hand = net.decoder(f.mean(1) if pool == "mean" else f[:, -1])
    assert torch.allclose(ref, hand, rtol=0, atol=1e-12)


def test_model_max_length_is_an_error():
    net = SSMSequenceClassifier(1, 3, 4, 1, 4, vocab_size=16, max_length=10)
    with pytest.raises(ValueError, match="max_length=10"):
        net(torch.ones(2, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        net(torch.full((2, 5), 16))


def test_cli_listops_bad_option(tmp_path, capsys):
    assert main(["train", "--task", "listops-gen", "--task-arg", "max_length=5", "--task-arg", "min_length=10",
                 *COMMON, "--out", str(tmp_path / "r")]) == 2
    assert "max_length" in capsys.readouterr().err
