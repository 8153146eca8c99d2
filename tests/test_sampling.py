import math

import numpy as np
import pytest

from gpuvideo.sampling import clip_indices, legacy_indices, sliding_windows, uniform_indices


@pytest.mark.parametrize("T", [1, 2, 3, 5, 7, 10, 99, 100, 101, 1000, 12345])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16])
def test_uniform_matches_formula(T, n):
    got = uniform_indices(T, n)
    if n == 1:
        want = [(T - 1) // 2]
    else:
        want = [math.floor(i * (T - 1) / (n - 1) + 0.5) for i in range(n)]
    assert got.tolist() == want
    assert got.dtype == np.int64 and len(got) == n
    assert got.min() >= 0 and got.max() <= T - 1
    if n > 1:
        assert got[0] == 0 and got[-1] == T - 1
    assert np.all(np.diff(got) >= 0)


@pytest.mark.parametrize("T,n,want", [
    (100, 5, [0, 24, 49, 74, 99]),
    (205, 5, [0, 50, 101, 152, 203]),
    (250, 5, [0, 61, 123, 185, 247]),
    (132, 5, [0, 32, 65, 98, 131]),
    (120, 6, [0, 23, 47, 71, 95, 119]),
])
def test_legacy_matches_keras_video(T, n, want):
    assert legacy_indices(T, n).tolist() == want


def _legacy_loop(T, n):
    """keras_video's loop, written out: keep 1-based j when j == 1, j % s == 0 or j == T_even."""
    t_even = T + T % 2
    s = max(1, t_even // (n - 1))
    kept = []
    for j in range(1, T + 1):           # only frames that exist are read
        if j == 1 or j % s == 0 or j == t_even:
            kept.append(j - 1)
            if len(kept) == n:
                break
    return kept


@pytest.mark.parametrize("T", range(2, 80))
def test_legacy_equals_loop_where_keras_video_had_enough_frames(T):
    for n in (2, 3, 5, 8):
        loop = _legacy_loop(T, n)
        got = legacy_indices(T, n).tolist()
        assert len(got) == n
        if len(loop) == n:
            assert got == loop
        else:   # keras_video dropped the video; we repeat the last available frame
            assert got[:len(loop)] == loop and set(got[len(loop):]) == {T - 1}


def test_short_video_repeats_nearest_frames():
    assert uniform_indices(3, 5).tolist() == [0, 1, 1, 2, 2]
    assert uniform_indices(1, 4).tolist() == [0, 0, 0, 0]
    assert legacy_indices(3, 5).tolist() == [0, 1, 2, 2, 2]


def test_clip_indices_rejects_unknown_mode_and_bad_counts():
    with pytest.raises(ValueError, match="sampling"):
        clip_indices(10, 3, "random")
    with pytest.raises(ValueError):
        uniform_indices(0, 3)
    with pytest.raises(ValueError):
        uniform_indices(10, 0)


def test_sliding_docstring_example():
    w = sliding_windows(60, 30.0, 6, sequence_time=1)
    assert w[0].tolist() == [0, 5, 10, 15, 20, 25]
    assert w[1].tolist() == [1, 6, 11, 16, 21, 26]
    assert w[-1].tolist() == [34, 39, 44, 49, 54, 59]
    assert len(w) == 35


@pytest.mark.parametrize("T,fps,n,st,stride", [(60, 30, 6, None, 1), (100, 25, 5, 1.0, 1), (100, 25, 5, 1.0, 3),
                                               (48, 24, 8, 0.5, 2), (7, 25, 3, None, 1), (300, 29.97, 10, 2.5, 4)])
def test_sliding_windows_rule(T, fps, n, st, stride):
    w = sliding_windows(T, fps, n, st, stride)
    span = T if st is None else min(T, round(st * fps))
    step = max(1, span // n)
    assert w.shape == ((T - (n - 1) * step - 1) // stride + 1, n)
    for j, row in enumerate(w):
        assert row.tolist() == [j * stride + k * step for k in range(n)]
    assert w.max() == w[-1, -1] <= T - 1
    assert w[-1, 0] + stride + (n - 1) * step > T - 1   # no room for one more window


def test_sliding_short_video_gives_one_window():
    w = sliding_windows(3, 25, 5)
    assert w.tolist() == [[0, 1, 1, 2, 2]]


def test_sliding_errors():
    with pytest.raises(ValueError):
        sliding_windows(10, 0, 3, sequence_time=1)
    with pytest.raises(ValueError):
        sliding_windows(10, 25, 3, sequence_time=-1)
    with pytest.raises(ValueError):
        sliding_windows(10, 25, 3, window_stride=0)


# ---------------------------------------------------------------- found by the mutation run (benchmarks/mutation.py)
@pytest.mark.parametrize("T,n", [(1, 1), (10, 3), (99, 8), (3, 5)])
def test_clip_indices_dispatches_on_mode_uniform_by_default(T, n):
    assert clip_indices(T, n).tolist() == uniform_indices(T, n).tolist()
    assert clip_indices(T, n, "uniform").tolist() == uniform_indices(T, n).tolist()
    assert clip_indices(T, n, "legacy").tolist() == legacy_indices(T, n).tolist()
    assert clip_indices(100, 5, "legacy").tolist() == [0, 24, 49, 74, 99]        # not the uniform frames
    assert clip_indices(100, 5).tolist() == [0, 25, 50, 74, 99]
    for mode in ("Uniform", "LEGACY", ""):
        with pytest.raises(ValueError, match=f"sampling must be one of \\('uniform', 'legacy'\\), got '{mode}'"):
            clip_indices(T, n, mode)


def test_errors_quote_the_value_received():
    with pytest.raises(ValueError, match="^nb_frames must be >= 1, got 0$"):
        uniform_indices(10, 0)
    with pytest.raises(ValueError, match="^frame_count must be >= 1, got -2$"):
        legacy_indices(-2, 3)
    with pytest.raises(ValueError, match="^window_stride must be >= 1, got 0$"):
        sliding_windows(10, 25, 3, window_stride=0)
    with pytest.raises(ValueError, match="^sequence_time must be > 0 seconds, got -1$"):
        sliding_windows(10, 25, 3, sequence_time=-1)
    with pytest.raises(ValueError, match="^sequence_time must be > 0 seconds, got 0$"):
        sliding_windows(10, 25, 3, sequence_time=0)


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), None])
def test_sequence_time_needs_a_positive_finite_fps(fps):
    with pytest.raises(ValueError, match="^sequence_time needs a known frame rate$"):
        sliding_windows(10, fps, 3, sequence_time=1)
    # without sequence_time the frame rate is not used
    assert sliding_windows(10, fps, 3).tolist() == sliding_windows(10, 25, 3).tolist()


def test_low_frame_rates_are_valid():
    """fps below 1 (time-lapse): a window of 4 s at 0.5 fps spans 2 frames."""
    assert sliding_windows(10, 0.5, 2, sequence_time=4).tolist() == [[k, k + 1] for k in range(9)]
    assert sliding_windows(10, 1, 2, sequence_time=4).tolist() == [[k, k + 2] for k in range(8)]


def test_indices_are_int64():
    for w in (uniform_indices(7, 3), legacy_indices(7, 3), legacy_indices(3, 5), sliding_windows(60, 30, 6, 1),
              clip_indices(9, 2, "legacy")):
        assert w.dtype == np.int64
