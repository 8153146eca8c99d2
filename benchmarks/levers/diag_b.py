"""Where does the 4:4:4 cv2 variant's difference from today's path come from? (diagnostic for lever b)"""
import cv2, numpy as np
import common
from lever_b_resize import planes, today, cv2_planes_444, _M, decoded_frames

frames = decoded_frames(common.w1_files(2), 60)
size = (112, 112)
def f32conv(y, u, v):
    yuv = np.stack([y, u, v], -1).astype(np.float32) - np.array([16, 128, 128], np.float32)
    return yuv @ _M.T
rows = []
for f in frames:
    y, u, v = planes(f)
    up = lambda p: np.repeat(np.repeat(p, 2, 0), 2, 1)
    full_sws = f.to_ndarray(format="rgb24", threads=1).astype(np.float32)
    full_exact = f32conv(y, up(u), up(v))                          # float, unclipped, nearest chroma
    rows.append(dict(
        sws_vs_exact_clipped=np.abs(full_sws - np.clip(np.round(full_exact), 0, 255)).mean(),
        clip_share=((full_exact < -0.5) | (full_exact > 255.5)).mean(),
        # today vs: resize exact float *clipped* then round (only the rounding of swscale differs)
        today_vs_exactclip=np.abs(today(f, size).astype(np.float32) - np.clip(np.round(cv2.resize(np.clip(full_exact, 0, 255), size, interpolation=cv2.INTER_LINEAR)), 0, 255)).mean(),
        today_vs_exact_noclip=np.abs(today(f, size).astype(np.float32) - np.clip(np.round(cv2.resize(full_exact, size, interpolation=cv2.INTER_LINEAR)), 0, 255)).mean(),
        v444_vs_exact_noclip=np.abs(cv2_planes_444(f, size).astype(np.float32) - np.clip(np.round(cv2.resize(full_exact, size, interpolation=cv2.INTER_LINEAR)), 0, 255)).mean(),
    ))
for k in rows[0]:
    print(k, np.mean([r[k] for r in rows]))
