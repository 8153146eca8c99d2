"""Per-frame timelines: the window-to-frame rules, VFR times, and a long video's known anomalies recovered."""
import csv

import numpy as np
import pytest

from gpuvideo import cli
from gpuvideo.synthetic import anomaly_frames, anomaly_labels, index_frame, write_once, write_timed_video
from gpuvideo.timeline import Timeline, frame_scores, timeline
from gpuvideo.timeseries import VideoTimeseriesGenerator

FRAMES, SEED, LENGTH = 800, 0, 8
#: anomaly_labels(800, 0): frames 270-418 and 696-792 shake
TRUE = [(270, 418), (696, 792)]
GEN = dict(length=LENGTH, stride=2, batch_size=64, target_shape=(32, 32), nb_channel=1, index_cache=False)


@pytest.fixture(scope="module")
def anomaly_video(tmp_path_factory):
    labels = anomaly_labels(FRAMES, SEED)
    runs = np.flatnonzero(np.diff(np.concatenate([[0], labels, [0]])))
    assert [(a, b - 1) for a, b in runs.reshape(-1, 2)] == TRUE
    path = tmp_path_factory.mktemp("anomaly") / "anomaly.mp4"
    return write_once(path, anomaly_frames(labels, 64, 64, seed=SEED)), labels


