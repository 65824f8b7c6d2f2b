"""Language modelling: streaming generation equals the parallel forward's next-token distribution, causality,
text readers on tiny files in the real formats (bpc / perplexity checked by hand), CLI train + generate."""
import json
import math
import os

import numpy as np
import pytest
import torch

from spikeDE.cli import main
from spikeDE.data.text import LMWindows, tiny_shakespeare, wikitext103
from spikeDE.models.rnn_lm import GRULanguageModel
from spikeDE.models.ssm_lm import SSMLanguageModel
from spikeDE.train.checkpoint import load_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread

F64 = torch.float64
ARMS = [dict(spiking=True, neuron={"alpha": 0.6, "learn_alpha": True}, alpha=0.6),
        dict(spiking=True, neuron=None, alpha=1.0, learn_alpha=False),
        dict(spiking=False, alpha=0.6)]


@pytest.mark.parametrize("kw", ARMS, ids=["flif", "lif-alpha1", "nonspiking"])
def test_streaming_equals_parallel_distribution(kw):
    torch.manual_seed(0)
    m = SSMLanguageModel(13, 12, 2, 8, **kw).to(F64).eval()
    x = torch.randint(0, 13, (3, 48))
    with torch.no_grad():
        p_par = torch.softmax(m(x), -1)
        state = m.default_state(3)
        steps = []
        for t in range(x.shape[1]):
            logits, state = m.step(x[:, t], state)
            steps.append(torch.softmax(logits, -1))
    p_str = torch.stack(steps, 1)
    assert (p_str - p_par).abs().max() < 1e-7
    if kw["spiking"]:
        rates = [float(b.spike_rate) for b in m.blocks]
        assert all(r > 0.01 for r in rates)  # the neurons fire, so the equality covers the spikes


def test_causal_and_generate_matches_step_sampling():
    torch.manual_seed(1)
    m = SSMLanguageModel(9, 8, 2, 8, neuron={"alpha": 0.7}).to(F64).eval()
    x = torch.randint(0, 9, (2, 40))
    y = x.clone()
    y[:, 25:] = torch.randint(0, 9, (2, 15))
    with torch.no_grad():
        assert torch.allclose(m(x)[:, :25], m(y)[:, :25], atol=1e-9, rtol=0)
    # greedy generation = argmax of the parallel forward on the growing sequence
    prompt = x[0, :10]
    out = m.generate(prompt, 6, temperature=0.0)
    seq = prompt.clone()
    with torch.no_grad():
        for _ in range(6):
            seq = torch.cat([seq, m(seq.unsqueeze(0))[0, -1].argmax().reshape(1)])
    assert torch.equal(out, seq[10:])
    g = GRULanguageModel(9, 8).to(F64)
    with torch.no_grad():
        s, outs = g.default_state(2), []
        for t in range(20):
            lg, s = g.step(x[:, t], s)
            outs.append(lg)
        assert torch.allclose(torch.stack(outs, 1), g(x[:, :20]), atol=1e-10)
    with pytest.raises(ValueError, match="temperature"):
        m.generate(prompt, 3, temperature=-1.0)


