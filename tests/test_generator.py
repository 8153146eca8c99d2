import logging

import numpy as np
import pytest

import gpuvideo
from gpuvideo import SlidingFrameGenerator, VideoFrameGenerator
from gpuvideo.sampling import legacy_indices, uniform_indices
from gpuvideo.synthetic import read_index, write_index_video

LENGTHS = {"alpha": [37, 60, 45], "beta_two": [50, 23, 64], "gamma": [41, 30, 3]}


@pytest.fixture(scope="module")
def index_dataset(tmp_path_factory):
    """3 classes of index-coded videos (frame i spells i) in H.264 and MPEG-4; one 3-frame video."""
    root = tmp_path_factory.mktemp("index_ds")
    codecs = ["h264", "mpeg4_bframes", "mpeg4"]
    lengths = {}
    for cls, ns in LENGTHS.items():
        for k, n in enumerate(ns):
            suffix = ".mp4" if codecs[k] == "h264" else ".avi"
            p = write_index_video(root / cls / f"v{k}{suffix}", n, width=128, height=96, codec=codecs[k])
            lengths[str(p)] = n
    return str(root / "{classname}" / "*.*"), lengths


def make(pattern, **kw):
    kw.setdefault("index_cache", None)
    kw.setdefault("progress", False)
    return VideoFrameGenerator(glob_pattern=pattern, **kw)


def _decoded_indices(x):
    return [[read_index(f) for f in clip] for clip in x]


def test_keras_video_names_and_defaults():
    import inspect

    import gpuvideo as keras_video
    assert keras_video.generator.VideoFrameGenerator is VideoFrameGenerator
    assert keras_video.sliding.SlidingFrameGenerator is SlidingFrameGenerator
    params = list(inspect.signature(VideoFrameGenerator).parameters.values())
    names = [p.name for p in params[:13]]
    assert names == ["rescale", "nb_frames", "classes", "batch_size", "use_frame_cache", "target_shape", "shuffle",
                     "transformation", "split_test", "split_val", "nb_channel", "glob_pattern", "use_headers"]
    defaults = [p.default for p in params[:13]]
    assert defaults == [1 / 255.0, 5, None, 16, False, (224, 224), True, None, None, None, 3,
                        "./videos/{classname}/*.avi", True]
    assert issubclass(VideoFrameGenerator, __import__("keras").utils.PyDataset)


