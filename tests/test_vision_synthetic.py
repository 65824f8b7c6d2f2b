"""The simulated event camera and the embedded event tasks."""
import numpy as np
import pytest
import torch

from spikeDE.data import dvs_synthetic as S
from spikeDE.data.events import to_frames


def test_render_shifted_against_loop():
    g = np.random.default_rng(0)
    img = g.random((2, 5, 4))
    ox, oy = np.array([1.3, 6.0]), np.array([2.75, -0.5])
    out = S.render_shifted(img, ox, oy, 9)
    ref = np.zeros((2, 9, 9))
    for n in range(2):
        for y in range(9):
            for x in range(9):
                sy, sx = y - oy[n], x - ox[n]
                for j in range(5):
                    for i in range(4):
                        ref[n, y, x] += img[n, j, i] * max(0, 1 - abs(sy - j)) * max(0, 1 - abs(sx - i))
    np.testing.assert_allclose(out, ref, atol=1e-12)


def _reconstruct_and_check(video, sample, ev, dt, C):
    """Ideal camera: after instant s, log(I_s + eps) is within C of L_0 + C * (#ON - #OFF up to t_s)."""
    N, steps, H, W = video.shape
    L = np.log(video + S._EPS)
    for n in range(N):
        e = ev[sample == n]
        assert np.all((e["t"] > 0) & (e["t"] <= (steps - 1) * dt))
        for s in range(1, steps):
            part = e[e["t"] <= s * dt]
            net = np.zeros((H, W))
            np.add.at(net, (part["y"], part["x"]), 2 * part["p"].astype(float) - 1)
            assert np.abs(L[n, s] - (L[n, 0] + C * net)).max() < C + 1e-9


def test_camera_events_reproduce_the_moving_digit():
    from spikeDE.data.digits import load_digits_arrays
    images, _ = load_digits_arrays()
    img = S._upsample(images[:3].reshape(-1, 8, 8), 20)
    ox, oy = S.saccade_offsets(4, 4.0)
    video = np.stack([S.render_shifted(img, np.full(3, 4 + a), np.full(3, 4 + b), 32) for a, b in zip(ox, oy)], 1)
    C, dt = 0.2, 1000.0
    sample, ev = S.simulate_dvs(video, dt, threshold=C, threshold_sigma=0.0, noise_rate=0.0, seed=1)
    _reconstruct_and_check(video, sample, ev, dt, C)
    # the first instant: floor(|dL| / C) events per pixel, ON where the moving digit brightens, OFF where it dims
    first = ev[(sample == 0) & (ev["t"] <= dt)]
    dL = np.log(video[0, 1] + S._EPS) - np.log(video[0, 0] + S._EPS)
    for pol, sign in ((1, 1.0), (0, -1.0)):
        counts = np.zeros((32, 32))
        part = first[first["p"] == pol]
        np.add.at(counts, (part["y"], part["x"]), 1)
        np.testing.assert_array_equal(counts, np.floor(np.maximum(sign * dL, 0) / C))
        assert counts.sum() > 10
    # the dataset path: frames of the same events, all counted
    sample, ev, labels = S.dvs_digits_events("val", n_samples=4, noise_rate=0.0)
    ds = S.dvs_digits("val", frames=5, n_samples=4, noise_rate=0.0, dtype=torch.float64)
    assert ds.tensors[0].shape == (4, 5, 2, 32, 32) and ds.tensors[0].dtype == torch.float64
    assert torch.equal(ds.tensors[0][2], to_frames(ev[sample == 2], (32, 32, 2), n_time_bins=5, split_by="time",
                                                   dtype=torch.float64))
    assert torch.equal(ds.tensors[1], torch.as_tensor(labels))


def test_camera_noise_and_mismatch():
    video = np.zeros((4, 11, 16, 16))
    sample, ev = S.simulate_dvs(video, 10_000.0, noise_rate=20.0, seed=0)
    # a static scene gives only background events: rate * duration * pixels per sample
    expect = 20.0 * 0.1 * 256
    assert abs(len(ev) / 4 - expect) < 4 * np.sqrt(expect / 4) + 5
    with pytest.raises(ValueError, match="threshold"):
        S.simulate_dvs(video, 1.0, threshold=0.0)


def test_rotation_order_carries_the_label_not_the_sum():
    from sklearn.linear_model import RidgeClassifier
    tr = S.dvs_rotation("train", frames=8, n_samples=240)
    te = S.dvs_rotation("test", frames=8, n_samples=200)
    x, y = te.tensors[0].numpy(), te.tensors[1].numpy()
    # a memoryless classifier of the frames summed over time stays at chance
    clf = RidgeClassifier(alpha=10.0).fit(tr.tensors[0].sum(1).flatten(1).numpy(), tr.tensors[1].numpy())
    acc_sum = clf.score(x.sum(1).reshape(len(x), -1), y)
    assert abs(acc_sum - 0.5) < 0.1
    assert clf.score(tr.tensors[0].sum(1).flatten(1).numpy(), tr.tensors[1].numpy()) > 0.9   # it did fit
    # the order of the frames solves it: the sign of the angular momentum of the event centroids
    yy, xx = np.mgrid[0:32, 0:32]
    w = x.sum(2)                                                    # [N, T, H, W]
    cx = (w * xx).sum((2, 3)) / w.sum((2, 3))
    cy = (w * yy).sum((2, 3)) / w.sum((2, 3))
    dx, dy = cx - cx.mean(1, keepdims=True), cy - cy.mean(1, keepdims=True)
    spin = (dx[:, :-1] * dy[:, 1:] - dy[:, :-1] * dx[:, 1:]).sum(1)  # > 0: clockwise on screen (rows down)
    assert ((spin < 0).astype(int) == y).mean() > 0.95
