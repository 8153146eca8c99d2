"""VideoTimeseriesGenerator: exact frames, targets, several videos, shuffling, bad frames."""
import dataclasses
import shutil

import numpy as np
import pytest

from gpuvideo.decode.pyav_reader import decode_all
from gpuvideo.errors import VideoError
from gpuvideo.probe import probe
from gpuvideo.synthetic import read_index, write_index_video
from gpuvideo.timeseries import VideoTimeseriesGenerator
from gpuvideo.windows import window_frames, window_starts


def make(videos, targets=None, length=5, **kw):
    kw.setdefault("index_cache", False)
    kw.setdefault("target_shape", (96, 64))
    return VideoTimeseriesGenerator(videos, targets, length, **kw)


def all_batches(gen):
    return [gen[i] for i in range(len(gen))]


def spelled(x):
    """(B, T, H, W, C) float or uint8 -> (B, T) frame indices spelled by the frames."""
    return np.array([[read_index(f) for f in clip] for clip in x])


@pytest.mark.parametrize("codec", ["h264", "mpeg4_bframes", "mpeg4", "vp9"])
def test_exact_frames_match_sequential_decode(index_videos, codec):
    path = index_videos[codec]
    full = decode_all(path)
    gen = make(path, None, length=5, sampling_rate=2, stride=3, batch_size=4, target_shape=None,
               resize_in_decoder=False, rescale=None, complete_last_batch=False)
    starts = window_starts(len(full), 5, 2, 3)
    assert gen.num_windows == len(starts)
    xs = np.concatenate(all_batches(gen))
    assert xs.shape == (len(starts), 5, full.shape[1], full.shape[2], 3)
    expected = full[window_frames(starts, 5, 2)].astype(np.float32)
    assert np.array_equal(xs, expected)
    # one forward pass: no seek, every frame decoded at most once
    assert gen.seeks == 0
    assert gen.decoded <= len(full)


def test_resized_frames_spell_their_index(index_videos):
    gen = make(index_videos["h264"], None, length=4, sampling_rate=3, stride=2, batch_size=8, nb_channel=1)
    x = gen[1]
    assert x.shape == (8, 4, 64, 96, 1) and x.dtype == np.float32 and x.max() <= 1.0
    starts = 8 * 2 + 2 * np.arange(8)
    assert np.array_equal(spelled(x), window_frames(starts, 4, 3))


def test_array_targets_next_and_last(index_videos):
    path = index_videos["mpeg4"]
    labels = np.arange(60) * 10
    nxt = make(path, labels, length=5, sampling_rate=2, stride=3, batch_size=4, complete_last_batch=False)
    last = make(path, labels, length=5, sampling_rate=2, stride=3, batch_size=4, complete_last_batch=False,
                target_frame="last")
    # "next" needs one more frame (the target): 60 frames -> starts up to 49 vs 51
    assert nxt.num_windows == len(range(0, 60 - 10, 3))
    assert last.num_windows == len(range(0, 60 - 8, 3))
    for gen, offset in ((nxt, 10), (last, 8)):
        for x, y in all_batches(gen):
            idx = spelled(x)
            assert np.array_equal(y, (idx[:, 0] + offset) * 10.0)
            assert y.dtype == np.float32


def test_csv_and_dataframe_targets(index_videos, tmp_path):
    pd = pytest.importorskip("pandas")
    a, b = index_videos["h264"], index_videos["mjpeg"]
    lab = lambda f, v: "anomaly" if 20 <= f < 30 + v else "normal"   # noqa: E731
    rows = [{"video": p.split("/")[-1], "frame": f, "label": lab(f, v)} for v, p in enumerate((a, b))
            for f in range(59, -1, -1)]   # frame column, any order
    df = pd.DataFrame(rows)
    csv = tmp_path / "labels.csv"
    df.to_csv(csv, index=False)
    for targets in (df, str(csv)):
        gen = make([a, b], targets, length=4, stride=2, batch_size=8, target_column="label",
                   target_frame="last", complete_last_batch=False)
        assert gen.classes == ["anomaly", "normal"]
        n_a = len(range(0, 57, 2))
        assert gen.num_windows == 2 * n_a
        for i, (x, y) in enumerate(all_batches(gen)):
            ids = range(i * 8, i * 8 + len(y))
            for wid, clip_idx, yy in zip(ids, spelled(x), y):
                v = 0 if wid < n_a else 1
                assert yy == (0.0 if lab(clip_idx[-1], v) == "anomaly" else 1.0)
    # a label missing for a target frame is an error, not a silent default
    with pytest.raises(ValueError, match="no label"):
        make(a, df[(df.video == a.split("/")[-1]) & (df.frame != 33)], length=4, target_column="label")


