"""Lever b: resize before the colour conversion. Per frame, from a decoded yuv420p av.VideoFrame to
uint8 RGB at the target size; compared with today's path (full-size rgb24 through swscale with
PyAV's default flags, then cv2.resize INTER_LINEAR): speed (conversion only, frames decoded beforehand;
interleaved rounds) and pixel difference (mean and max |difference|, share of values off by > 1).

    python benchmarks/levers/lever_b_resize.py [--rounds 5] [--frames 200]
"""
import argparse

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation as I

import common

cv2.setNumThreads(1)   # per-frame cost on one core (the decode pools run one clip per core)

# BT.601 limited range, Y'CbCr -> R'G'B' (what swscale's yuv2rgb uses for unspecified colour spaces)
_M = np.array([[1.164383, 0.0, 1.596027], [1.164383, -0.391762, -0.812968], [1.164383, 2.017232, 0.0]],
              np.float32)
_T = np.concatenate([_M, (-_M @ np.array([16, 128, 128], np.float32))[:, None]], axis=1)   # 3x4 for cv2.transform


def planes(f):
    """Y (H, W), U and V (H/2, W/2) uint8 views of a yuv420p frame (line padding dropped)."""
    out = []
    for p in f.planes:
        a = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width]
        out.append(a)
    return out


def today(f, size):
    return cv2.resize(f.to_ndarray(format="rgb24", threads=1), size, interpolation=cv2.INTER_LINEAR)


def sws(interp):
    def conv(f, size):
        return f.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation=interp, threads=1)
    return conv


