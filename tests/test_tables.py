"""Labels from a table (from_dataframe / CSV): classes, several labels, numbers, segments, missing files."""
import logging
import os

import numpy as np
import pandas as pd
import pytest

from gpuvideo import SlidingFrameGenerator, VideoFrameGenerator
from gpuvideo.sampling import uniform_indices
from gpuvideo.synthetic import index_frame, read_index, write_timed_video, write_video
from gpuvideo.timestamps import frame_times

N = 6                       # videos; frame i of video k spells 1000 * k + i
LENGTH = {k: 20 + 3 * k for k in range(N)}
KW = dict(target_shape=(64, 48), index_cache=None, progress=False, nb_frames=3)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("table_videos")
    for k in range(N):
        write_video(root / "vids" / f"v{k}.mp4", (index_frame(1000 * k + i) for i in range(LENGTH[k])), codec="h264")
    return root


def video_of(clip):
    """(video number, frame indices) spelled by a decoded clip."""
    pairs = [divmod(read_index(f), 1000) for f in clip]
    assert len({k for k, _ in pairs}) == 1
    return pairs[0][0], [f for _, f in pairs]


def pairs(gen):
    """Every (video number, frames, y) served in one epoch."""
    out = []
    for b in range(len(gen)):
        x, y = gen[b]
        out += [(*video_of(c), t) for c, t in zip(x, y)]
    return out


def test_categorical_labels_reach_y_under_shuffle(root):
    labels = ["walk", "run", "walk", "jump", "run", "walk"]
    df = pd.DataFrame({"filename": [f"vids/v{k}.mp4" for k in range(N)], "class": labels})
    gen = VideoFrameGenerator.from_dataframe(df, directory=root, batch_size=4, shuffle=True, seed=3, **KW)
    assert gen.classes == ["jump", "run", "walk"] and gen.classes_count == 3
    served = pairs(gen)
    assert {k for k, _, _ in served} == set(range(N))
    for k, frames, y in served:
        assert y.tolist() == np.eye(3)[gen.classes.index(labels[k])].tolist()
        assert frames == uniform_indices(LENGTH[k], 3).tolist()
    # given classes set the order; rows with other labels are left out
    some = VideoFrameGenerator.from_dataframe(df, root, classes=["walk", "run"], batch_size=8, shuffle=False, **KW)
    assert some.classes == ["walk", "run"]
    assert [(k, y.tolist()) for k, _, y in pairs(some)][:5] == \
        [(0, [1, 0]), (1, [0, 1]), (2, [1, 0]), (4, [0, 1]), (5, [1, 0])]
    assert [r.label for r in some.rows()][:5] == ["walk", "run", "walk", "run", "walk"]


def test_several_labels_per_video_multi_hot(root, tmp_path):
    labels = [["a"], ["a", "c"], ["b"], ["b", "c", "a"], ["c"], ["b"]]
    df = pd.DataFrame({"video": [str(root / "vids" / f"v{k}.mp4") for k in range(N)], "tags": labels})
    gen = VideoFrameGenerator.from_dataframe(df, x_col="video", y_col="tags", batch_size=4, shuffle=True, seed=1,
                                             **KW)
    assert gen.classes == ["a", "b", "c"]
    for k, _, y in pairs(gen):
        assert y.tolist() == [float(c in labels[k]) for c in "abc"]
    with pytest.raises(ValueError, match="class_weight"):
        gen.class_weight()
    # the same from a CSV file with label_sep
    csv = tmp_path / "tags.csv"
    pd.DataFrame({"video": df.video, "tags": ["|".join(t) for t in labels]}).to_csv(csv, index=False)
    from_csv = VideoFrameGenerator.from_dataframe(str(csv), x_col="video", y_col="tags", label_sep="|",
                                                  batch_size=8, shuffle=False, **KW)
    assert [y.tolist() for _, _, y in pairs(from_csv)][:N] == [[float(c in t) for c in "abc"] for t in labels]


