"""Lever d: the cost of opening a file per clip. For W1's files (MPEG-4 AVI 320x240) and the W3 file
(H.264 MP4, 20,000 frames): av.open + stream set-up + close; the demux scan a reader without an index
needs; and a clip (8 uniform frames, seek + forward decode, rgb24 + cv2.resize) with a fresh container
each time vs one container kept open (seeking back for each clip). Interleaved rounds, median.

    python benchmarks/levers/lever_d_open.py [--rounds 5]
"""
import argparse

import av

import common

SIZE = (112, 112)


def open_close(path):
    c = av.open(path)
    s = c.streams.video[0]
    s.thread_count = 1
    c.close()


def decode_clip(c, s, index, wanted):
    order, keyframes = index
    return common.seek_decode_clip(c, s, order, keyframes, wanted, SIZE)


def index_of(fi):
    return fi.pts, fi.keyframes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"load average {common.load()}")
    files = common.w1_files(48)
    infos = [common.bp.scan(p) for p in files]
    wanted = [common.bp.uniform_indices(fi.frame_count, 8) for fi in infos]

    def fresh():
        for p, fi, w in zip(files, infos, wanted):
            with av.open(p) as c:
                s = c.streams.video[0]
                s.thread_count = 1
                decode_clip(c, s, index_of(fi), w)

    held = []
    for p in files:
        c = av.open(p)
        s = c.streams.video[0]
        s.thread_count = 1
        held.append((c, s))

    def reuse():
        for (c, s), fi, w in zip(held, infos, wanted):
            decode_clip(c, s, index_of(fi), w)

    med, _ = common.interleaved({
        "open+close": lambda: [open_close(p) for p in files],
        "demux scan": lambda: [common.bp.scan(p) for p in files],
        "clip, fresh container": fresh,
        "clip, container kept open": reuse,
    }, args.rounds)
    n = len(files)
    med = dict(common.CPU_S)   # CPU seconds: single-threaded work, less disturbed by other processes
    print(f"W1 files ({n}), CPU time: open+close {med['open+close'] / n * 1e3:.2f} ms, demux scan {med['demux scan'] / n * 1e3:.2f} ms, "
          f"clip with a fresh container {med['clip, fresh container'] / n * 1e3:.2f} ms, kept open "
          f"{med['clip, container kept open'] / n * 1e3:.2f} ms -> gain {med['clip, fresh container'] / med['clip, container kept open']:.3f}x")
    for c, _ in held:
        c.close()
    # W3: one long file; what is it to reopen it per batch of windows?
    p = common.w3_file()
    med, _ = common.interleaved({"open+close": lambda: [open_close(p) for _ in range(20)],
                                 "scan": lambda: common.bp.scan(p)}, args.rounds)
    med = dict(common.CPU_S)
    print(f"W3 file (20,000 frames): open+close {med['open+close'] / 20 * 1e3:.2f} ms; demux scan "
          f"{med['scan'] * 1e3:.0f} ms (an index cached once avoids it)")


if __name__ == "__main__":
    main()
