"""Event files and frames: readers against plain per-event decoders of files written here in each real format,
to_frames against plain loops, filters and augmentations against their definitions."""
import struct

import numpy as np
import pytest
import torch

from spikeDE.data import events as E


def _random_events(n, w=34, h=34, t_max=100_000, seed=0):
    g = np.random.default_rng(seed)
    return E.make_events(g.integers(0, w, n), g.integers(0, h, n), np.sort(g.integers(0, t_max, n)),
                         g.integers(0, 2, n))


def _tuples(ev):
    return [(int(e["x"]), int(e["y"]), int(e["t"]), int(e["p"])) for e in ev]


# ------------------------------------------------------------------------------------------------ ATIS .bin
def _atis_record(x, y, p, t):
    word = (x << 32) | (y << 24) | (p << 23) | t            # bits 39..32 x, 31..24 y, 23 p, 22..0 t
    return word.to_bytes(5, "big")


def _plain_atis_decoder(raw):
    out, offset = [], 0
    for i in range(0, len(raw), 5):
        b = raw[i:i + 5]
        x, y, p = b[0], b[1], b[2] >> 7
        t = ((b[2] & 0x7F) << 16) + (b[3] << 8) + b[4]
        if y == 240:                                         # timestamp overflow marker
            offset += 1 << 13
            continue
        out.append((x, y, t + offset, p))
    return out


def test_atis_bin_bit_layout(tmp_path):
    g = np.random.default_rng(1)
    recs, t = [], 0
    for i in range(200):
        t += int(g.integers(0, 40))
        recs.append((int(g.integers(0, 34)), int(g.integers(0, 34)), int(g.integers(0, 2)), t))
    raw = b"".join(_atis_record(*r) for r in recs[:120]) + _atis_record(0, 240, 0, 0) + \
        b"".join(_atis_record(x, y, p, t) for x, y, p, t in recs[120:])
    # one event with every timestamp bit set and the polarity bit set, to pin the bit boundaries
    raw += _atis_record(255, 7, 1, (1 << 23) - 1)
    f = tmp_path / "00001.bin"
    f.write_bytes(raw)
    ev = E.load_events(f)
    ref = sorted(_plain_atis_decoder(raw), key=lambda r: r[2])
    assert _tuples(ev) == ref
    assert ev[-1]["t"] == (1 << 23) - 1 + (1 << 13) and ev[-1]["p"] == 1 and ev[-1]["x"] == 255
    assert ev.dtype == E.EVENT_DTYPE


def test_atis_writer_round_trip(tmp_path):
    ev = _random_events(300)
    E.write_atis_bin(tmp_path / "a.bin", ev)
    assert _tuples(E.load_events(tmp_path / "a.bin")) == _tuples(ev)
    assert _plain_atis_decoder((tmp_path / "a.bin").read_bytes()) == _tuples(ev)


def test_atis_truncated_file_is_named(tmp_path):
    f = tmp_path / "bad.bin"
    f.write_bytes(_atis_record(1, 2, 1, 5) + b"\x01\x02")
    with pytest.raises(E.EventFileError, match=r"bad\.bin.*multiple of 5"):
        E.load_events(f)


# ------------------------------------------------------------------------------------------------ AEDAT 3.1
def _aedat31_file(packets):
    """packets: list of (event_type, overflow, [(x, y, p, t, valid)]) written with plain struct packing."""
    out = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Start-Time: now\r\n#!END-HEADER\r\n"
    for etype, overflow, evs in packets:
        size = 8 if etype == 1 else 12
        out += struct.pack("<hhiiiiii", etype, 1, size, 4, overflow, len(evs), len(evs), len(evs))
        for x, y, p, t, valid in evs:
            if etype == 1:
                out += struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, t)
            else:
                out += b"\x00" * 12
    return out