def test_numeric_targets_of_any_shape(root):
    files = [f"vids/v{k}.mp4" for k in range(N)]
    speed = [0.5 * k - 1 for k in range(N)]
    boxes = [np.arange(6, dtype=np.float64).reshape(2, 3) + 10 * k for k in range(N)]
    df = pd.DataFrame({"filename": files, "speed": speed, "w": [k * k for k in range(N)], "box": boxes})
    one = VideoFrameGenerator.from_dataframe(df, root, y_col="speed", class_mode="raw", batch_size=4, shuffle=True,
                                             seed=0, **KW)
    assert one.classes == []
    for k, _, y in pairs(one):
        assert y.shape == () and y == np.float32(speed[k])
    two = VideoFrameGenerator.from_dataframe(df, root, y_col=["speed", "w"], class_mode="raw", batch_size=4,
                                             shuffle=True, seed=0, **KW)
    for k, _, y in pairs(two):
        assert y.tolist() == [speed[k], k * k]
    arr = VideoFrameGenerator.from_dataframe(df, root, y_col="box", class_mode="raw", batch_size=4, shuffle=True,
                                             seed=0, **KW)
    assert arr[0][1].shape == (4, 2, 3) and arr[0][1].dtype == np.float32
    for k, _, y in pairs(arr):
        assert y.tolist() == boxes[k].tolist()


def test_binary_and_sparse(root):
    df = pd.DataFrame({"filename": [f"vids/v{k}.mp4" for k in range(N)], "class": ["no", "yes"] * 3})
    binary = VideoFrameGenerator.from_dataframe(df, root, class_mode="binary", batch_size=8, shuffle=False, **KW)
    assert [(k, float(y)) for k, _, y in pairs(binary)][:N] == [(k, float(k % 2)) for k in range(N)]
    sparse = VideoFrameGenerator.from_dataframe(df, root, class_mode="sparse", classes=["yes", "no"],
                                                batch_size=8, shuffle=False, **KW)
    assert [float(y) for _, _, y in pairs(sparse)][:N] == [1.0, 0.0] * 3


def test_csv_paths_are_relative_to_the_csv_and_missing_files_reported(root, caplog):
    csv = root / "labels.csv"
    rows = ["filename,class"] + [f"vids/v{k}.mp4,{'ab'[k % 2]}" for k in range(N)] + ["vids/gone.mp4,a"] * 2
    csv.write_text("\n".join(rows) + "\n")
    cwd = os.getcwd()
    os.chdir(os.path.dirname(cwd))            # relative paths must not depend on the current folder
    try:
        with caplog.at_level(logging.WARNING, logger="gpuvideo"):
            gen = VideoFrameGenerator.from_dataframe(str(csv), batch_size=8, shuffle=False, **KW)
    finally:
        os.chdir(cwd)
    gone = os.path.join(str(root), "vids", "gone.mp4")
    assert gone in gen.bad_files and len(gen.bad_files) == 1
    assert [b.reason for b in gen.bad_files.items()] == ["file not found"]
    assert sum("gone.mp4" in r.getMessage() for r in caplog.records) == 1     # logged once
    assert len(gen.samples) == N and all("gone" not in s.path for s in gen.samples)
    assert [k for k, _, _ in pairs(gen)][:N] == list(range(N))
    with pytest.raises(FileNotFoundError, match="no readable video"):
        VideoFrameGenerator.from_dataframe(pd.DataFrame({"filename": ["x.mp4"], "class": ["a"]}), root, **KW)
    with pytest.raises(Exception, match="file not found"):
        VideoFrameGenerator.from_dataframe(str(csv), on_error="raise", **KW)


def test_segments_in_frames(root):
    v = str(root / "vids" / "v5.mp4")                                 # 35 frames
    df = pd.DataFrame({"path": [v, v, v], "start": [0, 10, 30], "end": [7, 24, 99], "action": ["x", "y", "x"]})
    gen = VideoFrameGenerator.from_dataframe(df, x_col="path", y_col="action", start_col="start", end_col="end",
                                             batch_size=3, shuffle=False, **KW)
    x, y = gen[0]
    got = [video_of(c) for c in x]
    # frames 0-7, 10-24 and 30-34 (the last segment ends with the video)
    assert got == [(5, uniform_indices(8, 3).tolist()), (5, (10 + uniform_indices(15, 3)).tolist()),
                   (5, (30 + uniform_indices(5, 3)).tolist())]
    assert y.tolist() == [[1, 0], [0, 1], [1, 0]]
    sliding = SlidingFrameGenerator.from_dataframe(df, x_col="path", y_col="action", start_col="start",
                                                   end_col="end", batch_size=64, shuffle=False,
                                                   **{**KW, "nb_frames": 4})
    for s in sliding.samples:
        lo, hi = {0: (0, 7), 1: (10, 24), 2: (30, 34)}[s.row]
        assert lo <= s.indices.min() and s.indices.max() <= hi
    assert {s.row for s in sliding.samples} == {0, 1, 2}
    bad = df.assign(start=[0, 10, 50], end=[7, 24, 60])
    with pytest.raises(ValueError, match="holds no frame"):
        VideoFrameGenerator.from_dataframe(bad, x_col="path", y_col="action", start_col="start", end_col="end",
                                           **KW)
    with pytest.raises(ValueError, match="row 1"):
        VideoFrameGenerator.from_dataframe(df.assign(end=[7, 5, 40]), x_col="path", y_col="action",
                                           start_col="start", end_col="end", **KW)


