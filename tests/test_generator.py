import logging

import numpy as np
import pytest

import gpuvideo
from gpuvideo import SlidingFrameGenerator, VideoFrameGenerator
from gpuvideo.sampling import legacy_indices
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


#: uniform frames for nb_frames=5, floor(i * (T - 1) / 4 + 0.5), worked out by hand per video length T
UNIFORM_5 = {37: [0, 9, 18, 27, 36], 60: [0, 15, 30, 44, 59], 45: [0, 11, 22, 33, 44],
             50: [0, 12, 25, 37, 49], 23: [0, 6, 11, 17, 22], 64: [0, 16, 32, 47, 63],
             41: [0, 10, 20, 30, 40], 30: [0, 7, 15, 22, 29], 3: [0, 1, 1, 2, 2]}


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
            # shuffle=False, no split: sample j of the epoch is gen.files[j] (sorted: class, then name);
            # the last batch is completed from the start of the epoch
            path = gen.files[(b * 4 + k) % 9]
            assert gen.classes[int(y[k].argmax())] in path
            seen.setdefault(path, []).append([read_index(f) for f in clip])
    assert len(seen) == 9                    # every file served in the epoch
    for path, got in seen.items():
        assert got == [UNIFORM_5[lengths[path]]] * len(got), path
    assert sorted(len(g) for g in seen.values()) == [1] * 6 + [2] * 3     # 12 slots: 3 files twice


def test_legacy_sampling_reproduces_keras_video(index_dataset):
    pattern, lengths = index_dataset
    gen = make(pattern, nb_frames=5, batch_size=9, target_shape=(64, 48), shuffle=False, sampling="legacy")
    x, _ = gen[0]
    for k, clip in enumerate(x):
        path = gen.files[k]                  # shuffle=False: epoch order is the sorted file list
        assert [read_index(f) for f in clip] == legacy_indices(lengths[path], 5).tolist()


def test_short_video_is_padded_and_logged_once(index_dataset, caplog):
    pattern, _ = index_dataset
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        gen = make(pattern, nb_frames=5, batch_size=9, target_shape=(64, 48), shuffle=False)
    assert sum("fewer than 5" in r.message for r in caplog.records) == 1
    short = [s for s in gen.samples if s.path.endswith("gamma/v2.avi")][0]
    assert short.indices.tolist() == [0, 1, 1, 2, 2]
    x, _ = gen[0]
    clip = x[gen.files.index(short.path)]    # shuffle=False: epoch order is the sorted file list
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


def _epoch_lengths(gen):
    """Video lengths in the order one epoch serves them: every video has its own length and
    uniform sampling ends on its last frame, so the last frame of a clip names the video."""
    return [read_index(clip[-1]) + 1 for b in range(len(gen)) for clip in gen[b][0]]


def test_shuffle_is_seeded_and_changes_per_epoch(index_dataset):
    pattern, lengths = index_dataset
    assert len(set(lengths.values())) == 9
    a = make(pattern, nb_frames=2, batch_size=3, target_shape=(32, 24), seed=3)
    b = make(pattern, nb_frames=2, batch_size=3, target_shape=(32, 24), seed=3)
    first = _epoch_lengths(a)
    assert sorted(first) == sorted(lengths.values())      # each video once
    assert first == _epoch_lengths(b)
    assert first != [lengths[p] for p in sorted(lengths)]          # not the unshuffled order
    a.on_epoch_end()
    second = _epoch_lengths(a)
    assert sorted(second) == sorted(first) and second != first


def test_next_is_endless_and_calls_on_epoch_end(index_dataset):
    pattern, _ = index_dataset
    gen = make(pattern, nb_frames=2, batch_size=4, target_shape=(32, 24), seed=0)
    assert len(gen) == 3
    for _ in range(7):
        x, y = next(gen)
        assert x.shape[0] == 4
    assert gen.epoch == 2
    np.testing.assert_array_equal(next(gen)[0], gen[1][0])    # 8th call: batch 1 of the third epoch
    assert len(list(iter(gen))) == 3        # plain iteration is one epoch