def _plain_aedat31_decoder(raw):
    pos = raw.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    out = []
    while pos < len(raw):
        etype, _, size, _, overflow, cap, num, _ = struct.unpack("<hhiiiiii", raw[pos:pos + 28])
        pos += 28
        for i in range(num):
            if etype == 1:
                data, ts = struct.unpack("<Ii", raw[pos + 8 * i:pos + 8 * i + 8])
                if data & 1:
                    out.append(((data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, ts + (overflow << 31), (data >> 1) & 1))
        pos += cap * size
    return out


def test_aedat31_bit_layout(tmp_path):
    g = np.random.default_rng(2)

    def evs(n, t0):
        t = t0 + np.sort(g.integers(0, 1000, n))
        return [(int(g.integers(0, 128)), int(g.integers(0, 128)), int(g.integers(0, 2)), int(tt),
                 int(g.random() > 0.1)) for tt in t]

    packets = [(1, 0, evs(50, 0)), (2, 0, [(0, 0, 0, 0, 1)] * 3), (1, 0, evs(40, 2000)),
               (1, 1, evs(30, 10))]                              # a later packet after a timestamp overflow
    packets[0][2].append((127, 127, 1, 1500, 1))
    raw = _aedat31_file(packets)
    f = tmp_path / "user01_fluorescent.aedat"
    f.write_bytes(raw)
    ev = E.load_events(f)
    assert _tuples(ev) == sorted(_plain_aedat31_decoder(raw), key=lambda r: r[2])
    assert ev["t"].max() >= 1 << 31                              # the overflow packet's events come last
    assert len(ev) == sum(v for _, _, _, _, v in packets[0][2] + packets[2][2] + packets[3][2])


def test_aedat31_writer_round_trip_and_errors(tmp_path):
    ev = _random_events(500, 128, 128)
    E.write_aedat31(tmp_path / "w.aedat", ev, packet_size=128)
    assert _tuples(E.load_events(tmp_path / "w.aedat")) == _tuples(ev)
    raw = (tmp_path / "w.aedat").read_bytes()
    (tmp_path / "cut.aedat").write_bytes(raw[:-11])
    with pytest.raises(E.EventFileError, match=r"cut\.aedat.*truncated"):
        E.load_events(tmp_path / "cut.aedat")
    (tmp_path / "foreign.aedat").write_bytes(b"\x89PNG\r\n" + bytes(100))
    with pytest.raises(E.EventFileError, match=r"foreign\.aedat.*AER-DAT"):
        E.load_events(tmp_path / "foreign.aedat")
    (tmp_path / "x.evt").write_bytes(b"")
    with pytest.raises(E.EventFileError, match=r"x\.evt.*extension"):
        E.load_events(tmp_path / "x.evt")


# ------------------------------------------------------------------------------------------------ AEDAT 2.0, numpy
def test_aedat2_bit_layout(tmp_path):
    g = np.random.default_rng(3)
    recs = [(int(g.integers(0, 128)), int(g.integers(0, 128)), int(g.integers(0, 2)), int(t))
            for t in np.sort(g.integers(0, 10 ** 6, 100))]
    raw = b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n" + b"".join(
        struct.pack(">II", (y << 8) | (x << 1) | p, t) for x, y, p, t in recs)
    (tmp_path / "cifar.aedat").write_bytes(raw)
    assert _tuples(E.load_events(tmp_path / "cifar.aedat")) == [(x, y, t, p) for x, y, p, t in recs]
    (tmp_path / "cut.aedat").write_bytes(raw[:-3])
    with pytest.raises(E.EventFileError, match=r"cut\.aedat.*multiple of 8"):
        E.load_events(tmp_path / "cut.aedat")


