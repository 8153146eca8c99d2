"""``gpuvideo preview``: look at one batch of a generator, as keras_video's ``show_sample`` did on screen.

:func:`preview_batch` builds a generator (``frame``: :class:`~gpuvideo.generator.VideoFrameGenerator`,
``sliding``: :class:`~gpuvideo.sliding.SlidingFrameGenerator`, ``flow``:
:class:`~gpuvideo.flow.OpticalFlowGenerator`) on a dataset (or on a small
generated moving-shapes set), reads one batch and writes:

- a PNG grid (matplotlib, Agg backend): one row per clip, labelled with its class
  name; for the flow generator, the decoded frames of each clip with the motion
  images of each pair of consecutive frames beneath them;
- an animated GIF (Pillow): every clip of the batch playing side by side, with
  its motion images next to it for the flow generator.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from . import EXIT_OK, progress as _progress

log = logging.getLogger("gpuvideo")

GENERATORS = ("frame", "sliding", "flow")
#: ``--method`` names -> gpuvideo.flow method numbers (keras_video's)
FLOW_METHODS = {"optical-flow": 1, "flow-mask": 2, "diff-mask": 3, "abs-diff": 4}

LABEL_H = 14     # GIF: pixels of the class-name band above each clip
GAP = 4          # GIF: pixels between clips
CELL_IN = 1.5    # PNG: inches per image (width)
DPI = 100


def add_parser(sub, common) -> None:
    v = sub.add_parser("preview", parents=[common], help="write a PNG grid and a GIF of one batch",
                       description="Read one batch of a generator and write a PNG grid of its clips labelled "
                                   "with class names (for the flow generator: frames with the motion images "
                                   "beneath them) and an animated GIF. Without --data, a small moving-shapes "
                                   "dataset is generated in WORKDIR/preview.")
    v.add_argument("--generator", choices=GENERATORS, default="frame",
                   help="VideoFrameGenerator, SlidingFrameGenerator or OpticalFlowGenerator (default: %(default)s)")
    v.add_argument("--method", default="optical-flow",
                   help="flow generator method: optical-flow, flow-mask, diff-mask, abs-diff or 1-4 "
                        "(default: %(default)s)")
    v.add_argument("--data", metavar="PATTERN", help="glob with {classname}; default: a generated sample dataset")
    v.add_argument("--out", default="preview.png", metavar="PNG", help="PNG to write (default: %(default)s)")
    v.add_argument("--gif", metavar="GIF", help="GIF to write (default: the PNG's name with .gif)")
    v.add_argument("--no-gif", action="store_true", help="write the PNG only")
    v.add_argument("--batch", type=int, default=0, help="which batch (default: 0)")
    v.add_argument("--batch-size", type=int, default=4)
    v.add_argument("--nb-frames", type=int, default=5)
    v.add_argument("--size", type=_size, default=(128, 96), metavar="WxH", help="target_shape (default: 128x96)")
    v.add_argument("--grey", action="store_true", help="nb_channel=1")
    v.add_argument("--workdir", default="demo_data", help="where the sample dataset is written (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    import argparse

    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 2 or h < 2:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 128x96, got {text!r}") from None
    return w, h


def run(args) -> int:
    import sys

    gif = False if args.no_gif else (args.gif or True)
    res = preview_batch(out=args.out, generator=args.generator, method=args.method, data=args.data,
                        workdir=args.workdir, batch_size=args.batch_size, nb_frames=args.nb_frames,
                        target_shape=args.size, nb_channel=1 if args.grey else 3, batch_index=args.batch,
                        seed=args.seed, gif=gif, progress=_progress(args))
    out = sys.stdout
    out.write(f"batch of {res['shape'][0]} clips x {res['shape'][1]} images of {res['shape'][3]}x{res['shape'][2]} "
              f"from {res['pattern']}\n")
    out.write(f"classes in this batch: {', '.join(res['labels'])}\n")
    out.write(f"wrote {res['png']} ({res['png_size'][0]}x{res['png_size'][1]})")
    if res["gif"]:
        out.write(f" and {res['gif']} ({res['gif_size'][0]}x{res['gif_size'][1]}, {res['gif_frames']} frames)")
    out.write("\n")
    return EXIT_OK


def flow_method(method) -> int:
    """A method number from a name of :data:`FLOW_METHODS` or a number 1-4 (int or str)."""
    if isinstance(method, str) and method in FLOW_METHODS:
        return FLOW_METHODS[method]
    try:
        m = int(method)
    except (TypeError, ValueError):
        m = None
    if m not in FLOW_METHODS.values():
        raise ValueError(f"unknown flow method {method!r}: one of {sorted(FLOW_METHODS)} or 1-4")
    return m


def sample_dataset(workdir, progress: bool = True) -> str:
    """A small moving-shapes dataset (4 classes x 4 videos) under ``workdir/preview``; its glob pattern."""
    from ..synthetic import make_action_dataset

    return make_action_dataset(Path(workdir) / "preview", videos_per_class=4, nb_frames=32, width=128,
                               height=96, progress=progress)


def make_generator(kind: str, pattern: str, method=1, batch_size: int = 4, nb_frames: int = 5,
                   target_shape=(128, 96), nb_channel: int = 3, seed: int = 0, progress: bool = True,
                   index_cache=True, sequence_time: float | None = None):
    """The generator ``kind`` (one of :data:`GENERATORS`) on ``pattern``, shuffled with ``seed``."""
    common = dict(glob_pattern=pattern, batch_size=batch_size, nb_frames=nb_frames, target_shape=target_shape,
                  nb_channel=nb_channel, shuffle=True, seed=seed, progress=progress, index_cache=index_cache)
    if kind == "frame":
        from ..generator import VideoFrameGenerator
        return VideoFrameGenerator(**common)
    if kind == "sliding":
        from ..sliding import SlidingFrameGenerator
        return SlidingFrameGenerator(sequence_time=sequence_time, **common)
    if kind == "flow":
        from ..flow import OpticalFlowGenerator
        return OpticalFlowGenerator(method=flow_method(method), **common)
    raise ValueError(f"generator must be one of {GENERATORS}, got {kind!r}")


def _to_display(img: np.ndarray, scale: float) -> np.ndarray:
    """float ``(H, W, C)`` with values ``uint8 * scale`` -> uint8 RGB ``(H, W, 3)``."""
    a = np.asarray(img, np.float32)
    a = np.clip(a / scale if scale else a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return a[..., :3]


def read_batch(gen, index: int = 0) -> dict:
    """``{"images", "frames", "labels", "indices", "kind"}`` for batch ``index`` of ``gen``.

    ``images``: uint8 RGB ``(B, T, H, W, 3)`` of what the generator returns (its
    values divided by ``rescale``); ``frames``: for the flow generator, the decoded
    frames ``(B, T + 1, H, W, 3)`` the motion images come from, else None.
    """
    from ..flow import OpticalFlowGenerator

    if not 0 <= index < len(gen):
        raise ValueError(f"batch {index} out of range: the generator has {len(gen)} batches")
    x, y = gen[index]
    scale = float(gen.rescale) if gen.rescale else 1.0
    images = np.stack([[_to_display(f, scale) for f in clip] for clip in x])
    labels = [gen.classes[int(i)] for i in np.argmax(y, axis=1)]
    samples = gen.batch_info(index)          # the files and frames behind the batch, replacements included
    frames = None
    is_flow = isinstance(gen, OpticalFlowGenerator)
    if is_flow:
        try:
            frames = np.stack([[_to_display(f, 1.0) for f in gen.decoded_clip(s.sample)] for s in samples])
        except Exception as e:  # a decode error: show the motion images alone
            log.warning("cannot show the frames beside the motion images: %s", e)
    return {"images": images, "frames": frames, "labels": labels, "kind": "flow" if is_flow else "frames",
            "indices": [s.frames.tolist() for s in samples], "method": getattr(gen, "method", None)}


def _method_name(method) -> str:
    names = {v: k for k, v in FLOW_METHODS.items()}
    return names.get(method, "motion")


def write_png(batch: dict, path, title: str | None = None) -> tuple[int, int]:
    """The batch as a labelled grid; returns the PNG's (width, height) in pixels."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    images, frames, labels = batch["images"], batch["frames"], batch["labels"]
    b, t, h, w = images.shape[:4]
    flow = frames is not None
    cols = t + 1 if flow else t
    rows_per = 2 if flow else 1
    rows = b * rows_per
    cw, ch = CELL_IN, CELL_IN * h / w
    left, top, bottom = 1.2, 0.6, 0.1
    row_h = ch + 0.25
    fig_w, fig_h = left + cols * (cw + 0.05), top + bottom + rows * row_h
    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    fig.subplots_adjust(left=left / fig_w, right=1 - 0.05 / fig_w, top=1 - top / fig_h, bottom=bottom / fig_h,
                        wspace=0.05, hspace=0.25 / ch)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
    mname = _method_name(batch.get("method"))
    for i in range(b):
        idx = batch["indices"][i]
        if flow:
            fr = axes[i * 2]
            for k in range(t + 1):
                fr[k].imshow(frames[i, k])
                fr[k].set_title(f"frame {idx[k]}" if k < len(idx) else f"t{k}", fontsize=7, pad=2)
            fr[0].set_ylabel(f"{labels[i]}\nframes", fontsize=9)
            mo = axes[i * 2 + 1]
            mo[0].set_ylabel(f"{labels[i]}\n{mname}", fontsize=9)
            mo[0].text(0.5, 0.5, "pair k-1 -> k\nbelow frame k", ha="center", va="center", fontsize=7,
                       transform=mo[0].transAxes)
            for k in range(t):
                mo[k + 1].imshow(images[i, k])
                mo[k + 1].set_title(f"{idx[k]}->{idx[k + 1]}" if k + 1 < len(idx) else "", fontsize=7, pad=2)
        else:
            row = axes[i]
            for k in range(t):
                row[k].imshow(images[i, k])
                row[k].set_title(f"frame {idx[k]}" if k < len(idx) else f"t{k}", fontsize=7, pad=2)
            row[0].set_ylabel(labels[i], fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.15 / fig_h, va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return fig.canvas.get_width_height()


def gif_layout(batch_size: int, width: int, height: int, flow: bool, zoom: int = 1) -> dict:
    """Geometry of the GIF: ``cols``, ``rows``, ``cell_w``, ``cell_h``, ``size`` = (width, height) in pixels."""
    cols = min(batch_size, 2 if flow else 4)
    rows = math.ceil(batch_size / cols)
    tile_w, tile_h = width * zoom, height * zoom
    cell_w = tile_w * (2 if flow else 1) + (GAP if flow else 0) + GAP
    cell_h = LABEL_H + tile_h + GAP
    return {"cols": cols, "rows": rows, "tile": (tile_w, tile_h), "cell_w": cell_w, "cell_h": cell_h,
            "size": (cols * cell_w + GAP, rows * cell_h + GAP)}


def write_gif(batch: dict, path, zoom: int | None = None, ms_per_frame: int = 250) -> tuple[int, int]:
    """Every clip playing side by side (motion image to the right of its frame for flow); returns (w, h)."""
    from PIL import Image, ImageDraw

    images, frames, labels = batch["images"], batch["frames"], batch["labels"]
    b, t, h, w = images.shape[:4]
    flow = frames is not None
    zoom = zoom or max(1, 128 // max(w, h))
    lay = gif_layout(b, w, h, flow, zoom)
    tw, th = lay["tile"]
    pics = []
    for k in range(t):
        canvas = Image.new("RGB", lay["size"], (24, 24, 24))
        draw = ImageDraw.Draw(canvas)
        for i in range(b):
            r, c = divmod(i, lay["cols"])
            x0, y0 = GAP + c * lay["cell_w"], GAP + r * lay["cell_h"]
            draw.text((x0, y0), labels[i], fill=(255, 255, 255))
            main = frames[i, k + 1] if flow else images[i, k]
            canvas.paste(Image.fromarray(main).resize((tw, th), Image.NEAREST), (x0, y0 + LABEL_H))
            if flow:
                canvas.paste(Image.fromarray(images[i, k]).resize((tw, th), Image.NEAREST),
                             (x0 + tw + GAP, y0 + LABEL_H))
        pics.append(canvas)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics[0].save(path, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return lay["size"]


def preview_batch(out="preview.png", generator: str = "frame", method="optical-flow", data: str | None = None,
                  workdir="demo_data", batch_size: int = 4, nb_frames: int = 5, target_shape=(128, 96),
                  nb_channel: int = 3, batch_index: int = 0, seed: int = 0, gif: str | bool | None = True,
                  progress: bool = True, index_cache=True) -> dict:
    """Write the PNG grid (``out``) and, unless ``gif`` is False, the GIF (``gif`` path, or ``out`` with .gif).

    Returns ``{"png", "png_size", "gif", "gif_size", "labels", "classes", "generator", "pattern", "shape"}``.
    """
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
    pattern = data if data is not None else sample_dataset(workdir, progress)
    gen = make_generator(generator, pattern, method, batch_size, nb_frames, target_shape, nb_channel, seed,
                         progress, index_cache)
    batch = read_batch(gen, batch_index)
    title = f"{type(gen).__name__}" + (f" ({_method_name(gen.method)})" if generator == "flow" else "") \
        + f", batch {batch_index} of {len(gen)}, {pattern}"
    png = Path(out)
    result = {"generator": generator, "pattern": pattern, "classes": gen.classes, "labels": batch["labels"],
              "shape": [*batch["images"].shape[:2], int(gen.target_shape[1]), int(gen.target_shape[0]),
                        int(batch.get("channels") or gen.nb_channel)],
              "png": str(png), "png_size": write_png(batch, png, title)}
    if gif is not False and gif is not None:
        gif_path = Path(gif) if isinstance(gif, (str, Path)) and not isinstance(gif, bool) else png.with_suffix(".gif")
        result["gif"] = str(gif_path)
        result["gif_size"] = write_gif(batch, gif_path)
        result["gif_frames"] = int(batch["images"].shape[1])
    else:
        result["gif"] = None
    return result
