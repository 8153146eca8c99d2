"""Diagnostic for lever b: which step makes resize-first differ from today's pixels?"""
import cv2, numpy as np
import common
from lever_b_resize import planes, today, decoded_frames, _TS

def run(paths, size, n=40):
    fr = decoded_frames(paths, n)
    R = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)
    up = lambda p: np.repeat(np.repeat(p, 2, 0), 2, 1)
    M, c = _TS[:, :3], _TS[:, 3]
    out = {k: [] for k in ["A fitted affine on today's own full-size YUV (no resize): sws - round(fit)",
                           "B resize(up-nearest chroma, float) + fit, clip after",
                           "C resize(up-nearest chroma, uint8 planes) + fit",
                           "D resize planes directly (uint8) + fit [the variant]",
                           "E like D but clip: resize of clip(fit) in float (clip before resize)"]}
    for f in fr:
        y, u, v = planes(f)
        t = today(f, size).astype(np.float32)
        full = np.stack([y, up(u), up(v)], -1).astype(np.float32)
        fit_full = full @ M.T + c
        out[list(out)[0]].append(np.abs(f.to_ndarray(format="rgb24").astype(np.float32) - np.clip(np.round(fit_full), 0, 255)).mean())
        b = np.clip(np.round(R(full) @ M.T + c), 0, 255)
        out[list(out)[1]].append(np.abs(t - b).mean())
        cc = np.stack([R(y), R(np.ascontiguousarray(up(u))), R(np.ascontiguousarray(up(v)))], -1).astype(np.float32)
        out[list(out)[2]].append(np.abs(t - np.clip(np.round(cc @ M.T + c), 0, 255)).mean())
        d = np.stack([R(y), R(u), R(v)], -1).astype(np.float32)
        out[list(out)[3]].append(np.abs(t - np.clip(np.round(d @ M.T + c), 0, 255)).mean())
        e = np.round(R(np.clip(fit_full, 0, 255)))
        out[list(out)[4]].append(np.abs(t - e).mean())
    for k, v in out.items():
        print(f"  {k}: mean |diff| {np.mean(v):.3f}")

print("W1-like"); run(common.w1_files(4), (112, 112))
print("W3-like"); run([common.w3_file()], (224, 224))
