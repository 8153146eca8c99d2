"""``gpuvideo demo``: train a small action model on a built-in synthetic dataset (or ``--data``)."""
from __future__ import annotations

import logging
import time
from pathlib import Path


log = logging.getLogger("gpuvideo")


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

    Returns ``{"val_accuracy", "train_clips_per_second", "loader_clips_per_second", "classes", "files"}``.
    """
    import keras

    from .generator import VideoFrameGenerator
    from .synthetic import make_action_dataset

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
