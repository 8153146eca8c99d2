"""Prediction on unlabelled videos: model.predict rows map back to the right files and frames."""
import os

import numpy as np
import pytest

from gpuvideo import OpticalFlowGenerator, SlidingFrameGenerator, VideoFrameGenerator
from gpuvideo.flow import METHOD_ABS_DIFF
from gpuvideo.sampling import sliding_windows, uniform_indices
from gpuvideo.synthetic import index_frame, read_index, write_index_video, write_video
from gpuvideo.timeseries import VideoTimeseriesGenerator

#: video number -> frame count; frame i of video k spells 1000 * k + i, so a frame names its file
LENGTHS = {0: 31, 1: 44, 2: 27}
KW = dict(target_shape=(64, 48), index_cache=None, progress=False)


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """Videos whose frames spell (video number, frame index); returns {path: video number}."""
    root = tmp_path_factory.mktemp("coded")
    out = {}
    for k, n in LENGTHS.items():
        codec, suffix = ("h264", ".mp4") if k != 1 else ("mpeg4", ".avi")
        path = root / "plain" / f"clip_{k}{suffix}"
        write_video(path, (index_frame(1000 * k + i) for i in range(n)), codec=codec)
        out[str(path)] = k
    return out


def spelled(clip):
    """Decoded (video number, frame index) of each frame of a clip."""
    return [divmod(read_index(f), 1000) for f in clip]


def identity_model(shape):
    import keras

    return keras.Sequential([keras.Input(shape), keras.layers.Identity()])


def check_rows_against_predictions(gen, coded):
    """model.predict(gen) with an identity model: each output row shows the file and frames rows() names."""
    rows = gen.rows()
    assert len(rows) == gen.num_rows
    out = identity_model(gen[0].shape[1:]).predict(gen, verbose=0)
    assert out.shape[0] == gen.num_rows
    for r, pred in zip(rows, out):
        assert spelled(pred) == [(coded[r.path], int(f)) for f in r.frames], r
        assert not r.bad
    return rows


def test_clip_rows_follow_the_list_order(coded):
    paths = sorted(coded, key=lambda p: -coded[p])          # 2, 1, 0: not sorted by name
    gen = VideoFrameGenerator.for_prediction(paths, nb_frames=4, batch_size=2, **KW)
    assert len(gen) == 2 and gen.num_rows == 3
    assert not isinstance(gen[0], tuple) and gen[0].shape == (2, 4, 48, 64, 3)
    assert gen[1].shape[0] == 1                              # last batch shorter, no padding
    rows = check_rows_against_predictions(gen, coded)
    assert [r.path for r in rows] == paths
    for r in rows:
        n = LENGTHS[coded[r.path]]
        assert r.frames.tolist() == uniform_indices(n, 4).tolist()
        np.testing.assert_allclose(r.times, r.frames / 25.0)
        assert r.label is None


def test_sliding_rows_every_window_exactly_once(coded):
    root = os.path.dirname(next(iter(coded)))
    gen = SlidingFrameGenerator.for_prediction(os.path.join(root, "*.*"), nb_frames=3, batch_size=16,
                                               sequence_time=0.5, window_stride=4, **KW)
    rows = check_rows_against_predictions(gen, coded)
    expected = [(p, tuple(w)) for p in sorted(coded) for w in sliding_windows(LENGTHS[coded[p]], 25.0, 3, 0.5, 4)]
    assert [(r.path, tuple(r.frames)) for r in rows] == expected      # glob matches sorted, windows in order
    frame = gen.rows(as_dataframe=True)
    assert list(frame.columns) == ["row", "sample", "path", "first_frame", "last_frame", "first_time",
                                   "last_time", "frames", "label", "bad"]
    assert len(frame) == len(expected) and frame.row.tolist() == list(range(len(expected)))
    assert frame.first_frame.tolist() == [w[0] for _, w in expected]
    assert frame.last_time.tolist() == pytest.approx([w[-1] / 25.0 for _, w in expected])


def test_flow_rows_and_their_frames(coded):
    paths = sorted(coded)
    gen = OpticalFlowGenerator.for_prediction(paths, nb_frames=3, batch_size=2, method=METHOD_ABS_DIFF, **KW)
    rows = gen.rows()
    assert [r.path for r in rows] == paths and gen.num_rows == 3
    out = identity_model(gen[0].shape[1:]).predict(gen, verbose=0)
    batches = np.concatenate([gen[b] for b in range(len(gen))])
    assert out.shape == (3, 3, 48, 64, 3)
    np.testing.assert_allclose(out, batches, atol=1e-6)
    for r in rows:
        assert r.frames.tolist() == uniform_indices(LENGTHS[coded[r.path]], 4).tolist()
        assert spelled(gen.decoded_clip(r.sample)) == [(coded[r.path], int(f)) for f in r.frames]


def test_class_folders_keep_their_names_without_y(tmp_path):
    for cls, n in (("cats", 12), ("dogs", 14)):
        write_index_video(tmp_path / cls / "a.mp4", n, codec="h264")
    gen = VideoFrameGenerator.for_prediction(str(tmp_path / "{classname}" / "*.mp4"), nb_frames=2, batch_size=4,
                                             **KW)
    assert not isinstance(gen[0], tuple)
    assert [r.label for r in gen.rows()] == ["cats", "dogs"]


def test_unreadable_and_undecodable_files(coded, tmp_path):
    paths = sorted(coded)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    late = tmp_path / "late.mp4"
    write_video(late, (index_frame(5000 + i) for i in range(20)), codec="h264")
    gen = VideoFrameGenerator.for_prediction([paths[0], str(broken), str(late), paths[1]], nb_frames=3,
                                             batch_size=8, **KW)
    assert str(broken) in gen.bad_files and gen.num_rows == 3          # unreadable: no row
    late.write_bytes(b"\0" * 2000)                                       # indexed, then damaged
    x = gen[0]
    rows = gen.rows()
    assert [r.path for r in rows] == [paths[0], str(late), paths[1]]
    assert [r.bad for r in rows] == [False, True, False]
    assert not x[1].any()                                                # its row stays, as zeros
    assert spelled(x[2]) == [(coded[paths[1]], int(f)) for f in rows[2].frames]
    assert [b.stage for b in gen.bad_files.items()] == ["index", "decode"]


def test_for_prediction_refuses_training_options(coded):
    paths = sorted(coded)
    with pytest.raises(ValueError, match="shuffle"):
        VideoFrameGenerator.for_prediction(paths, shuffle=True, **KW)
    with pytest.raises(ValueError, match="split_val"):
        VideoFrameGenerator.for_prediction(paths, split_val=0.2, **KW)
    with pytest.raises(FileNotFoundError, match="no video file matches"):
        VideoFrameGenerator.for_prediction(os.path.join(os.path.dirname(paths[0]), "*.mkv"), **KW)
    with pytest.raises(ValueError, match="classes"):
        VideoFrameGenerator.for_prediction(paths, classes=["a"], **KW)
    with pytest.raises(IndexError):
        VideoFrameGenerator.for_prediction(paths, nb_frames=2, **KW).row_info(3)


def test_timeseries_rows_are_its_windows(coded):
    paths = sorted(coded)[:2]
    gen = VideoTimeseriesGenerator(paths, None, length=4, sampling_rate=2, stride=5, batch_size=4,
                                   target_shape=(64, 48), index_cache=False)
    rows = check_rows_against_predictions(gen, coded)
    assert len(rows) == gen.num_windows
    for r in rows:
        path, frames = gen.window(r.sample)
        assert r.path == path and r.frames.tolist() == frames.tolist()
