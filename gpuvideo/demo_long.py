"""Second part of ``gpuvideo demo``: anomaly detection on one long video with ``VideoTimeseriesGenerator``.

A generated video shows a ball gliding smoothly over a textured background;
during a few intervals (the anomalies) it shakes, jumping a few pixels each
frame. Every frame is labelled (1 inside an interval). A small 3D-convolution
model is trained with ``model.fit`` on windows of the first 75% of the video
(``end_index``) and evaluated on the last 25% (``start_index``); the target of a
window is the label of its last frame (``target_frame="last"``).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("gpuvideo")


def anomaly_video(path, nb_frames: int = 6000, width: int = 96, height: int = 96, seed: int = 0):
    """Write the demo video (once) and return ``(path, labels)``: uint8 per-frame labels, 1 = anomaly."""
    import cv2

    from .synthetic import write_video

    rng = np.random.default_rng(seed)
    labels = np.zeros(nb_frames, np.uint8)
    t = int(rng.integers(100, 300))
    while t < nb_frames:
        dur = int(rng.integers(60, 200))
        labels[t:t + dur] = 1
        t += dur + int(rng.integers(150, 400))
    path = Path(path)
    if not path.exists():
        bg = cv2.resize(rng.integers(40, 120, (height // 8, width // 8, 3), dtype=np.uint8), (width, height),
                        interpolation=cv2.INTER_LINEAR)

        def frames():
            for i in range(nb_frames):
                f = bg.copy()
                cx = width / 2 + width * 0.3 * np.sin(i / 40.0)
                cy = height / 2 + height * 0.3 * np.cos(i / 55.0)
                if labels[i]:
                    cx += rng.uniform(-6, 6)
                    cy += rng.uniform(-6, 6)
                cv2.circle(f, (int(round(cx)), int(round(cy))), 7, (250, 220, 60), -1)
                yield f

        tmp = path.with_name("tmp_" + path.name)
        write_video(tmp, frames(), fps=25, codec="h264")
        os.replace(tmp, path)
    return str(path), labels


def run_long_demo(workdir, epochs: int = 3, seed: int = 0, nb_frames: int = 3000, length: int = 8,
                  batch_size: int = 32, verbose: int = 0) -> dict:
    """Generate, train, evaluate; returns accuracy (held-out windows), windows/s (training) and more."""
    import keras

    from .timeseries import VideoTimeseriesGenerator

    keras.utils.set_random_seed(seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path, labels = anomaly_video(workdir / f"anomaly_{nb_frames}_{seed}.mp4", nb_frames, seed=seed)
    split = int(nb_frames * 0.75)
    common = dict(length=length, sampling_rate=1, batch_size=batch_size, target_frame="last",
                  target_shape=(32, 32), nb_channel=1, index_cache=False)
    train = VideoTimeseriesGenerator(path, labels, stride=2, end_index=split - 1, shuffle=True, seed=seed, **common)
    val = VideoTimeseriesGenerator(path, labels, stride=4, start_index=split, complete_last_batch=False, **common)

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
    t0 = time.perf_counter()
    model.fit(train, epochs=epochs, verbose=verbose)
    fit_s = time.perf_counter() - t0
    trained = epochs * len(train) * batch_size
    loss, acc = model.evaluate(val, verbose=verbose)

    t0 = time.perf_counter()
    n = 0
    for i in range(len(val)):
        n += len(val[i][0])
    read_s = time.perf_counter() - t0
    positives = float(labels[split:].mean())
    result = {
        "accuracy": float(acc),
        "chance_accuracy": max(positives, 1 - positives),
        "windows_per_second": trained / fit_s,
        "read_windows_per_second": n / read_s,
        "train_windows": trained,
        "fit_seconds": fit_s,
        "video": path,
        "frames": nb_frames,
    }
    log.info("long-video demo: held-out accuracy %.3f (chance %.3f); training %.0f windows/s, "
             "reading alone %.0f windows/s", result["accuracy"], result["chance_accuracy"],
             result["windows_per_second"], result["read_windows_per_second"])
    return result