def test_segments_in_seconds_use_the_files_timestamps(tmp_path):
    times = [0.0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.2, 1.3, 2.5, 2.6, 2.7, 2.8]      # variable frame rate
    v = str(write_timed_video(tmp_path / "vfr.mkv", (index_frame(i) for i in range(len(times))), times))
    df = pd.DataFrame({"filename": [v, v], "t0": [0.95, 2.0], "t1": [1.3, 9.0], "label": [0.0, 1.0]})
    gen = VideoFrameGenerator.from_dataframe(df, y_col="label", class_mode="raw", start_col="t0", end_col="t1",
                                             segment_unit="second", batch_size=2, shuffle=False, **KW)
    x, y = gen[0]
    # 0.95 <= t < 1.3: frames 4, 5, 6; 2.0 <= t < 9: frames 8-11
    assert [[read_index(f) for f in c] for c in x] == [[4, 5, 6], (8 + uniform_indices(4, 3)).tolist()]
    assert y.tolist() == [0.0, 1.0]
    rows = gen.rows()
    np.testing.assert_allclose(rows[0].times, [1.0, 1.1, 1.2])
    assert frame_times(gen._infos[v])[4] == pytest.approx(1.0)


def test_splits_keep_a_videos_rows_together(root):
    files = [str(root / "vids" / f"v{k}.mp4") for k in range(N)]
    df = pd.DataFrame({"filename": [f for f in files for _ in range(2)], "s": [0, 10] * N, "e": [9, 19] * N,
                       "class": ["a", "b"] * N})
    gen = VideoFrameGenerator.from_dataframe(df, start_col="s", end_col="e", split_val=0.34, seed=2, batch_size=4,
                                             **KW)
    val = gen.get_validation_generator()
    train_files, val_files = {s.path for s in gen.samples}, {s.path for s in val.samples}
    assert len(val_files) == 2 and not train_files & val_files and train_files | val_files == set(files)
    assert len(val.samples) == 4                       # both segments of each validation video
    # one class per video: the split is made per class
    single = pd.DataFrame({"filename": files, "class": ["a", "a", "a", "b", "b", "b"]})
    gen = VideoFrameGenerator.from_dataframe(single, split_val=0.34, seed=0, **KW)
    assert sorted(s.label for s in gen.get_validation_generator().samples) == [0, 1]


def test_prediction_on_table_segments(root):
    v = str(root / "vids" / "v2.mp4")
    df = pd.DataFrame({"clip": [v, v], "a": [0, 12], "b": [5, 25]})
    gen = VideoFrameGenerator.for_prediction(df, x_col="clip", start_col="a", end_col="b", batch_size=8, **KW)
    x = gen[0]
    assert not isinstance(x, tuple) and x.shape[0] == 2
    assert [video_of(c)[1] for c in x] == [r.frames.tolist() for r in gen.rows()] == \
        [uniform_indices(6, 3).tolist(), (12 + uniform_indices(14, 3)).tolist()]


def test_table_errors(root):
    files = [f"vids/v{k}.mp4" for k in range(2)]
    with pytest.raises(ValueError, match="row 1: no label"):
        VideoFrameGenerator.from_dataframe(pd.DataFrame({"filename": files, "class": ["a", None]}), root, **KW)
    with pytest.raises(ValueError, match="row 0: y must be a number"):
        VideoFrameGenerator.from_dataframe(pd.DataFrame({"filename": files, "y": ["fast", 1]}), root, y_col="y",
                                           class_mode="raw", **KW)
    with pytest.raises(ValueError, match="not in the table's columns"):
        VideoFrameGenerator.from_dataframe(pd.DataFrame({"file": files, "class": ["a", "b"]}), root, **KW)
    with pytest.raises(ValueError, match="class_mode"):
        VideoFrameGenerator.from_dataframe(pd.DataFrame({"filename": files, "class": ["a", "b"]}), root,
                                           class_mode="onehot", **KW)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        VideoFrameGenerator.from_dataframe(pd.DataFrame({"filename": files * 2, "class": list("abcd")}), root,
                                           class_mode="binary", **KW)