def _shakespeare_file(root, n=6000):
    rng = np.random.default_rng(0)
    words = ["ROMEO:", "JULIET:", "thou", "art", "the", "sun", "and", "moon", "\n"]
    text = " ".join(rng.choice(words, size=n // 4))
    (root / "tinyshakespeare").mkdir(parents=True)
    (root / "tinyshakespeare" / "input.txt").write_text(text)
    return text


def test_shakespeare_reader_and_windows(tmp_path):
    text = _shakespeare_file(tmp_path)
    codec, splits = tiny_shakespeare(tmp_path)
    assert codec.chars == sorted(set(text))
    assert codec.decode(np.concatenate([splits["train"], splits["val"], splits["test"]])) == text
    assert len(splits["train"]) == int(0.9 * len(text))
    w = LMWindows(splits["val"], 16)
    x, y = w[3]
    assert torch.equal(x[1:], y[:-1]) and len(w) == (len(splits["val"]) - 1) // 16
    assert torch.equal(torch.cat([w[i][0] for i in range(len(w))]), torch.as_tensor(splits["val"][:16 * len(w)]).long())
    with pytest.raises(FileNotFoundError, match="tinyshakespeare/input.txt"):
        tiny_shakespeare(tmp_path / "nowhere")


def test_wikitext_reader(tmp_path):
    d = tmp_path / "wikitext-103"
    d.mkdir()
    (d / "wiki.train.tokens").write_text(" = Title = \n\n the cat sat on the mat . \n the <unk> ran \n")
    (d / "wiki.valid.tokens").write_text(" the cat ran . \n")
    (d / "wiki.test.tokens").write_text(" the mat sat \n")
    codec, s = wikitext103(tmp_path)
    assert codec.words[:3] == ["<eos>", "the", "="]  # by count: <eos> x4, the x3, = x2 (then first appearance)
    assert codec.decode(s["val"]) == "the cat ran . \n"
    assert codec.vocab_size == len(set(" = Title = the cat sat on the mat . <unk> ran <eos>".split()))
    codec_b, sb = wikitext103(tmp_path, level="byte")
    assert codec_b.decode(sb["test"]) == " the mat sat \n"
    (d / "wiki.test.tokens").write_text(" the dog \n")
    with pytest.raises(ValueError, match="'dog'"):
        wikitext103(tmp_path)
    (d / "wiki.test.tokens").unlink()
    with pytest.raises(FileNotFoundError, match="wiki.test.tokens"):
        wikitext103(tmp_path)


def test_cli_shakespeare_train_and_generate(tmp_path, monkeypatch, capsys):
    _shakespeare_file(tmp_path / "data")
    monkeypatch.setenv("SPIKEDE_DATA", str(tmp_path / "data"))
    out = str(tmp_path / "run")
    assert main(["train", "--task", "shakespeare", "--task-arg", "context=16", "--task-arg", "n_windows=32",
                 "--hidden", "8", "--model-arg", "d_state=4", "--batch-size", "16", "--epochs", "1",
                 "--device", "cpu", "--no-progress", "--no-plots", "--threads", "1", "--out", out]) == 0
    row = json.load(open(os.path.join(out, "summary.json")))["rows"][0]
    # bits per character recomputed by hand from the checkpoint over the test windows
    codec, splits = tiny_shakespeare(tmp_path / "data")
    m = SSMLanguageModel(codec.vocab_size, 8, 2, 4, alpha=0.5,
                         neuron={"alpha": 0.5, "learn_alpha": True, "method": "gl", "memory": "soe"},
                         ssm_kwargs={"dt_min": 0.001, "dt_max": 0.1})
    state = load_checkpoint(os.path.join(out, "ssm-lm", "checkpoint.pt"))["model"]
    m.load_state_dict({k.removeprefix("lm."): v for k, v in state.items()})
    m.eval()
    w = LMWindows(splits["test"], 16)
    x = torch.stack([w[i][0] for i in range(len(w))])
    y = torch.stack([w[i][1] for i in range(len(w))])
    with torch.no_grad():
        nats = torch.nn.functional.cross_entropy(m(x).reshape(-1, codec.vocab_size), y.reshape(-1)).item()
    assert row["test_bpc"] == pytest.approx(nats / math.log(2), rel=1e-5)
    assert row["test_ppl"] == pytest.approx(math.exp(nats), rel=1e-5)
    capsys.readouterr()
    assert main(["evaluate", out, "--no-plots"]) == 0
    assert f"{row['test_bpc']:.4g}"[:4] in capsys.readouterr().out
    assert main(["generate", out, "--prompt", "ROMEO:", "--tokens", "20", "--temperature", "0.7"]) == 0
    text = capsys.readouterr().out
    assert "ROMEO:" in text and len(text.split("ROMEO:", 1)[1].strip("\n")) >= 1
    assert main(["generate", out, "--prompt", "Z~", "--tokens", "5"]) == 2  # characters outside the vocabulary


def test_lm_trainer_resume_is_exact(tmp_path):
    from spikeDE.train.lm import LMTrainer
    from spikeDE.train.tasks_sequences import TimeFirstLM

    ids = np.random.default_rng(0).integers(0, 7, 400)
    train, val = LMWindows(ids[:300], 10, n_windows=40, seed=1), LMWindows(ids[300:], 10)

    def make(out, cls=LMTrainer, seed=0):
        torch.manual_seed(seed)
        return cls(TimeFirstLM(GRULanguageModel(7, 6)), train, val, epochs=2, batch_size=8, lr=1e-2,
                   schedule="cosine", out_dir=str(out), checkpoint_every=4, progress=False, log=lambda s: None,
                   accumulate=2, eval_every=3, keep_best=True)

    full = make(tmp_path / "full")
    full.fit()

    class Interrupted(LMTrainer):
        def _after_step(self):
            if self.global_step == 7:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(tmp_path / "part", Interrupted).fit()
    resumed = make(tmp_path / "part", seed=5)
    resumed.resume()
    resumed.fit()
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()))
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(full.history) == strip(resumed.history) and full.step_evals == resumed.step_evals
    # the reported validation loss is the mean next-token cross-entropy, recomputed by hand
    x = torch.stack([val[i][0] for i in range(len(val))])
    y = torch.stack([val[i][1] for i in range(len(val))])
    with torch.no_grad():
        h = torch.nn.functional.cross_entropy(full.model.lm(x).reshape(-1, 7), y.reshape(-1)).item()
    assert full.history[-1]["val_loss"] == pytest.approx(h, rel=1e-6)
