"""The corpus of broken and odd videos (:func:`gpuvideo.testing.write_corpus`) through every generator kind,
with Keras thread workers and process workers: no exception, no hang, every batch full and finite, every
clip of an intact file exact, every unusable file reported once with its reason, problems of usable files
listed in ``gen.warnings``, and nothing written beside the data."""
import logging
import os
from pathlib import Path

import numpy as np
import pytest

import gpuvideo
from gpuvideo.testing import BAD, EXACT, REPORTED, index_of, write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from gpuvideo.synthetic import write_index_video

    root = tmp_path_factory.mktemp("corpus") / "data"
    records = write_corpus(root)
    for kind in {r.kind for r in records}:          # every class keeps usable videos
        for k in range(2):
            write_index_video(root / kind / f"zz_good_{k}.mp4", 48)
    return root, [r for r in records if os.path.isfile(r.path) or os.path.islink(r.path)]


def _snapshot(root: Path) -> dict:
    return {str(p): (p.is_symlink(), p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def _epoch(gen):
    """One epoch through Keras's own reader of a PyDataset (its thread or process workers)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(gen, shuffle=False)
    batches = list(adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    return batches


def _check_reports(gen, records):
    bad = {b.path: b for b in gen.bad_files.items()}
    for r in records:
        if r.expected == BAD:
            assert r.path in bad, r.name
            if os.path.islink(r.path) and not os.path.exists(r.path):
                assert "symbolic link" in bad[r.path].reason, (r.name, bad[r.path].reason)
                continue
            assert r.reason.lower() in bad[r.path].reason.lower(), (r.name, bad[r.path].reason)
        elif r.expected == EXACT:
            assert r.path not in bad and r.path not in gen.warnings, r.name
        elif r.expected == REPORTED and r.path not in bad:
            assert r.reason.lower() in gen.warnings[r.path].lower(), (r.name, gen.warnings.get(r.path))


def _check_exact_clips(gen, records, batches):
    exact = {r.path: r for r in records if r.expected == EXACT and r.index_coded and not r.rotation}
    checked = 0
    for b, batch in enumerate(batches):
        x = batch[0] if isinstance(batch, tuple) else batch
        for k in range(len(x)):
            info = gen.sample_info(gen.sample_at(b * gen.batch_size + k))
            if info.path in exact and info.path not in gen.bad_files:
                assert [index_of(f) for f in x[k]] == info.frames.tolist(), info.path
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
@pytest.mark.parametrize("kind", ["frame", "sliding", "flow"])
def test_clip_generators_over_the_corpus(corpus, kind, processes, caplog):
    root, records = corpus
    before = _snapshot(root)
    cls = {"frame": gpuvideo.VideoFrameGenerator, "sliding": gpuvideo.SlidingFrameGenerator,
           "flow": gpuvideo.OpticalFlowGenerator}[kind]
    extra = {"window_stride": 40} if kind == "sliding" else {}
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        gen = cls(glob_pattern=str(root / "{classname}" / "*"), nb_frames=4, batch_size=8, target_shape=(64, 48),
                  shuffle=False, index_cache=None, progress=False, workers=2, use_multiprocessing=processes,
                  nb_channel=3, **extra)
        batches = _epoch(gen)
    assert len(batches) == len(gen)
    for x, y in batches:
        assert x.shape[0] == 8 and y.shape[0] == 8 and np.isfinite(x).all()
    _check_reports(gen, records)
    if kind != "flow":
        _check_exact_clips(gen, records, batches)
    if not processes:                         # each unusable file and each warning logged once
        logged = [r.getMessage() for r in caplog.records if "skipping unusable video" in r.getMessage()]
        assert len(logged) == len(set(logged)) == len(gen.bad_files)
    assert _snapshot(root) == before
    gen.close()


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_timeseries_over_the_usable_corpus(corpus, processes):
    root, records = corpus
    before = _snapshot(root)
    usable = [r.path for r in records if r.expected != BAD and r.frames >= 8]
    gen = gpuvideo.VideoTimeseriesGenerator(usable, None, length=4, stride=7, batch_size=8, target_shape=(64, 48),
                                            index_cache=None, complete_last_batch=True, workers=2,
                                            use_multiprocessing=processes)
    for batch in _epoch(gen):
        x = batch[0] if isinstance(batch, tuple) else batch          # Keras's reader wraps x alone as (x,)
        assert x.shape == (8, 4, 48, 64, 3) and np.isfinite(x).all()
    assert set(gen.warnings) <= set(usable)
    assert any(r.expected == REPORTED and r.path in gen.warnings for r in records)
    assert _snapshot(root) == before
    gen.close()
