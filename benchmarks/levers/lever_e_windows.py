"""Lever e: building W3's float32 windows ((16, 16, 224, 224, 3) per batch: 16 windows of 16 frames,
a window every 4 frames) from the batch's 76 resized uint8 frames. Variants:

- today: per window, gather its 16 uint8 frames and multiply into the float32 output slot
  (each frame converted once per window that holds it, 4 times on average);
- union once: convert the 76 frames to float32 once, then copy each window's slice into the output;
- union once + fancy-index gather (one call);
- ring of float32 frames carried between batches (the 12 shared frames not converted again);
- for scale, uint8 output (no conversion: the dtype='uint8' option) and float16;
- today's arithmetic into one batch array reused across batches (no fresh pages).

Every other variant allocates its batch array afresh, as a generator returning batches does.

Interleaved rounds, median, per batch of 16 windows.

    python benchmarks/levers/lever_e_windows.py [--rounds 7]
"""
import argparse

import numpy as np

import common

B, L, S = 16, 16, 4
H = W = 224
SCALE = np.float32(1 / 255)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = (B - 1) * S + L                                    # 76 frames per batch
    u8 = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    starts = np.arange(B) * S
    rel = starts[:, None] + np.arange(L)[None, :]
    # the previous batch's float frames: its last 12 are this batch's first 12
    ring = np.zeros((n, H, W, 3), np.float32)
    ring[B * S:] = u8[:n - B * S].astype(np.float32) * SCALE

    def fresh():
        return np.empty((B, L, H, W, 3), np.float32)   # a new batch array, as a generator returns

    def today():
        out = fresh()
        for b in range(B):
            np.multiply(u8[rel[b]], SCALE, out=out[b])
        return out

    def today_slices():
        out = fresh()
        for b in range(B):
            np.multiply(u8[starts[b]:starts[b] + L], SCALE, out=out[b])
        return out

    def union_copy():
        out = fresh()
        f = u8.astype(np.float32)
        f *= SCALE
        for b in range(B):
            out[b] = f[starts[b]:starts[b] + L]
        return out

    def union_gather():
        f = u8.astype(np.float32)
        f *= SCALE
        return f[rel]

    def ring_carry():
        # the previous batch's last 12 frames are already float: convert only the 64 new ones
        out = fresh()
        f = np.empty_like(ring)
        f[:n - B * S] = ring[B * S:]
        np.multiply(u8[n - B * S:], SCALE, out=f[n - B * S:])
        for b in range(B):
            out[b] = f[starts[b]:starts[b] + L]
        return out

    reused = np.empty((B, L, H, W, 3), np.float32)

    def today_reused_buffer():
        for b in range(B):
            np.multiply(u8[rel[b]], SCALE, out=reused[b])
        return reused

    def uint8_out():
        o = np.empty((B, L, H, W, 3), np.uint8)
        for b in range(B):
            o[b] = u8[starts[b]:starts[b] + L]

    def float16_out():
        f = u8.astype(np.float16)
        f *= np.float16(1 / 255)
        o = np.empty((B, L, H, W, 3), np.float16)
        for b in range(B):
            o[b] = f[starts[b]:starts[b] + L]

    lut32 = np.arange(256, dtype=np.float32) * SCALE
    lut16 = lut32.astype(np.float16)

    def lut_float32():
        out = fresh()
        for b in range(B):
            np.take(lut32, u8[starts[b]:starts[b] + L], out=out[b])
        return out

    def lut_float16():
        o = np.empty((B, L, H, W, 3), np.float16)
        for b in range(B):
            np.take(lut16, u8[starts[b]:starts[b] + L], out=o[b])

    ref = today()
    lut_exact = np.array_equal(lut_float32(), ref)
    for fn in (today_slices, union_copy, ring_carry, union_gather, today_reused_buffer):
        assert np.array_equal(fn(), ref), fn.__name__
    variants = {"today: per-window multiply (fancy gather)": today,
                "per-window multiply (slices, no gather copy)": today_slices,
                "union converted once + slice copies": union_copy,
                "union converted once + fancy-index gather (new array)": union_gather,
                "float ring carried between batches + slice copies": ring_carry,
                "uint8 output (no conversion)": uint8_out,
                "float16 output (union once + slice copies)": float16_out,
                "float32 through a 256-entry table (np.take, slices)": lut_float32,
                "float16 through a 256-entry table (np.take, slices)": lut_float16,
                "today, into one reused batch array (no new pages)": today_reused_buffer}
    print(f"load average {common.load()}")
    wall, _ = common.interleaved(variants, args.rounds)
    med = dict(common.CPU_S)
    base = med["today: per-window multiply (fancy gather)"]
    wbase = wall["today: per-window multiply (fancy gather)"]
    print("| variant | CPU ms per batch of 16 windows | windows/s (this step alone, CPU) | gain vs today (CPU) | "
          "gain (wall) | exact |")
    print("|---|---:|---:|---:|---:|---|")
    for k, v in med.items():
        exact = "other dtype" if ("output" in k or "float16" in k) else (
            "same bits" if ("table" not in k or lut_exact) else "differs")
        print(f"| {k} | {v * 1e3:.1f} | {B / v:.0f} | {base / v:.2f}x | {wbase / wall[k]:.2f}x | {exact} |")


if __name__ == "__main__":
    main()
