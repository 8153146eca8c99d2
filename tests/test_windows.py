"""Window arithmetic (gpuvideo.windows) against Keras's own timeseries utilities."""
import itertools

import numpy as np
import pytest

from gpuvideo.windows import (WindowIndex, count_windows, nearest_available, target_frame_of, window_frames,
                              window_starts)

CASES = [  # frame_count, length, sampling_rate, stride, start_index, end_index (inclusive or None)
    (50, 5, 1, 1, 0, None), (50, 5, 2, 3, 0, None), (50, 4, 3, 2, 7, None), (50, 6, 1, 5, 3, 40),
    (37, 3, 4, 1, 0, 30), (20, 20, 1, 1, 0, None), (20, 7, 3, 4, 2, 19), (100, 8, 2, 8, 10, 90),
]


def _tsdfa_windows(n, length, rate, stride, start, end):
    import keras

    data = np.arange(n)
    ds = keras.utils.timeseries_dataset_from_array(data, None, sequence_length=length, sequence_stride=stride,
                                                   sampling_rate=rate, start_index=start,
                                                   end_index=None if end is None or end + 1 >= n else end + 1,
                                                   batch_size=1000)
    got = [np.asarray(b) for b in ds]
    return np.concatenate(got) if got else np.zeros((0, length), np.int64)


@pytest.mark.tensorflow
@pytest.mark.parametrize("n,length,rate,stride,start,end", CASES)
def test_windows_match_timeseries_dataset_from_array(n, length, rate, stride, start, end):
    ref = _tsdfa_windows(n, length, rate, stride, start, end)
    starts = window_starts(n, length, rate, stride, start, end)
    assert np.array_equal(window_frames(starts, length, rate).reshape(-1, length), ref)


@pytest.mark.tensorflow
@pytest.mark.parametrize("n,length,rate,stride,start,end", CASES)
def test_last_frame_targets_match_timeseries_dataset_from_array(n, length, rate, stride, start, end):
    """target_frame='last' == tsdfa with targets shifted by (length-1)*rate (its targets align with window starts)."""
    import keras

    labels = np.arange(n) * 10
    shift = (length - 1) * rate
    ds = keras.utils.timeseries_dataset_from_array(np.arange(n), labels[shift:], sequence_length=length,
                                                   sequence_stride=stride, sampling_rate=rate, start_index=start,
                                                   end_index=None if end is None or end + 1 >= n else end + 1,
                                                   batch_size=1000)
    ys = [np.asarray(y) for _, y in ds]
    ref_y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
    starts = window_starts(n, length, rate, stride, start, end, target_frame="last")
    assert np.array_equal(labels[target_frame_of(starts, length, rate, "last")], ref_y)


@pytest.mark.tensorflow
@pytest.mark.parametrize("n,length,rate,stride,start,end", CASES)
def test_next_frame_targets_match_keras_timeseries_generator(n, length, rate, stride, start, end):
    """target_frame='next' == legacy TimeseriesGenerator with its length = length * sampling_rate."""
    from tensorflow.keras.preprocessing.sequence import TimeseriesGenerator

    data = np.arange(n)
    labels = np.arange(n) * 10
    starts = window_starts(n, length, rate, stride, start, end, target_frame="next")
    try:
        gen = TimeseriesGenerator(data, labels, length=length * rate, sampling_rate=rate, stride=stride,
                                  start_index=start, end_index=end, batch_size=1000)
        xs, ys = zip(*[gen[i] for i in range(len(gen))])
        ref_x, ref_y = np.concatenate(xs), np.concatenate(ys)
    except ValueError:   # Keras refuses when no window fits
        assert starts.size == 0
        return
    assert np.array_equal(window_frames(starts, length, rate).reshape(-1, length), ref_x)
    assert np.array_equal(labels[target_frame_of(starts, length, rate, "next")], ref_y)


def test_counts_brute_force():
    for n, length, rate, stride, start in itertools.product([1, 5, 17], [1, 3], [1, 2], [1, 3], [0, 2]):
        for tf in (None, "last", "next"):
            extra = rate if tf == "next" else 0
            brute = [s for s in range(start, n, stride) if s + (length - 1) * rate + extra <= n - 1]
            assert count_windows(n, length, rate, stride, start, None, tf) == len(brute)


def test_end_index_past_the_end_raises():
    with pytest.raises(ValueError, match="past the last frame"):
        count_windows(50, 5, end_index=50)
    with pytest.raises(ValueError):
        count_windows(50, 0)