def test_splits_and_derived_generators(index_dataset):
    pattern, _ = index_dataset
    calls = []

    def aug(clip, rng):
        calls.append(1)
        return clip

    gen = make(pattern, nb_frames=3, batch_size=2, target_shape=(32, 24), split_val=0.34, seed=1,
               transformation=aug, nb_channel=1, prefetch=0)       # no batch read ahead: counts are per batch
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


@pytest.mark.tensorflow
def test_legacy_image_data_generator_interface(index_dataset):
    pattern, _ = index_dataset
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    kw = dict(nb_frames=3, batch_size=9, target_shape=(32, 24), seed=2, shuffle=False)
    plain, _ = make(pattern, **kw)[0]
    # a flip drawn per clip (probability 1/2): each clip is the untransformed one or its exact mirror
    x, _ = make(pattern, transformation=ImageDataGenerator(horizontal_flip=True), **kw)[0]
    assert x.shape == (9, 3, 24, 32, 3) and np.isfinite(x).all()
    flipped = 0
    for a, b in zip(x, plain):
        same, mirror = np.array_equal(a, b), np.array_equal(a, b[:, :, ::-1])
        assert same or mirror                 # every frame of a clip treated alike
        flipped += mirror and not same
    assert 0 < flipped < 9
    # a rotation of up to 10 degrees: every clip changes
    x, _ = make(pattern, transformation=ImageDataGenerator(rotation_range=10), **kw)[0]
    assert x.shape == (9, 3, 24, 32, 3) and np.isfinite(x).all()
    for a, b in zip(x, plain):
        assert not np.allclose(a, b, atol=1e-3)


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


def test_decode_failure_is_replaced_by_same_class(index_dataset, tmp_path):
    """A file that goes bad after indexing fails at decode time: replaced by a video of its class, or raised."""
    import shutil
    from pathlib import Path

    pattern, _ = index_dataset
    work = tmp_path / "ds"
    shutil.copytree(Path(pattern).parent.parent, work)
    kw = dict(nb_frames=3, batch_size=9, target_shape=(32, 24), shuffle=False)
    gen = make(str(work / "{classname}" / "*.*"), **kw)
    strict = make(str(work / "{classname}" / "*.*"), on_error="raise", **kw)
    victim = gen.files[0]                    # shuffle=False: the first sample of the epoch
    assert victim == str(work / "alpha" / "v0.mp4") and not gen.bad_files
    Path(victim).write_bytes(b"\0" * 4096)   # corrupt on disk after indexing
    x, y = gen[0]
    assert x.shape[0] == 9 and victim in gen.bad_files
    assert [b.stage for b in gen.bad_files.items()] == ["decode"]
    assert gen.classes[int(y[0].argmax())] == "alpha"             # replacement keeps the label
    # ... and is another alpha video (v1: 60 frames, v2: 45): its clip ends on that video's last frame
    assert read_index(x[0][-1]) + 1 in (LENGTHS["alpha"][1], LENGTHS["alpha"][2])
    info = gen.batch_info(0)[0]                                   # the public view agrees
    assert info.path != victim and info.label == "alpha" and read_index(x[0][-1]) == info.frames[-1]
    with pytest.raises(gpuvideo.VideoError, match="v0.mp4"):
        strict[0]


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
def test_use_headers_false_counts_frames_by_decoding(index_dataset, monkeypatch):
    """keras_video's use_headers=False reaches the indexer: frames are counted by decoding."""
    import gpuvideo.probe as probe_mod

    pattern, lengths = index_dataset
    seen = []
    real = probe_mod.probe

    def spy(path, count_by_decoding=False):
        seen.append(count_by_decoding)
        return real(path, count_by_decoding)

    monkeypatch.setattr(probe_mod, "probe", spy)
    gen = make(pattern, nb_frames=3, target_shape=(32, 24), use_headers=False)
    assert len(seen) == len(lengths) and all(seen)
    x, _ = gen[0]
    assert x.shape == (gen.batch_size, 3, 24, 32, 3)
    seen.clear()
    make(pattern, nb_frames=3, target_shape=(32, 24), use_headers=True)
    assert seen and not any(seen)
