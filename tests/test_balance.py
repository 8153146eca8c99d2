"""Class balance: class_weight() and class_balance='oversample'/'undersample' epochs."""
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from gpuvideo import VideoFrameGenerator
from gpuvideo.balance import BalancedDraw, class_weight
from gpuvideo.synthetic import write_index_video

SIZES = {"a": 2, "b": 5, "c": 8}
KW = dict(nb_frames=2, target_shape=(32, 24), index_cache=None, progress=False, batch_size=6)


@pytest.fixture(scope="module")
def unbalanced(tmp_path_factory):
    root = tmp_path_factory.mktemp("unbalanced")
    for cls, n in SIZES.items():
        for i in range(n):
            write_index_video(root / cls / f"{cls}{i}.mp4", 6 + i, width=64, height=48, codec="h264")
    return str(root / "{classname}" / "*.mp4")


def epoch(gen):
    """(class counts from y, sample ids served) of the current epoch; then moves to the next epoch."""
    labels, ids = Counter(), []
    for b in range(len(gen)):
        _, y = gen[b]
        labels.update(int(k) for k in y.argmax(1))
        ids += [info.sample for info in gen.batch_info(b)]
    gen.on_epoch_end()
    return labels, ids


def test_class_weight(unbalanced):
    gen = VideoFrameGenerator(glob_pattern=unbalanced, **KW)
    assert gen.class_weight() == pytest.approx({0: 15 / 6, 1: 15 / 15, 2: 15 / 24})
    assert class_weight({0: 3, 1: 0, 2: 1}) == {0: 4 / 6, 2: 4 / 2}
    import keras

    model = keras.Sequential([keras.Input((2, 24, 32, 3)), keras.layers.GlobalAveragePooling3D(),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(gen, epochs=1, steps_per_epoch=2, class_weight=gen.class_weight(), verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_oversample_gives_even_class_counts(unbalanced):
    gen = VideoFrameGenerator(glob_pattern=unbalanced, class_balance="oversample", seed=7, **KW)
    assert gen.epoch_samples == 24 and len(gen) == 4               # 3 classes x 8 (the largest class)
    by_class = {k: set(ids) for k, ids in gen._by_label.items()}
    served = []
    for _ in range(3):
        labels, ids = epoch(gen)
        assert labels == {0: 8, 1: 8, 2: 8}
        per_sample = Counter(ids)
        for k, members in by_class.items():
            counts = [per_sample[i] for i in members]
            assert min(counts) >= 1 and max(counts) - min(counts) <= 1   # every video, repeats spread evenly
        served.append(ids)
    assert served[0] != served[1]                                       # new draws and order each epoch
    again = VideoFrameGenerator(glob_pattern=unbalanced, class_balance="oversample", seed=7, **KW)
    assert [epoch(again)[1] for _ in range(3)] == served                # reproducible with the seed


def test_undersample_draws_other_videos_each_epoch(unbalanced):
    gen = VideoFrameGenerator(glob_pattern=unbalanced, class_balance="undersample", shuffle=False, seed=1, **KW)
    assert gen.epoch_samples == 6
    seen_c = set()
    for _ in range(4):
        labels, ids = epoch(gen)
        assert labels == {0: 2, 1: 2, 2: 2}
        assert len(set(ids)) == 6
        seen_c |= {i for i in ids if i in gen._by_label[2]}
    assert len(seen_c) > 2                                              # different videos of class c
    assert [gen._all_samples[i].label for i in epoch(gen)[1]] == [0, 1, 2, 0, 1, 2]    # in order: classes cycle


def test_balance_with_shards_and_splits(unbalanced):
    whole = VideoFrameGenerator(glob_pattern=unbalanced, class_balance="oversample", seed=3, **KW)
    parts = [VideoFrameGenerator(glob_pattern=unbalanced, class_balance="oversample", seed=3, shard_index=i,
                                 num_shards=2, **KW) for i in range(2)]
    assert len(parts[0]) == len(parts[1]) == 2
    for _ in range(2):
        served = Counter(p.sample_at(k) for p in parts for k in range(p.epoch_samples))
        assert served == Counter(whole.sample_at(k) for k in range(24))    # the shards split one balanced epoch
        for g in (whole, *parts):
            g.on_epoch_end()
    split = VideoFrameGenerator(glob_pattern=unbalanced, class_balance="oversample", split_val=0.4, seed=0, **KW)
    val = split.get_validation_generator()
    assert Counter(s.label for s in val.samples) == {1: 2, 2: 3}       # int(0.4 * n) per class
    assert len(val) == -(-len(val.samples) // 6) and val.epoch_samples == len(val.samples) == 5   # not balanced
    assert split.epoch_samples == 3 * 5                                  # train: a 2, b 3, c 5 -> 3 x 5


def test_balance_needs_one_class_per_video(unbalanced, tmp_path):
    with pytest.raises(ValueError, match="class_balance must be one of"):
        VideoFrameGenerator(glob_pattern=unbalanced, class_balance="even", **KW)
    v = str(write_index_video(tmp_path / "v.mp4", 8, codec="h264"))
    df = pd.DataFrame({"filename": [v, v], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="one class per video"):
        VideoFrameGenerator.from_dataframe(df, y_col="y", class_mode="raw", class_balance="oversample", **KW)
    multi = VideoFrameGenerator.from_dataframe(pd.DataFrame({"filename": [v, v], "c": [["x", "y"], ["x"]]}),
                                               y_col="c", **KW)
    with pytest.raises(ValueError, match="class_weight needs one class"):
        multi.class_weight()
    with pytest.raises(ValueError, match="no targets"):
        VideoFrameGenerator.for_prediction([v], **KW).class_weight()


def test_balanced_draw_alone():
    draw = BalancedDraw({0: [10, 11], 5: [20, 21, 22]}, "oversample", seed=0)
    assert draw.classes == [0, 5] and draw.per_class == 3 and draw.total == 6
    table = draw.table(0)
    assert sorted(table[0]) in ([10, 10, 11], [10, 11, 11]) and sorted(table[1]) == [20, 21, 22]
    assert [draw.sample(s, 0) for s in range(6)] == [table[s % 2, s // 2] for s in range(6)]
    assert np.array_equal(BalancedDraw({0: [10, 11], 5: [20, 21, 22]}, "oversample", seed=0).table(0), table)