def test_numpy_formats(tmp_path):
    ev = _random_events(100)
    np.save(tmp_path / "a.npy", ev)
    np.savez(tmp_path / "b.npz", x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"])
    np.savez(tmp_path / "c.npz", events=ev)
    for name in ("a.npy", "b.npz", "c.npz"):
        assert _tuples(E.load_events(tmp_path / name)) == _tuples(ev)
    np.save(tmp_path / "plain.npy", np.zeros(5))
    with pytest.raises(E.EventFileError, match=r"plain\.npy.*x, y, t, p"):
        E.load_events(tmp_path / "plain.npy")


# ------------------------------------------------------------------------------------------------ bad streams
def test_bad_streams():
    with pytest.raises(ValueError, match="non-integer"):
        E.make_events([1.5], [0], [0], [0])
    with pytest.raises(ValueError, match="outside the range"):
        E.make_events([40000], [0], [0], [0])
    ev = _random_events(50)
    with pytest.raises(ValueError, match="x outside"):
        E.to_frames(ev, (20, 34, 2), n_time_bins=4)
    neg = ev.copy()
    neg["t"][0] = -5
    with pytest.raises(ValueError, match="negative timestamp"):
        E.to_frames(neg, (34, 34, 2), n_time_bins=4)
    shuffled = ev[np.random.default_rng(0).permutation(len(ev))]
    assert torch.equal(E.to_frames(shuffled, (34, 34, 2), n_time_bins=5, split_by="time"),
                       E.to_frames(ev, (34, 34, 2), n_time_bins=5, split_by="time"))
    assert np.all(np.diff(E.check_events(shuffled)["t"]) >= 0)
    empty = ev[:0]
    assert E.to_frames(empty, (34, 34, 2), n_time_bins=3).shape == (3, 2, 34, 34)
    assert E.to_frames(empty, (34, 34, 2), n_time_bins=3).sum() == 0
    assert E.to_frames(empty, (34, 34, 2), time_window=1000.0).shape == (0, 2, 34, 34)
    assert E.to_frames(empty, (34, 34, 2), event_count=10).shape == (0, 2, 34, 34)
    for kw in ({}, {"n_time_bins": 2, "event_count": 3}):
        with pytest.raises(ValueError, match="exactly one"):
            E.to_frames(ev, (34, 34, 2), **kw)
    with pytest.raises(ValueError, match="split_by"):
        E.to_frames(ev, (34, 34, 2), n_time_bins=2, split_by="space")
    with pytest.raises(ValueError, match="sensor_size"):
        E.to_frames(ev, (34, 0, 2), n_time_bins=2)


# ------------------------------------------------------------------------------------------------ frames
def _loop_frames(ev, sensor, slice_of, T):
    W, H, P = sensor
    F = np.zeros((T, P, H, W))
    for i, e in enumerate(ev):
        F[slice_of(i, int(e["t"])), e["p"], e["y"], e["x"]] += 1
    return F


@pytest.mark.parametrize("n,T", [(97, 4), (10, 16), (1, 3)])
def test_to_frames_against_loops(n, T):
    sensor = (34, 30, 2)
    ev = _random_events(n, 34, 30, seed=n)
    N, t0, t1 = len(ev), int(ev["t"][0]), int(ev["t"][-1])
    D = t1 - t0 + 1
    F = E.to_frames(ev, sensor, n_time_bins=T, split_by="number")
    np.testing.assert_array_equal(F.numpy(), _loop_frames(ev, sensor, lambda i, t: i * T // N, T))
    sizes = F.sum((1, 2, 3))
    assert sizes.sum() == N and sizes.max() - sizes.min() <= 1
    F = E.to_frames(ev, sensor, n_time_bins=T, split_by="time")
    np.testing.assert_array_equal(F.numpy(), _loop_frames(ev, sensor, lambda i, t: (t - t0) * T // D, T))
    # each time slice covers [t0 + k D/T, t0 + (k+1) D/T): check the event times directly
    k, _ = E.frame_slices(ev, n_time_bins=T, split_by="time")
    assert np.all(ev["t"] - t0 >= k * D / T) and np.all(ev["t"] - t0 < (k + 1) * D / T)
    w = 7000.0
    Tw = -(-D // 7000)
    F = E.to_frames(ev, sensor, time_window=w)
    assert F.shape[0] == int((t1 - t0) // w) + 1 <= Tw
    np.testing.assert_array_equal(F.numpy(), _loop_frames(ev, sensor, lambda i, t: int((t - t0) // w), F.shape[0]))
    F = E.to_frames(ev, sensor, time_window=97.0)               # many slices: the single-bincount path
    np.testing.assert_array_equal(F.numpy(), _loop_frames(ev, sensor, lambda i, t: int((t - t0) // 97.0), F.shape[0]))
    F = E.to_frames(ev, sensor, event_count=3, dtype=torch.float64)
    assert F.dtype == torch.float64 and F.shape[0] == -(-N // 3)
    np.testing.assert_array_equal(F.numpy(), _loop_frames(ev, sensor, lambda i, t: i // 3, F.shape[0]))


def test_voxel_grid_against_loop():
    ev = _random_events(60, 10, 8, seed=4)
    T = 5
    V = E.voxel_grid(ev, (10, 8, 2), T, dtype=torch.float64).numpy()
    ref = np.zeros((T, 8, 10))
    t0, t1 = ev["t"][0], ev["t"][-1]
    for e in ev:
        tau = (T - 1) * (e["t"] - t0) / (t1 - t0)
        for k in range(T):
            ref[k, e["y"], e["x"]] += (2 * e["p"] - 1) * max(0.0, 1 - abs(k - tau))
    np.testing.assert_allclose(V, ref, atol=1e-12)


# ------------------------------------------------------------------------------------------------ filters
def test_denoise_against_plain_definition():
    g = np.random.default_rng(5)
    ev = E.make_events(g.integers(0, 12, 300), g.integers(0, 10, 300), np.sort(g.integers(0, 3000, 300)),
                       g.integers(0, 2, 300))
    dt = 150
    kept = E.denoise(ev, (12, 10, 2), dt)
    ref = [e for e in ev if any(abs(int(o["x"]) - int(e["x"])) <= 1 and abs(int(o["y"]) - int(e["y"])) <= 1
                                and e["t"] - dt <= o["t"] < e["t"] for o in ev)]
    assert _tuples(kept) == _tuples(np.array(ref, dtype=E.EVENT_DTYPE))
    assert 0 < len(kept) < len(ev)


def test_downsample_is_sum_pooling():
    ev = _random_events(400, 34, 34, seed=6)
    small, s = E.downsample(ev, (34, 34, 2), 2)
    assert s == (17, 17, 2)
    F = E.to_frames(ev, (34, 34, 2), n_time_bins=3)
    pooled = torch.nn.functional.avg_pool2d(F, 2) * 4
    assert torch.equal(E.to_frames(small, s, n_time_bins=3), pooled)


def test_augmentations_match_frame_operations():
    sensor = (20, 16, 2)
    ev = _random_events(300, 20, 16, seed=7)
    F = E.to_frames(ev, sensor, n_time_bins=2)
    assert torch.equal(E.to_frames(E.flip_lr(ev, sensor), sensor, n_time_bins=2), F.flip(-1))
    assert torch.equal(E.to_frames(E.flip_ud(ev, sensor), sensor, n_time_bins=2), F.flip(-2))
    assert torch.equal(E.to_frames(E.flip_polarity(ev), sensor, n_time_bins=2), F.flip(1))
    shifted = torch.zeros_like(F)
    shifted[..., 2:, :17] = F[..., :-2, 3:]                      # dx = -3, dy = +2
    out = E.shift(ev, sensor, -3, 2)
    assert torch.equal(E.to_frames(out, sensor, n_time_bins=2, split_by="number").sum(0), shifted.sum(0))
    crop, cs = E.random_crop(ev, sensor, (8, 8), seed=0)
    assert cs == (8, 8, 2) and len(crop) and crop["x"].max() < 8
    d1, d2 = E.drop_events(ev, 0.3, seed=1), E.drop_events(ev, 0.3, seed=1)
    assert _tuples(d1) == _tuples(d2) and 150 < len(d1) < 270
    j = E.time_jitter(ev, 500.0, seed=2)
    assert len(j) == len(ev) and np.all(np.diff(j["t"]) >= 0) and j["t"].min() >= 0
    aug = E.EventAugment(sensor, p_flip_lr=0.5, max_shift=2, p_drop=0.1, jitter_us=10.0, p_flip_polarity=0.5)
    assert _tuples(aug(ev, 3)) == _tuples(aug(ev, 3))
    with pytest.raises(ValueError, match="p_drop"):
        E.EventAugment(sensor, p_drop=1.5)


def test_frame_cache(tmp_path):
    ev = _random_events(200)
    np.save(tmp_path / "s.npy", ev)
    cache = E.FrameCache(tmp_path / "cache")
    calls = []
    orig = E.load_events

    def counting(path, sensor_size=None):
        calls.append(path)
        return orig(path, sensor_size)

    E.load_events, saved = counting, E.load_events
    try:
        a = E.frames_from_file(tmp_path / "s.npy", (34, 34, 2), n_time_bins=4, cache=cache)
        b = E.frames_from_file(tmp_path / "s.npy", (34, 34, 2), n_time_bins=4, cache=cache)
        c = E.frames_from_file(tmp_path / "s.npy", (34, 34, 2), n_time_bins=5, cache=cache)
    finally:
        E.load_events = saved
    assert len(calls) == 2 and np.array_equal(a, b) and c.shape[0] == 5
    np.testing.assert_array_equal(a, E.to_frames(ev, (34, 34, 2), n_time_bins=4).numpy())