def test_window_index_never_straddles_videos():
    wi = WindowIndex.build([30, 12, 5, 40], length=6, sampling_rate=2, stride=3)
    assert wi.counts == (count_windows(30, 6, 2, 3), count_windows(12, 6, 2, 3), 0, count_windows(40, 6, 2, 3))
    v, s = wi.locate(np.arange(wi.total))
    for video, start in zip(v, s):
        assert start + 10 <= [30, 12, 5, 40][video] - 1
    assert list(np.bincount(v, minlength=4)) == list(wi.counts)
    with pytest.raises(IndexError):
        wi.locate(wi.total)


def test_nearest_available():
    assert nearest_available([True, False, False, True]).tolist() == [0, 0, 3, 3]
    assert nearest_available([False, False, True, False, False, False, True]).tolist() == [2, 2, 2, 2, 2, 6, 6]
    with pytest.raises(ValueError):
        nearest_available([False, False])


# ---------------------------------------------------------------- found by the mutation run (benchmarks/mutation.py)
def test_nearest_available_every_mask_up_to_8_frames():
    """Brute force: the nearest available position, the earlier one on ties, for every mask of 1-8 frames."""
    for n in range(1, 9):
        for bits in itertools.product([False, True], repeat=n):
            if not any(bits):
                continue
            want = [min((abs(k - p), p) for p in range(n) if bits[p])[1] for k in range(n)]
            assert nearest_available(list(bits)).tolist() == want, bits
            assert nearest_available(np.array(bits, np.uint8)).tolist() == want
    with pytest.raises(ValueError, match="^no available frame$"):
        nearest_available(np.zeros(3, bool))


def test_window_starts_defaults_are_one_frame_apart():
    assert window_starts(10, 3).tolist() == list(range(8))
    assert window_starts(10, 3, target_frame="next").tolist() == list(range(7))
    assert window_frames(4, 3).tolist() == [4, 5, 6]
    assert count_windows(10, 3) == 8
    assert target_frame_of(4, 3).tolist() == 7


@pytest.mark.parametrize("name,kwargs,low,bad", [("length", {}, 1, 0), ("sampling_rate", {}, 1, 0),
                                                 ("stride", {}, 1, 2.5), ("start_index", {}, 0, -1)])
def test_argument_errors_quote_name_and_value(name, kwargs, low, bad):
    args = {"length": 3, "sampling_rate": 1, "stride": 1, "start_index": 0, name: bad}
    with pytest.raises(ValueError, match=f"^{name} must be an integer >= {low}, got {bad!r}$"):
        count_windows(20, **args)


def test_target_frame_and_end_index_errors():
    with pytest.raises(ValueError, match=r"^target_frame must be one of \('next', 'last'\), got 'prev'$"):
        count_windows(20, 3, target_frame="prev")
    with pytest.raises(ValueError, match=r"^target_frame must be one of \('next', 'last'\), got None$"):
        target_frame_of(0, 3, target_frame=None)
    with pytest.raises(ValueError, match="^end_index must be >= 0, got -1$"):
        count_windows(20, 3, end_index=-1)
    with pytest.raises(ValueError, match="^end_index=20 is past the last frame 19 of the video$"):
        count_windows(20, 3, end_index=20)
    # end_index 0 is a valid last frame: one window of one frame
    assert count_windows(20, 1, end_index=0) == 1 and window_starts(20, 1, end_index=0).tolist() == [0]
    assert count_windows(20, 1, end_index=0, target_frame="next") == 0


def test_window_index_fields_and_defaults():
    wi = WindowIndex.build([10, 4], 3)
    assert (wi.counts, wi.length, wi.sampling_rate, wi.stride, wi.start_index) == ((8, 2), 3, 1, 1, 0)
    assert wi.offsets.tolist() == [0, 8, 10] and wi.total == 10
    v, s = wi.locate([0, 7, 8, 9])
    assert v.tolist() == [0, 0, 1, 1] and s.tolist() == [0, 7, 0, 1]
    for bad in (-1, 10):
        with pytest.raises(IndexError, match=r"^window id outside \[0, 10\)$"):
            wi.locate(bad)
    wi = WindowIndex.build([10], 2, sampling_rate=3, stride=2, start_index=1)
    assert (wi.counts, wi.length, wi.sampling_rate, wi.stride, wi.start_index) == ((3,), 2, 3, 2, 1)   # 1, 3, 5


def test_frame_numbers_are_int64_whatever_the_start_type():
    for start in (np.int32(5), np.array([5, 6], np.int32), 5):
        assert target_frame_of(start, 3, 2).dtype == np.int64
        assert target_frame_of(start, 3, 2, "last").dtype == np.int64
        assert window_frames(start, 3, 2).dtype == np.int64
    assert target_frame_of(np.array([5, 6], np.int32), 3, 2).tolist() == [11, 12]