def sws_yuv_then_cv2(interp):
    """swscale resizes in yuv420p, cv2 converts the small I420 frame."""
    def conv(f, size):
        small = f.reformat(width=size[0], height=size[1], format="yuv420p", interpolation=interp, threads=1)
        return cv2.cvtColor(small.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return conv


def cv2_planes_i420(f, size):
    """cv2.resize (INTER_LINEAR) of Y to (w, h) and of U, V to (w/2, h/2), then cv2 I420 -> RGB."""
    y, u, v = planes(f)
    w, h = size
    buf = np.empty((h * 3 // 2, w), np.uint8)
    cv2.resize(y, (w, h), dst=buf[:h], interpolation=cv2.INTER_LINEAR)
    q = (w // 2) * (h // 2)
    flat = buf[h:].reshape(-1)
    cv2.resize(u, (w // 2, h // 2), dst=flat[:q].reshape(h // 2, w // 2), interpolation=cv2.INTER_LINEAR)
    cv2.resize(v, (w // 2, h // 2), dst=flat[q:].reshape(h // 2, w // 2), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_I420)


def cv2_planes_444(f, size):
    """cv2.resize (INTER_LINEAR) of Y, U and V each to (w, h), then the BT.601 affine map (cv2.transform)."""
    y, u, v = planes(f)
    yuv = cv2.merge([cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) for p in (y, u, v)])
    return cv2.transform(yuv, _T)


def cv2_planes_444_sited(f, size):
    """As cv2_planes_444, chroma resized from its nearest-neighbour upsampling's geometry (what today's
    path sees): the chroma plane is resized with the same source->destination map as luma."""
    y, u, v = planes(f)
    H, W = y.shape
    w, h = size
    # destination pixel centre -> luma coordinate -> chroma cell (nearest upsampling: luma x in [2c, 2c+2))
    sx = (np.arange(w, dtype=np.float32) + 0.5) * (W / w) - 0.5
    sy = (np.arange(h, dtype=np.float32) + 0.5) * (H / h) - 0.5
    yc = cv2.resize(y, size, interpolation=cv2.INTER_LINEAR)
    mx, my = np.meshgrid(sx, sy)
    # bilinear in luma coordinates over the replicated chroma = remap of the chroma plane with
    # coordinates (x - 0.5) / 2 is not identical (replication is piecewise constant): approximate with /2
    cu = cv2.remap(u, (mx - 0.5) / 2, (my - 0.5) / 2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cv = cv2.remap(v, (mx - 0.5) / 2, (my - 0.5) / 2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.transform(cv2.merge([yc, cu, cv]), _T)


def sws_444_then_transform(interp):
    """swscale resizes to yuv444p at the target size, cv2.transform converts."""
    def conv(f, size):
        small = f.reformat(width=size[0], height=size[1], format="yuv444p", interpolation=interp, threads=1)
        y, u, v = planes(small)
        return cv2.transform(cv2.merge([y, u, v]), _T)
    return conv


def swscale_affine():
    """3x4 affine map that swscale's yuv420p -> rgb24 conversion applies (PyAV defaults), fitted by least
    squares on a calibration frame of random Y (16-235) and random 2x2-constant U, V (16-240), unclipped pixels."""
    rng = np.random.default_rng(0)
    h = w = 256
    y = rng.integers(16, 236, (h, w), dtype=np.uint8)
    u = rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8)
    v = rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(np.concatenate([y, u.reshape(-1, w), v.reshape(-1, w)]), format="yuv420p")
    rgb = frame.to_ndarray(format="rgb24", threads=1).reshape(-1, 3).astype(np.float64)
    up = lambda p: np.repeat(np.repeat(p, 2, 0), 2, 1)
    yuv = np.stack([y, up(u), up(v)], -1).reshape(-1, 3).astype(np.float64)
    ok = ((rgb > 0) & (rgb < 255)).all(1)
    a = np.concatenate([yuv[ok], np.ones((ok.sum(), 1))], 1)
    coef, *_ = np.linalg.lstsq(a, rgb[ok], rcond=None)
    return coef.T.astype(np.float32)


_TS = swscale_affine()


def cv2_planes_444_swscale(f, size):
    """cv2.resize (INTER_LINEAR) of Y, U and V each to (w, h), then swscale's own affine map (cv2.transform)."""
    y, u, v = planes(f)
    yuv = cv2.merge([cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) for p in (y, u, v)])
    return cv2.transform(yuv, _TS)


VARIANTS = {
    "today: rgb24 full size + cv2 INTER_LINEAR": today,
    "sws rgb24 at size, FAST_BILINEAR": sws(I.FAST_BILINEAR),
    "sws rgb24 at size, BILINEAR (PyAV default)": sws(I.BILINEAR),
    "sws rgb24 at size, BILINEAR|ACCURATE_RND": sws(I.BILINEAR | I.ACCURATE_RND),
    "sws rgb24 at size, BILINEAR|FULL_CHR_H_INT": sws(I.BILINEAR | I.FULL_CHR_H_INT),
    "sws rgb24 at size, BICUBIC": sws(I.BICUBIC),
    "sws rgb24 at size, AREA": sws(I.AREA),
    "sws rgb24 at size, POINT": sws(I.POINT),
    "sws yuv420p at size (BILINEAR) + cv2 I420->RGB": sws_yuv_then_cv2(I.BILINEAR),
    "sws yuv420p at size (FAST_BILINEAR) + cv2 I420->RGB": sws_yuv_then_cv2(I.FAST_BILINEAR),
    "sws yuv444p at size (BILINEAR) + cv2.transform": sws_444_then_transform(I.BILINEAR),
    "cv2.resize Y/U/V planes (I420) + cv2 I420->RGB": cv2_planes_i420,
    "cv2.resize Y, U, V to size + cv2.transform (4:4:4)": cv2_planes_444,
    "cv2.resize Y + cv2.remap U, V (luma geometry) + cv2.transform": cv2_planes_444_sited,
    "cv2.resize Y, U, V to size + cv2.transform (swscale's fitted affine)": cv2_planes_444_swscale,
}


def decoded_frames(paths, n):
    out = []
    for p in paths:
        with av.open(p) as c:
            for f in c.decode(c.streams.video[0]):
                out.append(f)
                if len(out) >= n:
                    return out
    return out


def run(name, frames, size, rounds):
    ref = [today(f, size) for f in frames]
    rows = {}
    for vname, conv in VARIANTS.items():
        got = [conv(f, size) for f in frames]
        d = np.abs(np.stack(got).astype(np.int16) - np.stack(ref))
        rows[vname] = dict(mean=float(d.mean()), max=int(d.max()), over1=float((d > 1).mean() * 100))
    med, _ = common.interleaved({v: (lambda c=c: [c(f, size) for f in frames]) for v, c in VARIANTS.items()}, rounds)
    cpu = dict(common.CPU_S)
    first = next(iter(VARIANTS))
    print(f"\n{name}: {len(frames)} frames {frames[0].width}x{frames[0].height} -> {size[0]}x{size[1]}")
    print("| variant | CPU us/frame | gain vs today (CPU) | gain (wall) | mean abs diff | max | % values off by > 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v, r in rows.items():
        print(f"| {v} | {cpu[v] / len(frames) * 1e6:.0f} | {cpu[first] / cpu[v]:.2f}x | {med[first] / med[v]:.2f}x | "
              f"{r['mean']:.3f} | {r['max']} | {r['over1']:.2f} |")


def decode_cost(paths, n, rounds):
    def dec():
        k = 0
        for p in paths:
            with av.open(p) as c:
                s = c.streams.video[0]
                s.thread_count = 1
                for _ in c.decode(s):
                    k += 1
                    if k >= n:
                        return
    common.interleaved({"decode": dec}, rounds)
    return common.CPU_S["decode"] / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    print(f"load average {common.load()}")
    w1 = common.w1_files(4)
    run("W1-like (MPEG-4 320x240 -> 112x112)", decoded_frames(w1, args.frames), (112, 112), args.rounds)
    print(f"(decode alone, one thread: {decode_cost(w1, args.frames, args.rounds):.0f} CPU us/frame)")
    w3 = [common.w3_file()]
    run("W3-like (H.264 640x480 -> 224x224)", decoded_frames(w3, args.frames), (224, 224), args.rounds)
    print(f"(decode alone, one thread: {decode_cost(w3, args.frames, args.rounds):.0f} CPU us/frame)")
    w2 = sorted(str(p) for p in (common.DATA / "w2").glob("*/*.mp4"))[:1]
    run("W2-like, for comparison (H.264 1920x1080 -> 224x224)", decoded_frames(w2, args.frames // 4), (224, 224),
        args.rounds)
    print(f"(decode alone, one thread: {decode_cost(w2, args.frames // 4, args.rounds):.0f} CPU us/frame)")


# ---------------------------------------------------------------- chroma resampled as today's path sees it
_MAPS = {}


def _axis(src: int, dst: int):
    """cv2.resize INTER_LINEAR source positions for ``dst`` outputs: (index p, fraction a), clamped as OpenCV does."""
    f = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    p = np.floor(f)
    a = f - p
    low = p < 0
    p[low], a[low] = 0, 0
    high = p >= src - 1
    p[high], a[high] = src - 1, 0
    return p.astype(np.int64), a


def _maps(W, H, w, h):
    """Fixed-point remap tables that sample the half-resolution chroma planes exactly where cv2.resize of the
    nearest-upsampled (full-resolution) planes would: luma position p + a -> chroma p // 2 + (p odd) * a."""
    key = (W, H, w, h)
    if key not in _MAPS:
        px, ax = _axis(W, w)
        py, ay = _axis(H, h)
        cx = (px // 2 + (px % 2) * ax).astype(np.float32)
        cy = (py // 2 + (py % 2) * ay).astype(np.float32)
        mx, my = np.meshgrid(cx, cy)
        _MAPS[key] = cv2.convertMaps(mx, my, cv2.CV_16SC2)
    return _MAPS[key]


def cv2_luma_resize_chroma_remap(f, size):
    """Y: cv2.resize INTER_LINEAR (today's luma exactly); U, V: cv2.remap from the half-resolution planes with
    today's geometry (fixed-point tables cached per size); swscale's fitted affine map (cv2.transform)."""
    y, u, v = planes(f)
    m1, m2 = _maps(y.shape[1], y.shape[0], size[0], size[1])
    yy = cv2.resize(y, size, interpolation=cv2.INTER_LINEAR)
    uu = cv2.remap(u, m1, m2, cv2.INTER_LINEAR)
    vv = cv2.remap(v, m1, m2, cv2.INTER_LINEAR)
    return cv2.transform(cv2.merge([yy, uu, vv]), _TS)


VARIANTS["cv2.resize Y + cv2.remap U, V (today's chroma geometry, fixed-point) + swscale's affine"] = \
    cv2_luma_resize_chroma_remap


def cv2_i420_full_then_resize(f, size):
    """Full-size conversion by OpenCV (I420 -> RGB) instead of swscale, then cv2.resize INTER_LINEAR."""
    return cv2.resize(cv2.cvtColor(f.to_ndarray(), cv2.COLOR_YUV2RGB_I420), size, interpolation=cv2.INTER_LINEAR)


VARIANTS["cv2 I420->RGB at full size + cv2.resize (no swscale)"] = cv2_i420_full_then_resize


if __name__ == "__main__":
    main()
