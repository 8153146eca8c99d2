"""Why W4 cannot reach 2x the pool: the Farneback work alone, on W4's frame pairs at 112x112 with gpuvideo's
parameters, one OpenCV thread, against the whole of gpuvideo's W4 time on 2 cores.

    python benchmarks/levers/lever_g_flow_share.py
"""
import time

import cv2
import numpy as np

import common

import gpuvideo


def main():
    print("load average", common.load())
    pattern = str(common.DATA / "w1" / "{classname}" / "*.avi")
    frames = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, nb_frames=6, batch_size=8, target_shape=(112, 112),
                                          shuffle=False, index_cache=None, progress=False, nb_channel=1,
                                          dtype="uint8")
    clips = [x for b in range(len(frames)) for x in frames[b][0]]
    frames.close()
    cv2.setNumThreads(1)
    t = time.process_time()
    for clip in clips:
        for i in range(len(clip) - 1):
            cv2.calcOpticalFlowFarneback(clip[i, :, :, 0], clip[i + 1, :, :, 0], None, 0.5, 3, 15, 3, 5, 1.1, 0)
    flow_cpu = time.process_time() - t
    cv2.setNumThreads(-1)
    gen = gpuvideo.OpticalFlowGenerator(glob_pattern=pattern, nb_frames=5, batch_size=8, target_shape=(112, 112),
                                        shuffle=False, index_cache=None, progress=False,
                                        method=gpuvideo.METHOD_OPTICAL_FLOW)
    walls = []
    for _ in range(3):
        t = time.perf_counter()
        for b in range(len(gen)):
            gen[b]
        walls.append(time.perf_counter() - t)
    wall = float(np.median(walls))
    pairs = sum(len(c) - 1 for c in clips)
    print(f"{len(clips)} clips, {pairs} Farneback pairs: {flow_cpu:.3f} s CPU on one thread = {flow_cpu / 2:.3f} s "
          f"on 2 cores if perfectly split; gpuvideo's whole W4 pass: {wall:.3f} s (median of 3) -> Farneback is "
          f"{flow_cpu / 2 / wall:.0%} of it. 2x the pool needs the pass in half the pool's time, which contains "
          f"the same Farneback work.")


if __name__ == "__main__":
    main()