def shake_model():
    """A fixed (untrained) Keras model scoring a window by how much its frames jerk: the mean absolute second
    difference in time (Conv3D with taps 1, -2, 1 and their negation, ReLU, mean), through a steep sigmoid
    around 0.015 (a smooth glide gives about 0.006, shaking about 0.025 and more)."""
    import keras

    model = keras.Sequential([
        keras.Input((LENGTH, 32, 32, 1)),
        keras.layers.Conv3D(2, (3, 1, 1), use_bias=False, activation="relu"),
        keras.layers.GlobalAveragePooling3D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    taps = np.array([1.0, -2.0, 1.0], np.float32)
    model.layers[0].set_weights([np.stack([taps, -taps], -1).reshape(3, 1, 1, 1, 2)])
    model.layers[2].set_weights([np.full((2, 1), 1000.0, np.float32), np.array([-15.0], np.float32)])
    return model


def test_frame_scores_rules():
    first, last = np.array([0, 2, 4]), np.array([3, 5, 7])
    out = np.array([1.0, 2.0, 4.0])
    mean, counts = frame_scores(first, last, out, 10, "mean")
    np.testing.assert_allclose(mean, [1, 1, 1.5, 1.5, 3, 3, 4, 4, np.nan, np.nan])
    assert counts.tolist() == [1, 1, 2, 2, 2, 2, 1, 1, 0, 0]
    high, _ = frame_scores(first, last, out, 10, "max")
    np.testing.assert_allclose(high, [1, 1, 2, 2, 4, 4, 4, 4, np.nan, np.nan])
    several, _ = frame_scores(first, last, np.stack([out, -out], 1), 10, "max")
    assert several.shape == (10, 2) and several[5].tolist() == [4, -2]
    with pytest.raises(ValueError, match="rule"):
        frame_scores(first, last, out, 10, "median")
    with pytest.raises(ValueError, match="outside"):
        frame_scores(first, last, out, 7)


def test_intervals_and_table():
    tl = Timeline(("a.mp4", "b.mp4"), np.array([0] * 6 + [1] * 4), np.r_[0:6, 0:4],
                  np.r_[0:6, 0:4] * 0.5, np.array([0, .6, .9, .2, .7, .8, .9, np.nan, .1, .95]), np.ones(10, int))
    got = tl.intervals(0.5)
    assert [(i.video, i.first_frame, i.last_frame, i.start, i.end, i.peak) for i in got] == \
        [("a.mp4", 1, 2, 0.5, 1.5, 0.9), ("a.mp4", 4, 5, 2.0, 3.0, 0.8), ("b.mp4", 0, 0, 0.0, 0.5, 0.9),
         ("b.mp4", 3, 3, 1.5, 2.0, 0.95)]
    assert [i.first_frame for i in tl.intervals(0.5, min_frames=2)] == [1, 4]
    frame = tl.to_dataframe()
    assert list(frame.columns) == ["video", "frame", "time", "score", "windows"] and len(frame) == 10


def test_vfr_times_in_the_timeline(tmp_path):
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 0.58, 2.0, 2.04, 2.08, 2.12]
    v = str(write_timed_video(tmp_path / "vfr.mkv", (index_frame(i) for i in range(len(times))), times))
    gen = VideoTimeseriesGenerator(v, None, length=3, stride=1, batch_size=4, target_shape=(32, 24), index_cache=False)
    tl = timeline(gen, np.arange(gen.num_rows, dtype=float))      # window j scores j
    np.testing.assert_allclose(tl.time, times)
    np.testing.assert_allclose(tl.score, [0, 0.5, 1, 2, 3, 4, 5, 6, 6.5, 7])
    assert tl.intervals(5.5)[0][1:5] == (7, 9, 2.04, pytest.approx(2.16))


def check_recovered(intervals, slack):
    assert len(intervals) == len(TRUE), intervals
    for got, (a, b) in zip(intervals, TRUE):
        assert abs(got.first_frame - a) <= slack and abs(got.last_frame - b) <= slack, (got, a, b)
        assert got.start == pytest.approx(got.first_frame / 25.0)


def test_known_anomalies_are_recovered(anomaly_video):
    path, labels = anomaly_video
    gen = VideoTimeseriesGenerator(path, None, **GEN)
    predictions = shake_model().predict(gen, verbose=0)
    assert predictions.shape == (gen.num_rows, 1) == (len(gen.rows()), 1)
    for rule in ("mean", "max"):
        tl = timeline(gen, predictions, rule)
        assert tl.score.shape == (FRAMES, 1) and tl.windows.max() == LENGTH // 2
        assert tl.windows[:3].tolist() == [1, 1, 2] and not np.isnan(tl.score).any()
        check_recovered(tl.intervals(0.5), slack=LENGTH)
        agree = ((tl.scores() >= 0.5) == labels.astype(bool))[~np.isnan(tl.scores())].mean()
        assert agree > 0.97


def test_timeline_command(anomaly_video, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GPUVIDEO_CACHE_DIR", str(tmp_path / "cache"))
    path, labels = anomaly_video
    model_path = tmp_path / "shake.keras"
    shake_model().save(model_path)
    prefix = tmp_path / "out" / "anomaly"
    rc = cli.main(["-q", "timeline", str(model_path), path, "--stride", "2", "--out", str(prefix)])
    assert rc == 0
    out = capsys.readouterr().out
    assert str(prefix) + ".csv" in out and str(prefix) + ".png" in out and "2 interval(s)" in out
    with open(str(prefix) + ".csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == FRAMES and list(rows[0]) == ["video", "frame", "time", "score", "windows"]
    assert rows[300]["time"] == "12" and float(rows[300]["score"]) > 0.5 and float(rows[100]["score"]) < 0.5
    with open(str(prefix) + "_intervals.csv") as f:
        found = [(int(r["first_frame"]), int(r["last_frame"])) for r in csv.DictReader(f)]
    assert all(abs(a - x) <= LENGTH and abs(b - y) <= LENGTH for (a, b), (x, y) in zip(found, TRUE))
    png = (prefix.parent / "anomaly.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert cli.main(["-q", "timeline", str(model_path), str(tmp_path / "none.mp4")]) == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["-q", "timeline", str(model_path), path, "--stride", "0"])
    assert e.value.code == 2


def test_demo_long_writes_the_timeline(tmp_path):
    from gpuvideo.cli.demo import run_long_demo

    res = run_long_demo(tmp_path, epochs=1, nb_frames=400)
    with open(res["timeline_csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 400 and rows[0]["video"] == res["video"]
    assert open(res["timeline_png"], "rb").read(4) == b"\x89PNG"
    assert res["true_intervals"] == 1 and 0.0 <= res["timeline_agreement"] <= 1.0
    import keras

    assert keras.saving.load_model(res["model"]).input_shape == (None, 8, 32, 32, 1)
