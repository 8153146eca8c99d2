"""farneback_cupy vs cv2.calcOpticalFlowFarneback on a GPU.

Every test is marked ``gpu``: tests/conftest.py skips them (with the reason) where CuPy
cannot reach a CUDA device, and fails them instead under ``GPUVIDEO_REQUIRE_GPU=1``.
CuPy is imported only by the ``cp`` fixture, so a machine without it collects this module.
"""

import cv2
import numpy as np
import pytest

from gpuvideo.farneback import FarnebackParams
from gpuvideo.farneback.cupy_impl import farneback_cupy   # imports CuPy lazily

from test_farneback_reference import real_looking_pair, shifted_pair

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    import cupy

    return cupy


SYNTH_MEAN = 0.001  # px
REAL_MEAN = 0.01    # px
P99 = 0.05          # px

CONFIGS = [
    FarnebackParams(),
    FarnebackParams(poly_n=7, poly_sigma=1.5),
    FarnebackParams(flags=256),
    FarnebackParams(pyr_scale=0.7, levels=4, winsize=10, iterations=4),
]
IDS = ["default", "poly7", "gauss256", "scale0.7_even_win"]


def _check(cp, prev, nxt, p, mean_gate):
    flow = cp.asnumpy(farneback_cupy(cp.asarray(prev), cp.asarray(nxt), p))
    assert flow.shape == prev.shape + (2,) and flow.dtype == np.float32
    for i in range(prev.shape[0]):
        want = cv2.calcOpticalFlowFarneback(prev[i], nxt[i], None, *p.as_cv2_args())
        e = np.linalg.norm(flow[i].astype(np.float64) - want, axis=-1)
        mean, p99 = float(e.mean()), float(np.percentile(e, 99))
        assert mean <= mean_gate and p99 <= P99, (i, mean, p99, float(e.max()))


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
@pytest.mark.parametrize("size", [(120, 160), (241, 333), (1080, 1920)])
def test_gpu_matches_cv2_synthetic(cp, p, size):
    rng = np.random.default_rng([CONFIGS.index(p), *size])   # seeded per case: failures reproduce
    n = 3 if size[0] < 1000 else 2
    pairs = [shifted_pair(rng, *size, *rng.uniform(-4, 4, 2)) for _ in range(n)]
    prev = np.stack([a for a, _ in pairs])
    nxt = np.stack([b for _, b in pairs])
    _check(cp, prev, nxt, p, SYNTH_MEAN)


@pytest.mark.parametrize("p", CONFIGS[:3], ids=IDS[:3])
def test_gpu_matches_cv2_real_looking(cp, p):
    rng = np.random.default_rng([360, 640, CONFIGS.index(p)])
    pairs = [real_looking_pair(rng, 360, 640) for _ in range(4)]
    prev = np.stack([a for a, _ in pairs])
    nxt = np.stack([b for _, b in pairs])
    _check(cp, prev, nxt, p, REAL_MEAN)


def test_gpu_batch_equals_single_pairs(cp):
    rng = np.random.default_rng(96128)
    pairs = [shifted_pair(rng, 96, 128, *rng.uniform(-2, 2, 2)) for _ in range(3)]
    prev = cp.asarray(np.stack([a for a, _ in pairs]))
    nxt = cp.asarray(np.stack([b for _, b in pairs]))
    batched = farneback_cupy(prev, nxt, FarnebackParams())
    for i in range(3):
        single = farneback_cupy(prev[i:i + 1], nxt[i:i + 1], FarnebackParams())
        cp.testing.assert_array_equal(batched[i:i + 1], single)
