"""Offline ListOps generator: every label is the value of its expression (checked by an independent
stack evaluator on the token ids), the LRA structure limits hold, the draw is seeded, splits are disjoint and
padding is zeros after the sequence."""
import statistics

import pytest
import torch

from spikeDE.data.listops import expression_string, generate_expression, generate_listops, listops_generated
from spikeDE.data.lra import LISTOPS_VOCAB, listops_tokens

ID2TOK = {v: k for k, v in LISTOPS_VOCAB.items()}


def stack_evaluate(ids):
    """Evaluate a prefix ListOps token-id sequence with an explicit stack; also returns the depth and the
    largest argument count seen (written independently of the generator)."""
    stack, depth, max_depth, max_args = [], 0, 0, 0
    result = None
    for i in ids:
        tok = ID2TOK[int(i)]
        if tok.startswith("["):
            stack.append((tok, []))
            depth += 1
            max_depth = max(max_depth, depth)
        elif tok == "]":
            op, args = stack.pop()
            depth -= 1
            max_args = max(max_args, len(args))
            assert len(args) >= 2
            if op == "[MAX":
                v = max(args)
            elif op == "[MIN":
                v = min(args)
            elif op == "[SM":
                v = sum(args) % 10
            else:  # median, rounded down
                s = sorted(args)
                m = len(s) // 2
                v = s[m] if len(s) % 2 else (s[m - 1] + s[m]) // 2
            if stack:
                stack[-1][1].append(v)
            else:
                result = v
        else:
            if stack:
                stack[-1][1].append(int(tok))
            else:
                result = int(tok)
    assert not stack
    return result, max_depth, max_args


def test_labels_are_values_and_limits_hold():
    sets = listops_generated((300, 40, 60), min_length=20, max_length=200, seed=3)
    for split, ds in sets.items():
        for i in range(len(ds)):
            ids, y = ds[i]
            n = int(ds.lengths[i])
            assert 20 < n < 200
            assert torch.all(ids[:n] > 0) and torch.all(ids[n:] == 0)  # padding after the sequence
            value, depth, args = stack_evaluate(ids[:n])
            assert value == int(y)
            assert depth <= 9 and args <= 10  # depth 10 holds only digits: at most 9 nested operators
    labels = sets["train"].targets
    assert len(set(labels.tolist())) >= 8  # not a degenerate label distribution


def test_seeded_disjoint_and_lra_text_form():
    a = generate_listops(50, min_length=10, max_length=100, seed=7)
    b = generate_listops(50, min_length=10, max_length=100, seed=7)
    c = generate_listops(50, min_length=10, max_length=100, seed=8)
    assert a == b and a != c
    sets = listops_generated((100, 30, 30), min_length=10, max_length=100, seed=1)
    keys = {s: {tuple(e) for e in ds.expressions} for s, ds in sets.items()}
    assert not (keys["train"] & keys["test"]) and not (keys["train"] & keys["val"]) and not (keys["val"] & keys["test"])
    import random
    rng = random.Random(0)
    for _ in range(50):
        tree, n = generate_expression(rng)
        text = expression_string(tree)  # LRA text with parentheses; the LRA tokeniser drops them
        ids = listops_tokens(text)
        assert len(ids) == n
        assert text.count("(") == text.count(")")


def test_length_distribution_follows_the_procedure():
    # the LRA recursion: a node below max depth is an operator with probability 0.25 and has U{2..10}
    # arguments (mean 6), so the expected length obeys E_d = 0.75 + 0.25 (2 + 6 E_{d+1}), E_max = 1
    import random
    rng = random.Random(0)
    max_depth = 6
    lengths = [generate_expression(rng, 1, max_depth, 10)[1] for _ in range(6000)]
    assert abs(sum(n == 1 for n in lengths) / len(lengths) - 0.75) < 0.025
    e = 1.0
    for _ in range(max_depth - 1):
        e = 0.75 + 0.25 * (2 + 6 * e)
    sem = statistics.stdev(lengths) / len(lengths) ** 0.5
    assert abs(statistics.mean(lengths) - e) < 4 * sem


def test_errors():
    with pytest.raises(ValueError, match="max_length"):
        generate_listops(5, min_length=10, max_length=11)
    with pytest.raises(ValueError, match="draws"):
        generate_listops(5, min_length=5000, max_length=6000, max_tries=50)
    with pytest.raises(ValueError, match="max_args"):
        generate_listops(5, max_args=1)