def test_callable_targets_and_video_boundaries(index_videos):
    paths = [index_videos["h264"], index_videos["mpeg4"], index_videos["vp9"]]
    seen = []

    def target(video, frames):
        seen.append((video, frames.copy()))
        return [paths.index(video), frames[0], frames[-1]]

    gen = make(paths, target, length=6, sampling_rate=2, stride=5, batch_size=5, complete_last_batch=False)
    per_video = len(range(0, 60 - 10, 5))
    assert gen.num_windows == 3 * per_video
    ys, xs = [], []
    for x, y in all_batches(gen):
        xs.append(spelled(x))
        ys.append(y)
    y, idx = np.concatenate(ys), np.concatenate(xs)
    assert np.array_equal(y[:, 0], np.repeat([0, 1, 2], per_video))   # video after video, none straddles
    assert np.array_equal(idx[:, 0], y[:, 1]) and np.array_equal(idx[:, -1], y[:, 2])
    assert (idx.max(axis=1) < 60).all() and (np.diff(idx, axis=1) == 2).all()


def test_shuffle_reverse_and_batch_sizes(index_videos):
    path = index_videos["h264"]
    gen = make(path, None, length=3, stride=2, batch_size=7, shuffle=True, seed=3, reverse=True,
               complete_last_batch=False)
    n = gen.num_windows
    firsts = np.concatenate([spelled(b)[:, -1] for b in all_batches(gen)])
    assert sorted(firsts.tolist()) == list(range(0, 2 * n, 2))     # every window once
    assert firsts.tolist() != sorted(firsts.tolist())
    assert (np.diff(spelled(gen[0]), axis=1) == -1).all()          # reversed
    full = make(path, None, length=3, stride=2, batch_size=7, complete_last_batch=True)
    assert {len(full[i]) for i in range(len(full))} == {7}         # last batch completed
    short = make(path, None, length=3, stride=2, batch_size=7)     # the default, as Keras: shorter last batch
    assert [len(short[i]) for i in range(len(short))] == [7] * (n // 7) + ([n % 7] if n % 7 else [])
    assert np.concatenate([spelled(short[i])[:, 0] for i in range(len(short))]).tolist() == list(range(0, 2 * n, 2))
    assert len(gen[len(gen) - 1]) == n - 7 * (len(gen) - 1)
    with pytest.raises(IndexError):
        gen[len(gen)]
    # endless iterator
    it = make(path, None, length=3, stride=20, batch_size=1)
    assert [spelled(next(it))[0, 0] for _ in range(4)] == [0, 20, 40, 0]


def test_request_past_the_end_is_refused(index_videos):
    with pytest.raises(ValueError, match="past the last frame"):
        make(index_videos["h264"], None, length=5, end_index=60)
    with pytest.raises(ValueError, match="no window"):
        make(index_videos["h264"], None, length=61)


def test_fit_on_generator(index_videos):
    import keras

    gen = make(index_videos["h264"], (np.arange(60) % 2).astype(np.float32), length=4, batch_size=8,
               target_shape=(32, 24), nb_channel=1)
    model = keras.Sequential([keras.Input((4, 24, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    hist = model.fit(gen, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


# ---------------------------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def long_avi(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    path = root / "orig.avi"
    write_index_video(path, 120, codec="mpeg4")
    return path, probe(str(path))


def truncated(long_avi, tmp_path):
    """A copy cut at 60% of its bytes, with the index of the complete file (frames at the end are lost)."""
    path, info = long_avi
    cut = tmp_path / "cut.avi"
    data = path.read_bytes()
    cut.write_bytes(data[:int(len(data) * 0.6)])
    return dataclasses.replace(info, path=str(cut))


def test_truncated_fill_keeps_batches_full(long_avi, tmp_path):
    info = truncated(long_avi, tmp_path)
    gen = make(info, None, length=6, stride=4, batch_size=8, on_bad_frames="fill", complete_last_batch=True)
    batches = all_batches(gen)
    assert all(b.shape[0] == 8 for b in batches)
    bad = gen.bad_frames.frames(info.path)
    assert bad and bad == list(range(bad[0], 118))
    first_bad = bad[0]
    xs = np.concatenate(batches)[:gen.num_windows]
    idx = spelled(xs)
    filled = 0
    for wid, got in enumerate(idx):
        frames = window_frames(4 * wid, 6)
        ok = frames < first_bad
        # frames before the cut; the very last decodable one may be partial
        assert np.array_equal(got[frames < first_bad - 1], frames[frames < first_bad - 1])
        if ok.any() and not ok.all():
            # completed from the nearest decodable frame of the window: here the last one before the cut
            src = nearest_decodable(frames, bad)
            assert [src[p] for p in np.flatnonzero(~ok)] == [int(ok.sum()) - 1] * int((~ok).sum())
            for p in np.flatnonzero(~ok):
                np.testing.assert_array_equal(xs[wid, p], xs[wid, src[p]], err_msg=f"window {wid} position {p}")
            filled += 1
    assert filled > 0
    assert (info.path, 117) in gen.bad_frames.items()


def nearest_decodable(frames, bad):
    """Per position of a window (frame indices), the position of the nearest frame not in ``bad``;
    on a tie the earlier one."""
    good = [q for q, f in enumerate(frames) if int(f) not in set(bad)]
    return [min(good, key=lambda q: (abs(q - p), q)) for p in range(len(frames))]


def test_fill_takes_the_nearest_decodable_frame_earlier_on_ties(tmp_path):
    """Frames missing inside a video (MJPEG packets removed, index of the whole file kept): gaps of 1, 2 and 3
    frames give ties (earlier frame), nearer frames on both sides, and runs filled from one frame."""
    import av

    src = write_index_video(tmp_path / "full.avi", 60, codec="mjpeg")
    info = probe(str(src))
    drop = {19, 30, 31, 50, 51, 52}
    gaps = tmp_path / "gaps.avi"
    with av.open(str(src)) as inp, av.open(str(gaps), "w") as out:
        template = inp.streams.video[0]
        stream = (out.add_stream_from_template(template) if hasattr(out, "add_stream_from_template")
                  else out.add_stream(template=template))      # PyAV < 13
        n = 0
        for packet in inp.demux(template):
            if packet.dts is None:
                continue
            if n not in drop:
                packet.stream = stream
                out.mux(packet)
            n += 1
    gen = make(dataclasses.replace(info, path=str(gaps)), None, length=5, stride=1, batch_size=8,
               on_bad_frames="fill", complete_last_batch=False)
    xs = np.concatenate(all_batches(gen))
    assert gen.bad_frames.frames(str(gaps)) == sorted(drop)
    assert len(xs) == gen.num_windows == 56
    # written out for a few windows: [start .. start+4] with the gaps filled
    want = {15: [15, 16, 17, 18, 18], 16: [16, 17, 18, 18, 20], 17: [17, 18, 18, 20, 21],
            28: [28, 29, 29, 32, 32], 48: [48, 49, 49, 49, 49], 49: [49, 49, 49, 53, 53],
            47: [47, 48, 49, 49, 49], 50: [53, 53, 53, 53, 54]}
    for wid, frames in want.items():
        assert spelled(xs[wid:wid + 1])[0].tolist() == frames, wid
    ties = 0
    for wid in range(gen.num_windows):
        frames = window_frames(wid, 5)
        src = nearest_decodable(frames, drop)
        assert spelled(xs[wid:wid + 1])[0].tolist() == [int(frames[q]) for q in src], wid
        for p, q in enumerate(src):
            np.testing.assert_array_equal(xs[wid, p], xs[wid, q])
            ties += q < p and p + (p - q) < 5 and int(frames[p + (p - q)]) not in drop
    assert ties > 0


def test_truncated_skip_replaces_windows(long_avi, tmp_path):
    info = truncated(long_avi, tmp_path)
    gen = make(info, np.arange(120, dtype=np.float32), length=6, stride=4, batch_size=8, on_bad_frames="skip",
               target_frame="last", complete_last_batch=True)
    for x, y in all_batches(gen):
        assert x.shape[0] == 8 and y.shape == (8,)
        # every served window is whole: its target is its last frame, all before the cut
        assert (y < gen.bad_frames.frames(info.path)[0]).all()
        assert np.array_equal(spelled(x)[:, 0], y - 5)


def test_bad_frames_raise(long_avi, tmp_path):
    info = truncated(long_avi, tmp_path)
    gen = make(info, None, length=6, stride=4, batch_size=8, on_bad_frames="raise")
    with pytest.raises(VideoError, match="cannot be decoded"):
        all_batches(gen)


def test_corrupt_bytes_in_the_middle(long_avi, tmp_path):
    path, info = long_avi
    bad = tmp_path / "corrupt.avi"
    shutil.copy(path, bad)
    data = bytearray(bad.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(data))
    info = dataclasses.replace(info, path=str(bad))
    for policy in ("fill", "skip"):
        gen = make(info, None, length=5, stride=5, batch_size=6, on_bad_frames=policy, complete_last_batch=True)
        batches = all_batches(gen)
        assert all(b.shape == (6, 5, 64, 96, 3) for b in batches)
        assert len(gen.bad_frames) > 0
        assert all(p == str(bad) for p, _ in gen.bad_frames.items())
    # a plain read of the same file still raises, as before
    from gpuvideo.decode.pyav_reader import PyAVReader
    with pytest.raises(VideoError):
        PyAVReader(info).read(range(120))


def test_unopenable_video_is_skipped_with_others(index_videos, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = open(index_videos["h264"], "rb").read()
    cut.write_bytes(data[:len(data) // 2])   # mp4 index lost: cannot be opened
    info = dataclasses.replace(probe(index_videos["h264"]), path=str(cut))
    gen = make([info, index_videos["mpeg4"]], lambda v, f: v == str(cut), length=5, stride=5, batch_size=4,
               on_bad_frames="skip")
    for x, y in all_batches(gen):
        assert x.shape[0] == 4 and not y.any()


def test_memory_does_not_grow_with_video_length(tmp_path):
    """Peak traced allocations (NumPy included) of one pass: the same for 150 and 1500 frames.

    Without read-ahead the peak is deterministic; with it (the default) one more batch may be held."""
    import tracemalloc

    batch_bytes = 16 * 8 * 48 * 64 * 3 * 4    # 4.7 MB; the whole 1500-frame video would be 55 MB
    for prefetch in (0, 1):
        peaks = []
        for n in (150, 1500):
            path = tmp_path / f"v{n}.mp4"
            if not path.exists():
                write_index_video(path, n, width=64, height=48)
            gen = make(str(path), None, length=8, stride=2, batch_size=16, target_shape=(64, 48), prefetch=prefetch)
            gen[0]
            tracemalloc.start()
            for i in range(len(gen)):
                gen[i]
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            gen.close()
            assert gen.seeks <= 1     # only the last batch, completed from the epoch's start, jumps back
        if prefetch == 0:    # 10x the frames: less than one batch more (the last, partial batches differ)
            assert peaks[1] < peaks[0] + batch_bytes
            assert peaks[1] < 2 * batch_bytes
        else:
            assert max(peaks) < 3.5 * batch_bytes    # measured 2.6 batches at most: one batch read ahead
