"""Lever c diagnostic: share of W1's single-thread clip loop spent inside calls that release the GIL
(FFmpeg decode = packet.decode, swscale = to_ndarray, cv2.resize), timed with the thread's CPU clock
around those calls; the rest (opening, demuxing, seeking, the Python loop) holds the GIL. Amdahl's
bound for 2 threads follows. CPU time, so the machine's other load matters little."""
import bisect
import time

import av
import cv2
import numpy as np

import common

SIZE = (112, 112)
T = {"total": 0.0, "decode": 0.0, "to_ndarray": 0.0, "resize": 0.0, "open+scan": 0.0}


def clip(path, wanted):
    clock = time.thread_time
    t_start = clock()
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_count = 1
        order, index_of, keyframes = common.bp.demux_index(c, s)
        T["open+scan"] += clock() - t_start
        got, pos, packets, pending = {}, None, None, []
        for w in sorted(set(wanted)):
            k = keyframes[max(0, bisect.bisect_right(keyframes, w) - 1)]
            if packets is None or pos is None or pos > w or k > pos:
                c.seek(order[k], stream=s, backward=True, any_frame=False)
                packets, pending = c.demux(s), []
            done = False
            while not done:
                if not pending:
                    pkt = next(packets)
                    t0 = clock()
                    pending = list(pkt.decode())
                    T["decode"] += clock() - t0
                    continue
                f = pending.pop(0)
                i = index_of[f.pts]
                pos = i + 1
                if i in wanted and i not in got:
                    t0 = clock()
                    a = f.to_ndarray(format="rgb24", threads=1)
                    t1 = clock()
                    got[i] = cv2.resize(a, SIZE, interpolation=cv2.INTER_LINEAR)
                    T["to_ndarray"] += t1 - t0
                    T["resize"] += clock() - t1
                if i >= w:
                    done = True
    T["total"] += clock() - t_start
    return np.stack([got[i] for i in wanted])


cv2.setNumThreads(1)
files = common.w1_files(96)
jobs = [(p, common.bp.uniform_indices(common.bp.scan(p).frame_count, 8)) for p in files]
for j in jobs:
    clip(*j)
for k in T:
    T[k] = 0.0
for _ in range(3):
    for j in jobs:
        clip(*j)
n = 3 * len(jobs)
print(f"{n} clips, {T['total'] / n * 1e3:.2f} CPU ms per clip")
for k in ("decode", "to_ndarray", "resize", "open+scan"):
    print(f"  {k}: {T[k] / n * 1e3:.2f} ms ({T[k] / T['total'] * 100:.0f}%)")
free = (T["decode"] + T["to_ndarray"] + T["resize"]) / T["total"]
print(f"  in GIL-releasing calls: {free * 100:.0f}%; holding the GIL (open, demux, seek, loop): {(1 - free) * 100:.0f}%")
print(f"Amdahl bound for 2 threads: {1 / ((1 - free) + free / 2):.2f}x (processes are not bound by it)")