def test_batches_shapes_labels_and_exact_frames(index_dataset):
    pattern, lengths = index_dataset
    gen = make(pattern, nb_frames=5, batch_size=4, target_shape=(64, 48), shuffle=False)
    assert gen.classes == sorted(LENGTHS) and gen.classes_count == 3
    assert gen.files_count == 9 and len(gen.files) == 9
    assert len(gen) == 3                     # ceil(9 / 4)
    seen = {}
    for b in range(len(gen)):
        x, y = gen[b]
        assert x.shape == (4, 5, 48, 64, 3) and x.dtype == np.float32
        assert y.shape == (4, 3) and y.dtype == np.float32 and np.all(y.sum(1) == 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        for k, clip in enumerate(x):
            sid = int(gen._order[(b * 4 + k) % 9])
            path = gen.samples[sid].path
            assert gen.classes[int(y[k].argmax())] in path
            seen[path] = [read_index(f) for f in clip]
    assert len(seen) == 9                    # every file served once in the epoch
    for path, got in seen.items():
        assert got == uniform_indices(lengths[path], 5).tolist(), path


def test_legacy_sampling_reproduces_keras_video(index_dataset):
    pattern, lengths = index_dataset
    gen = make(pattern, nb_frames=5, batch_size=9, target_shape=(64, 48), shuffle=False, sampling="legacy")
    x, _ = gen[0]
    for k, clip in enumerate(x):
        path = gen.samples[int(gen._order[k])].path
        assert [read_index(f) for f in clip] == legacy_indices(lengths[path], 5).tolist()


def test_short_video_is_padded_and_logged_once(index_dataset, caplog):
    pattern, _ = index_dataset
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        gen = make(pattern, nb_frames=5, batch_size=9, target_shape=(64, 48), shuffle=False)
    assert sum("fewer than 5" in r.message for r in caplog.records) == 1
    short = [s for s in gen.samples if s.path.endswith("gamma/v2.avi")][0]
    assert short.indices.tolist() == [0, 1, 1, 2, 2]
    x, _ = gen[0]
    clip = x[[int(i) for i in gen._order].index(gen.samples.index(short))]
    assert [read_index(f) for f in clip] == [0, 1, 1, 2, 2]


def test_grey_frames_use_luma_weights(index_dataset):
    import cv2

    pattern, _ = index_dataset
    rgb = make(pattern, nb_frames=3, batch_size=2, target_shape=(32, 24), shuffle=False, rescale=1)
    grey = make(pattern, nb_frames=3, batch_size=2, target_shape=(32, 24), shuffle=False, rescale=1, nb_channel=1)
    xr, _ = rgb[0]
    xg, _ = grey[0]
    assert xg.shape == (2, 3, 24, 32, 1)
    want = np.stack([[cv2.cvtColor(f.astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in clip] for clip in xr])
    np.testing.assert_array_equal(xg[..., 0], want)


def test_shuffle_is_seeded_and_changes_per_epoch(index_dataset):
    pattern, _ = index_dataset
    a = make(pattern, nb_frames=2, batch_size=3, target_shape=(32, 24), seed=3)
    b = make(pattern, nb_frames=2, batch_size=3, target_shape=(32, 24), seed=3)
    assert a._order.tolist() == b._order.tolist()
    first = a._order.tolist()
    a.on_epoch_end()
    assert sorted(a._order.tolist()) == sorted(first) and a._order.tolist() != first


def test_next_is_endless_and_calls_on_epoch_end(index_dataset):
    pattern, _ = index_dataset
    gen = make(pattern, nb_frames=2, batch_size=4, target_shape=(32, 24), seed=0)
    assert len(gen) == 3
    for _ in range(7):
        x, y = next(gen)
        assert x.shape[0] == 4
    assert gen.epoch == 2 and gen._current == 1
    assert len(list(iter(gen))) == 3        # plain iteration is one epoch


def test_splits_and_derived_generators(index_dataset):
    pattern, _ = index_dataset
    calls = []

    def aug(clip, rng):
        calls.append(1)
        return clip

    gen = make(pattern, nb_frames=3, batch_size=2, target_shape=(32, 24), split_val=0.34, seed=1,
               transformation=aug, nb_channel=1)
    assert gen.files_count == 6 and len(gen.validation) == 3 and gen.test == []
    val = gen.get_validation_generator()
    assert sorted(val.files) == sorted(gen.validation) and not set(val.files) & set(gen.files)
    assert val.transformation is None and val.shuffle is False and val.nb_channel == 1
    assert val.classes == gen.classes
    n = len(calls)
    val[0]
    assert len(calls) == n                   # validation never augments
    gen[0]
    assert len(calls) == n + 2
    with pytest.raises(ValueError, match="split_test"):
        gen.get_test_generator()
    old = make(pattern, nb_frames=3, batch_size=2, target_shape=(32, 24), split=0.34, seed=1)
    assert sorted(old.validation) == sorted(gen.validation)
    t = make(pattern, nb_frames=3, batch_size=2, target_shape=(32, 24), split_test=0.34, seed=1)
    assert len(t.get_test_generator().files) == 3


def test_transformations_apply_one_draw_per_clip(index_dataset):
    pattern, _ = index_dataset

    def flip_or_not(clip, rng):
        return clip[:, :, ::-1] if rng.random() < 0.5 else clip

    gen = make(pattern, nb_frames=4, batch_size=9, target_shape=(32, 24), transformation=flip_or_not, seed=0,
               shuffle=False)
    ref = make(pattern, nb_frames=4, batch_size=9, target_shape=(32, 24), seed=0, shuffle=False)
    x, _ = gen[0]
    r, _ = ref[0]
    flipped = 0
    for a, b in zip(x, r):
        same = np.array_equal(a, b)
        flip = np.array_equal(a, b[:, :, ::-1])
        assert same or flip                  # every frame of a clip treated alike
        flipped += flip and not same
    assert 0 < flipped < 9
    np.testing.assert_array_equal(gen[0][0], x)   # same epoch, same draws


def test_legacy_image_data_generator_interface(index_dataset):
    pattern, _ = index_dataset
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    idg = ImageDataGenerator(horizontal_flip=True, rotation_range=10)
    gen = make(pattern, nb_frames=3, batch_size=3, target_shape=(32, 24), transformation=idg, seed=2)
    x, _ = gen[0]
    assert x.shape == (3, 3, 24, 32, 3) and np.isfinite(x).all()


def test_frame_cache_stays_under_budget(index_dataset):
    pattern, _ = index_dataset
    clip_bytes = 4 * 24 * 32 * 3
    gen = make(pattern, nb_frames=4, batch_size=3, target_shape=(32, 24), use_frame_cache=True,
               cache_bytes=int(2.5 * clip_bytes), shuffle=False)
    first = gen[0][0]
    for b in range(len(gen)):
        gen[b]
    assert len(gen.cache) == 2 and gen.cache.nbytes <= 2.5 * clip_bytes
    gen[len(gen) - 1]
    assert gen.cache.hits > 0
    np.testing.assert_array_equal(gen[0][0], first)
    off = make(pattern, nb_frames=4, batch_size=3, target_shape=(32, 24))
    assert off.cache is None


def test_bad_files_are_reported_and_replaced(index_dataset, tmp_path, caplog):
    import shutil
    from pathlib import Path

    pattern, _ = index_dataset
    root = Path(pattern).parent.parent
    work = tmp_path / "ds"
    shutil.copytree(root, work)
    (work / "alpha" / "zero.avi").write_bytes(b"")
    (work / "alpha" / "text.mp4").write_text("not a video")
    data = (work / "beta_two" / "v0.mp4").read_bytes()
    broken = work / "beta_two" / "broken.mp4"
    broken.write_bytes(data[:600] + b"\0" * 3000 + data[3600:])    # garbage over the header
    avi = (work / "gamma" / "v1.avi").read_bytes()
    (work / "gamma" / "noisy.avi").write_bytes(avi[:len(avi) // 2] + bytes(range(256)) * 8 + avi[len(avi) // 2 + 2048:])
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*")}
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        gen = make(str(work / "{classname}" / "*.*"), nb_frames=4, batch_size=5, target_shape=(32, 24), seed=0)
        for _ in range(2 * len(gen)):
            x, y = next(gen)
            assert x.shape == (5, 4, 24, 32, 3) and np.isfinite(x).all()
    bad = {b.path: b for b in gen.bad_files.items()}
    assert str(work / "alpha" / "zero.avi") in bad and bad[str(work / "alpha" / "zero.avi")].stage == "index"
    assert str(work / "alpha" / "text.mp4") in bad
    # logged once each; problems found while indexing (a truncated file) are logged by the probe, once per file
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name != "gpuvideo.probe"]
    assert len(warnings) == len(bad)         # logged once each
    index_warned = [r.args[0] for r in caplog.records if r.levelno == logging.WARNING and r.name == "gpuvideo.probe"]
    assert len(index_warned) == len(set(index_warned))
    assert before == {p: p.stat().st_mtime_ns for p in work.rglob("*")}     # nothing changed on disk
    with pytest.raises(gpuvideo.VideoError, match="text.mp4|zero.avi"):
        make(str(work / "{classname}" / "*.*"), nb_frames=4, target_shape=(32, 24), on_error="raise")


def test_decode_failure_is_replaced_by_same_class(index_dataset, monkeypatch):
    pattern, _ = index_dataset
    gen = make(pattern, nb_frames=3, batch_size=9, target_shape=(32, 24), shuffle=False)
    victim = gen.samples[0].path
    real = gen._decode

    def failing(sample):
        if sample.path == victim:
            raise gpuvideo.VideoError(sample.path, "simulated corrupt packet")
        return real(sample)

    monkeypatch.setattr(gen, "_decode", failing)
    x, y = gen[0]
    assert x.shape[0] == 9 and victim in gen.bad_files
    assert y[0].argmax() == gen.samples[0].label      # replacement keeps the label
    gen.on_error = "raise"
    monkeypatch.setattr(gen, "bad_files", gpuvideo.errors.BadVideoReport())
    with pytest.raises(gpuvideo.VideoError, match="simulated"):
        gen[0]


def test_errors_for_bad_arguments(index_dataset, tmp_path):
    pattern, _ = index_dataset
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make(str(tmp_path / "nowhere" / "{classname}" / "*.avi"))
    with pytest.raises(ValueError, match="nb_channel"):
        make(pattern, nb_channel=2)
    with pytest.raises(ValueError, match="sampling"):
        make(pattern, sampling="random")
    with pytest.raises(ValueError, match="split_val"):
        make(pattern, split_val=1.2)


def test_sliding_windows_return_their_own_frames(index_dataset):
    pattern, lengths = index_dataset
    gen = SlidingFrameGenerator(glob_pattern=pattern, nb_frames=4, batch_size=8, target_shape=(32, 24),
                                sequence_time=0.8, shuffle=False, index_cache=None, progress=False)
    # 0.8 s at 25 fps = 20 frames -> step 5; windows start at every frame
    total = sum(max(1, n - 15) for n in lengths.values())
    assert len(gen.samples) == total and len(gen) == -(-total // 8)
    x, _ = gen[0]
    first = gen.samples[0]
    assert [read_index(f) for f in x[0]] == first.indices.tolist() == [0, 5, 10, 15]
    assert [read_index(f) for f in x[1]] == [1, 6, 11, 16]
    assert not np.array_equal(x[0], x[1])
    whole = SlidingFrameGenerator(glob_pattern=pattern, nb_frames=4, batch_size=8, target_shape=(32, 24),
                                  window_stride=2, index_cache=None, progress=False, split_val=0.34, seed=0)
    val = whole.get_validation_generator()
    assert val.window_stride == 2 and val.sequence_time is None and isinstance(val, SlidingFrameGenerator)
