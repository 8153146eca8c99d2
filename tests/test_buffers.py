"""Batch arrays recycled once nothing holds them: a batch the caller keeps is never written again."""
import gc

import numpy as np
import pytest

from gpuvideo.buffers import BatchBuffers


def test_a_free_array_is_reused_a_held_one_never():
    pool = BatchBuffers(keep=2)
    a = pool.empty((4, 3), np.float32)
    a_id = id(a)
    held = pool.empty((4, 3), np.float32)          # a is still held: a new array
    assert held is not a
    del a
    gc.collect()
    b = pool.empty((4, 3), np.float32)             # a was let go: its memory again
    assert id(b) == a_id and pool.reused == 1
    c = pool.empty((4, 3), np.float32)             # b and held are held: new
    assert c is not b and c is not held
    assert pool.empty((4, 4), np.float32) is not None and pool.reused == 1   # other shape: new
    assert pool.empty((4, 3), np.float64).dtype == np.float64


@pytest.mark.parametrize("hold", ["view", "row", "memoryview", "tuple", "torch"])
def test_anything_sharing_the_memory_keeps_it_out_of_reuse(hold):
    pool = BatchBuffers(keep=4)
    a = pool.empty((2, 5), np.uint8)
    a[:] = 7
    if hold == "view":
        keeper = a[:, 1:]
    elif hold == "row":
        keeper = a[1]
    elif hold == "memoryview":
        keeper = memoryview(a)
    elif hold == "tuple":
        keeper = (a, None)
    else:
        torch = pytest.importorskip("torch")
        keeper = torch.from_numpy(a)
    del a
    gc.collect()
    b = pool.empty((2, 5), np.uint8)
    b[:] = 0
    assert pool.reused == 0
    assert (np.asarray(keeper[0] if hold == "tuple" else keeper) == 7).all()
    del keeper
    gc.collect()
    c = pool.empty((2, 5), np.uint8)                # let go at last: reused
    assert pool.reused == 1 and (c == 7).all()


def test_keep_zero_never_reuses():
    pool = BatchBuffers(keep=0)
    pool.empty((3,), np.float32)
    pool.empty((3,), np.float32)
    assert pool.reused == 0


def _gen(pattern, **kw):
    from gpuvideo import VideoFrameGenerator
    return VideoFrameGenerator(glob_pattern=pattern, nb_frames=4, batch_size=3, target_shape=(48, 32),
                               shuffle=False, index_cache=None, progress=False, **kw)


@pytest.mark.parametrize("prefetch", [0, 1])
def test_generator_batches_kept_by_the_caller_stay_as_they_were(action_dataset, prefetch):
    """Keeping every batch (no reuse possible) and dropping each one (reuse) give the same values, and a
    kept batch is not changed by the batches read after it."""
    gen = _gen(action_dataset, prefetch=prefetch)
    kept = [gen[i] for i in range(len(gen))]
    copies = [(x.copy(), y.copy()) for x, y in kept]
    for i in range(len(gen)):                      # read again, each batch dropped at once: buffers reused
        x, y = gen[i]
        np.testing.assert_array_equal(x, copies[i][0])
        del x, y
    assert gen._buffers.reused > 0
    for (x, y), (cx, cy) in zip(kept, copies):
        np.testing.assert_array_equal(x, cx)
        np.testing.assert_array_equal(y, cy)
    gen.close()


def test_generator_reuse_with_uint8_output(action_dataset):
    gen = _gen(action_dataset, dtype="uint8")
    first = gen[0][0].copy()
    for i in range(len(gen)):
        gen[i]
    np.testing.assert_array_equal(gen[0][0], first)
    assert gen._buffers.reused > 0
    gen.close()
