"""Lever a: codec_context.skip_frame = "NONREF" while decoding towards a wanted frame, "DEFAULT" for
the packets of wanted frames. Exactness: wanted frames (indices and pixels) must equal a full
sequential decode. Speed: clip decode (seek to keyframe + forward, wanted frames converted to rgb24),
skip vs no skip, interleaved rounds.

    python benchmarks/levers/lever_a_skip.py [--rounds 5]
"""
import argparse
import bisect

import av
import numpy as np

import common


def clip(path, wanted, skip, threads=1):
    """Wanted frames {index: rgb24 full size}, pictures output by the decoder, packets skipped."""
    with av.open(path) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        if threads > 1:
            s.thread_type = "AUTO"
        s.thread_count = threads
        order, index_of, keyframes = common.bp.demux_index(c, s)
        want = sorted(set(wanted))
        got, decoded, pos, frames = {}, 0, None, None

        def frame_iter():
            for pkt in c.demux(s):
                if skip:
                    i = index_of.get(pkt.pts)
                    cc.skip_frame = "DEFAULT" if (i is None or (i in remaining)) else "NONREF"
                yield from pkt.decode()

        remaining = set(want)
        for w in want:
            k = keyframes[max(0, bisect.bisect_right(keyframes, w) - 1)]
            if frames is None or pos is None or pos > w or k > pos:
                c.seek(order[k], stream=s, backward=True, any_frame=False)
                cc.skip_frame = "DEFAULT"
                frames = frame_iter()
            for f in frames:
                decoded += 1
                i = index_of[f.pts]
                pos = i + 1
                if i in remaining:
                    got[i] = f.to_ndarray(format="rgb24")
                    remaining.discard(i)
                if i >= w:
                    break
        return got, decoded


def exact(path, wanted, threads):
    truth = common.full_decode(path, set(wanted))
    problems = []
    for skip in (False, True):
        got, _ = clip(path, wanted, skip, threads)
        for i in wanted:
            if i not in got:
                problems.append(f"skip={skip}: frame {i} missing")
            elif not np.array_equal(got[i], truth[i]):
                problems.append(f"skip={skip}: frame {i} differs (mean {np.abs(got[i].astype(int) - truth[i]).mean():.2f})")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sets = {
        "MPEG-4, no B-frames (W1 files), 8 uniform": (common.w1_files(24), 8),
        "MPEG-4, 2 B-frames, GOP 12, 320x240, 8 uniform": (common.extra_files("mpeg4_bframes", 12), 8),
        "H.264, 2 B-frames (x264 b-pyramid), GOP 24, 320x240, 8 uniform": (common.extra_files("h264", 12), 8),
        "H.264 1920x1080, GOP 60, 2 B-frames (W2 files), 8 uniform": (sorted(str(p) for p in (common.DATA / "w2").glob("*/*.mp4"))[:2], 8),
    }
    print(f"load average {common.load()}")
    for name, (files, n) in sets.items():
        jobs = [(p, common.bp.uniform_indices(common.bp.scan(p).frame_count, n)) for p in files]
        # exactness, single thread and 2 FFmpeg threads, on up to 4 files
        probs = []
        for p, w in jobs[:4]:
            for t in (1, 2):
                probs += [f"{p} threads={t}: {x}" for x in exact(p, w, t)]
        dec = {s: sum(clip(p, w, s)[1] for p, w in jobs) for s in (False, True)}
        med, _ = common.interleaved({
            "off": lambda: [clip(p, w, False) for p, w in jobs],
            "on": lambda: [clip(p, w, True) for p, w in jobs]}, args.rounds)
        cpu = dict(common.CPU_S)
        print(f"{name}: {len(jobs)} files; pictures decoded {dec[False]} -> {dec[True]} "
              f"({dec[True] / dec[False]:.2f}); CPU {cpu['off'] * 1e3:.0f} -> {cpu['on'] * 1e3:.0f} ms, "
              f"gain {cpu['off'] / cpu['on']:.2f}x (wall {med['off'] / med['on']:.2f}x); "
              f"exact: {'yes' if not probs else 'NO: ' + '; '.join(probs[:3])}")
    # W3: every frame of 0..1611 is wanted, so nothing may be skipped
    p = common.w3_file()
    got, dec = clip(p, list(range(0, 400)), True)
    print(f"W3 pattern (windows of 16 every 4: frames 0..1611 all wanted): NONREF skips nothing "
          f"({dec} pictures for 400 wanted frames in a check over frames 0..399)")


if __name__ == "__main__":
    main()
