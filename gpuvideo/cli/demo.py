"""``gpuvideo demo``: train on a built-in sample (no data needed), or on ``--data``.

- :func:`run_demo`: a small action model (class = direction of motion) trained
  with ``model.fit`` on :class:`~gpuvideo.generator.VideoFrameGenerator`.
- :func:`run_long_demo` (``--long``): anomaly detection on one generated long
  video with :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`. A ball glides
  over a texture and shakes during a few intervals (the anomalies); every frame
  is labelled, the model trains on windows of the first 75% of the video
  (``end_index``) and is evaluated on the last 25% (``start_index``), a window's
  target being the label of its last frame (``target_frame="last"``). It then
  predicts on every window of the whole video and writes the per-frame timeline
  (:mod:`gpuvideo.cli.timeline`): ``anomaly_timeline.csv``,
  ``anomaly_timeline_intervals.csv`` and ``anomaly_timeline.png`` in the workdir,
  with the model saved as ``anomaly_model.keras`` for ``gpuvideo timeline``.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from . import EXIT_FAILURE, EXIT_OK, UsageError, progress

log = logging.getLogger("gpuvideo")


def add_parser(sub, common) -> None:
    d = sub.add_parser("demo", parents=[common], help="train a small model on a built-in sample dataset (no data needed)",
                       description="Generate a moving-shapes dataset (class = direction of motion, real H.264 "
                                   "and MPEG-4 files), train a Conv3D model with model.fit on gpuvideo's "
                                   "generators, print validation accuracy and clips per second. With --long: "
                                   "anomaly detection on one generated long video with VideoTimeseriesGenerator, "
                                   "printing held-out accuracy and windows per second.")
    d.add_argument("--data", metavar="PATTERN", help="use your videos: a glob with {classname}, "
                                                     "e.g. 'videos/{classname}/*.avi'")
    d.add_argument("--long", action="store_true", help="run the long-video (timeseries) demo instead")
    d.add_argument("--workdir", default="demo_data", help="where the sample videos are written (default: %(default)s)")
    d.add_argument("--epochs", type=int, default=None, help="training epochs (default: 6; --long: 3)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=run)


def run(args) -> int:
    out = sys.stdout
    if args.long:
        if args.data is not None:
            raise UsageError("--long trains on a generated long video: it does not take --data")
        res = run_long_demo(args.workdir, epochs=args.epochs or 3, seed=args.seed)
        out.write("long-video demo: anomaly detection on one generated video (VideoTimeseriesGenerator)\n")
        out.write(f"held-out accuracy: {res['accuracy']:.3f} (always guessing the majority class: "
                  f"{res['chance_accuracy']:.3f})\n")
        out.write(f"windows per second: {res['windows_per_second']:.1f} (while training)\n")
        out.write(f"timeline of the whole video: {res['found_intervals']} interval(s) with score >= 0.5 "
                  f"({res['true_intervals']} true anomalies); frames agreeing with the labels: "
                  f"{res['timeline_agreement']:.3f} (held-out part)\n")
        out.write(f"  per-frame scores: {res['timeline_csv']}\n  plot: {res['timeline_png']}\n")
        out.write(f"  again with: gpuvideo timeline {res['model']} {res['video']} --out PREFIX\n")
        return EXIT_OK
    res = run_demo(workdir=args.workdir, data=args.data, epochs=args.epochs or 6, seed=args.seed,
                   progress=progress(args))
    out.write(f"classes: {', '.join(res['classes'])} ({res['files']} videos)\n")
    out.write(f"validation accuracy: {res['val_accuracy']:.3f}\n")
    out.write(f"clips per second: {res['loader_clips_per_second']:.1f} (loader alone), "
              f"{res['train_clips_per_second']:.1f} (while training)\n")
    if res["bad_files"]:
        out.write(f"skipped {len(res['bad_files'])} unusable video(s), see the log\n")
    if args.data is None and res["val_accuracy"] <= 0.9:
        out.write("validation accuracy is not above 0.90 on the sample data: something is wrong\n")
        return EXIT_FAILURE
    return EXIT_OK


def build_model(nb_frames: int, height: int, width: int, channels: int, classes: int):
    """A small motion classifier ``(B, T, H, W, C) -> (B, classes)`` softmax.

    It looks at frame differences (``x[:, 1:] - x[:, :-1]``) with two strided
    Conv3D layers and a global max-pool: enough to tell directions of motion apart.
    """
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input((nb_frames, height, width, channels)),
        layers.Lambda(lambda x: x[:, 1:] - x[:, :-1], name="frame_differences"),
        layers.Conv3D(16, (2, 5, 5), strides=(1, 2, 2), padding="same", activation="relu"),
        layers.Conv3D(32, (2, 3, 3), strides=(1, 2, 2), padding="same", activation="relu"),
        layers.GlobalMaxPooling3D(),
        layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def loader_throughput(gen, batches: int | None = None) -> float:
    """Clips per second of one pass of ``gen`` (decode + batch only, no model)."""
    batches = min(len(gen), batches or len(gen))
    gen[0]
    t0 = time.perf_counter()
    for i in range(batches):
        gen[i]
    return batches * gen.batch_size / (time.perf_counter() - t0)


def run_demo(workdir: str | Path = "demo_data", data: str | None = None, epochs: int = 6,
             nb_frames: int = 8, target_shape=(64, 48), batch_size: int = 8, seed: int = 0,
             workers: int = 2, progress: bool = True) -> dict:
    """Train on ``data`` (a ``{classname}`` glob) or on a generated moving-shapes set in ``workdir``.

    Returns ``{"val_accuracy", "train_clips_per_second", "loader_clips_per_second", "classes", "files",
    "bad_files"}``.
    """
    import keras

    from ..generator import VideoFrameGenerator
    from ..synthetic import make_action_dataset

    keras.utils.set_random_seed(seed)
    if data is None:
        data = make_action_dataset(Path(workdir) / "actions", videos_per_class=24, nb_frames=32,
                                   width=128, height=96, seed=seed, progress=progress)
        log.info("sample dataset: 4 directions x 24 videos (H.264 .mp4 and MPEG-4 .avi) under %s", workdir)
    gen = VideoFrameGenerator(glob_pattern=data, nb_frames=nb_frames, batch_size=batch_size,
                              target_shape=target_shape, nb_channel=1, split_val=0.25, seed=seed,
                              progress=progress, workers=workers)
    val = gen.get_validation_generator()
    model = build_model(nb_frames, target_shape[1], target_shape[0], 1, gen.classes_count)
    t0 = time.perf_counter()
    model.fit(gen, validation_data=val, epochs=epochs, verbose=2 if progress else 0)
    train_time = time.perf_counter() - t0
    _, val_acc = model.evaluate(val, verbose=0)
    return {
        "val_accuracy": float(val_acc),
        "train_clips_per_second": epochs * len(gen) * gen.batch_size / train_time,
        "loader_clips_per_second": loader_throughput(gen),
        "classes": gen.classes,
        "files": gen.files_count + val.files_count,
        "bad_files": [b.path for b in gen.bad_files.items()],
    }


def run_long_demo(workdir, epochs: int = 3, seed: int = 0, nb_frames: int = 3000, length: int = 8,
                  batch_size: int = 32, verbose: int = 0) -> dict:
    """Generate, train, evaluate; returns accuracy (held-out windows), windows/s (training) and more."""
    import keras

    from ..synthetic import anomaly_frames, anomaly_labels, write_once
    from ..timeseries import VideoTimeseriesGenerator

    keras.utils.set_random_seed(seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    labels = anomaly_labels(nb_frames, seed)
    path = write_once(workdir / f"anomaly_{nb_frames}_{seed}.mp4", anomaly_frames(labels, seed=seed))
    split = int(nb_frames * 0.75)
    common = dict(length=length, sampling_rate=1, batch_size=batch_size, target_frame="last",
                  target_shape=(32, 32), nb_channel=1, index_cache=False)
    train = VideoTimeseriesGenerator(path, labels, stride=2, end_index=split - 1, shuffle=True, seed=seed,
                                     complete_last_batch=True, **common)
    val = VideoTimeseriesGenerator(path, labels, stride=4, start_index=split, **common)
    model = _anomaly_model(length)
    t0 = time.perf_counter()
    model.fit(train, epochs=epochs, verbose=verbose)
    fit_s = time.perf_counter() - t0
    trained = epochs * len(train) * batch_size
    _, acc = model.evaluate(val, verbose=verbose)
    positives = float(labels[split:].mean())
    result = {"accuracy": float(acc), "chance_accuracy": max(positives, 1 - positives),
              "windows_per_second": trained / fit_s, "train_windows": trained, "fit_seconds": fit_s,
              "video": path, "frames": nb_frames}
    result.update(_demo_timeline(model, path, labels, split, workdir, common))
    log.info("long-video demo: held-out accuracy %.3f (chance %.3f); training %.0f windows/s",
             result["accuracy"], result["chance_accuracy"], result["windows_per_second"])
    return result


def _anomaly_model(length: int):
    import keras

    model = keras.Sequential([
        keras.Input((length, 32, 32, 1)),
        keras.layers.Conv3D(8, (3, 3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling3D((1, 2, 2)),
        keras.layers.Conv3D(16, (3, 3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling3D((2, 2, 2)),
        keras.layers.GlobalMaxPooling3D(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    return model


def _demo_timeline(model, path: str, labels, split: int, workdir: Path, common: dict) -> dict:
    """Per-frame scores of the whole video (windows every 2 frames) written next to the video, with the model."""
    import numpy as np

    from .timeline import predict_timeline, write_outputs

    model_path = workdir / "anomaly_model.keras"
    model.save(model_path)
    args = {k: v for k, v in common.items() if k != "target_frame"}
    tl = predict_timeline(model, path, stride=2, **args)
    out = write_outputs(tl, workdir / "anomaly_timeline", 0.5, truth=labels,
                        title="gpuvideo demo --long: per-frame anomaly score (mean of the windows covering "
                              "each frame); black band: true anomalies")
    held = np.arange(len(labels)) >= split
    scores = tl.scores()
    known = held & ~np.isnan(scores)
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    log.info("timeline: %s, %s", out["csv"], out["png"])
    return {"timeline_csv": str(out["csv"]), "timeline_png": str(out["png"]), "model": str(model_path),
            "found_intervals": len(out["intervals"]), "true_intervals": int((edges == 1).sum()),
            "timeline_agreement": float(((scores[known] >= 0.5) == labels[known].astype(bool)).mean())}
