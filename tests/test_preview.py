"""gpuvideo preview: PNG grid and animated GIF of one batch: sizes, and the images they show.

The images are checked against the batch the generator itself returns (``gen[i]``,
``gen.batch_info(i)``, ``gen.decoded_clip``), built here with the parameters the
preview documents: each tile of the PNG (found as a solid picture on the white
figure) and of every GIF frame (placed by :func:`gif_layout`) is scaled back to
the batch's size and must be the expected image: within a few grey levels of it
(matplotlib's resampling, the GIF's 256-colour palette) and closer to it than
to any other image of the batch.
"""
import numpy as np
import pytest

from gpuvideo import cli
from gpuvideo.cli.preview import FLOW_METHODS, GAP, LABEL_H, flow_method, gif_layout, preview_batch

PIL = pytest.importorskip("PIL")
pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402


@pytest.fixture(scope="module")
def pattern(tmp_path_factory):
    from gpuvideo.synthetic import make_action_dataset

    return make_action_dataset(tmp_path_factory.mktemp("preview"), videos_per_class=3, nb_frames=12, width=64,
                               height=48, progress=False)


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUVIDEO_CACHE_DIR", str(tmp_path / "cache"))


def _check_png(path, size):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == tuple(size)


def _check_gif(path, size, frames):
    with Image.open(path) as im:
        assert im.format == "GIF" and im.size == tuple(size)
        assert im.n_frames == frames and im.is_animated


#: mean absolute difference (levels) allowed between a tile scaled back and its image. Measured: PNG tiles
#: 0.5-1.8 (matplotlib's antialiasing filter, then INTER_AREA back), GIF tiles 2.5-3.4 (palette); two
#: different frames of one clip differ by 7.4 or more at this size.
PNG_TOL, GIF_TOL = 3.5, 5.0


def _expected(kind, pattern, batch_size, nb_frames, method=1, nb_channel=3, seed=0):
    """What the preview must show, from the generator the preview documents (shuffled with ``seed``).

    ``images``: uint8 RGB ``(B, T, H, W, 3)`` of ``gen[0]`` (values / rescale; grey repeated);
    ``frames``: for flow, the decoded clips behind the motion images ``(B, T + 1, H, W, 3)``."""
    import gpuvideo

    kw = dict(glob_pattern=pattern, batch_size=batch_size, nb_frames=nb_frames, target_shape=(64, 48),
              nb_channel=nb_channel, shuffle=True, seed=seed, progress=False, index_cache=None)
    gen = {"frame": lambda: gpuvideo.VideoFrameGenerator(**kw),
           "sliding": lambda: gpuvideo.SlidingFrameGenerator(**kw),
           "flow": lambda: gpuvideo.OpticalFlowGenerator(method=method, **kw)}[kind]()
    x, y = gen[0]
    info = gen.batch_info(0)

    def rgb(a):
        a = np.asarray(a)
        return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a

    images = rgb(np.clip(np.rint(x / gen.rescale), 0, 255).astype(np.uint8))
    frames = np.stack([rgb(gen.decoded_clip(s.sample)) for s in info]) if kind == "flow" else None
    labels = [gen.classes[j] for j in np.argmax(y, axis=1)]
    assert labels == [s.label for s in info]
    return {"x": x, "images": images, "frames": frames, "labels": labels}


def _png_tiles(path, min_w=40, min_h=30):
    """The pictures of a PNG grid: solid non-white rectangles, as rows of ``(x, y, w, h, pixels)``."""
    import cv2

    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"))
    mask = (a < 245).any(axis=-1).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    boxes = [tuple(int(v) for v in stats[j][:4]) for j in range(1, n)
             if stats[j][2] >= min_w and stats[j][3] >= min_h and stats[j][4] >= 0.9 * stats[j][2] * stats[j][3]]
    rows: list[list] = []
    for x, y, w, h in sorted(boxes, key=lambda b: (b[1], b[0])):
        if rows and abs(rows[-1][0][1] - y) <= 3:
            rows[-1].append((x, y, w, h, a[y:y + h, x:x + w]))
        else:
            rows.append([(x, y, w, h, a[y:y + h, x:x + w])])
    return [sorted(r) for r in rows]


def _is_image(tile, want, pool, tol, where):
    """``tile`` (scaled to ``want``'s size) shows ``want``: within ``tol`` and no farther than any of ``pool``."""
    import cv2

    h, w = want.shape[:2]
    if tile.shape[:2] != (h, w):
        tile = cv2.resize(np.ascontiguousarray(tile), (w, h), interpolation=cv2.INTER_AREA)
    dist = [float(np.abs(tile.astype(int) - p.astype(int)).mean()) for p in pool]
    d = float(np.abs(tile.astype(int) - want.astype(int)).mean())
    assert d <= tol and d <= min(dist), f"{where}: mean difference {d:.2f} to the batch image " \
                                        f"(tolerance {tol}), nearest other image {min(dist):.2f}"


def _check_png_shows_batch(png, exp):
    images, frames = exp["images"], exp["frames"]
    b, t = images.shape[:2]
    pool = list(images.reshape((-1,) + images.shape[2:]))
    if frames is not None:
        pool += list(frames.reshape((-1,) + frames.shape[2:]))
    rows = _png_tiles(png)
    if frames is None:                          # one row of t frames per clip
        assert [len(r) for r in rows] == [t] * b
        for i in range(b):
            for k in range(t):
                _is_image(rows[i][k][4], images[i, k], pool, PNG_TOL, f"PNG clip {i} frame {k}")
        return
    # flow: per clip a row of the t + 1 frames, and beneath frames 1..t the t motion images
    assert [len(r) for r in rows] == [t + 1, t] * b
    for i in range(b):
        fr, mo = rows[2 * i], rows[2 * i + 1]
        for k in range(t + 1):
            _is_image(fr[k][4], frames[i, k], pool, PNG_TOL, f"PNG clip {i} frame {k}")
        for k in range(t):
            assert abs(mo[k][0] - fr[k + 1][0]) <= 2, f"PNG clip {i}: motion image {k} not under frame {k + 1}"
            _is_image(mo[k][4], images[i, k], pool, PNG_TOL, f"PNG clip {i} motion image {k}")


def _check_gif_shows_batch(gif, exp, zoom=2):
    images, frames = exp["images"], exp["frames"]
    b, t, h, w = images.shape[:4]
    flow = frames is not None
    pool = list(images.reshape((-1,) + images.shape[2:]))
    if flow:
        pool += list(frames.reshape((-1,) + frames.shape[2:]))
    lay = gif_layout(b, w, h, flow=flow, zoom=zoom)
    tw, th = lay["tile"]
    with Image.open(gif) as im:
        assert im.n_frames == t
        for k in range(t):
            im.seek(k)
            a = np.asarray(im.convert("RGB"))
            for i in range(b):
                r, c = divmod(i, lay["cols"])
                x0, y0 = GAP + c * lay["cell_w"], GAP + r * lay["cell_h"] + LABEL_H
                main = a[y0:y0 + th:zoom, x0:x0 + tw:zoom]           # NEAREST zoom: every zoom-th pixel
                if flow:   # frame k + 1 (the pair's second frame), its motion image to the right
                    _is_image(main, frames[i, k + 1], pool, GIF_TOL, f"GIF frame {k} clip {i}")
                    x1 = x0 + tw + GAP
                    _is_image(a[y0:y0 + th:zoom, x1:x1 + tw:zoom], images[i, k], pool, GIF_TOL,
                              f"GIF frame {k} clip {i} motion image")
                else:
                    _is_image(main, images[i, k], pool, GIF_TOL, f"GIF frame {k} clip {i}")


@pytest.mark.parametrize("generator,method,nb_channel", [("frame", 1, 3), ("sliding", 1, 3), ("flow", 1, 3),
                                                         ("flow", 4, 1)])
def test_png_and_gif_show_the_batch_the_generator_returns(generator, method, nb_channel, pattern, tmp_path):
    res = preview_batch(out=tmp_path / "p.png", generator=generator, method=method, data=pattern, batch_size=3,
                        nb_frames=3, target_shape=(64, 48), nb_channel=nb_channel, seed=0, progress=False,
                        index_cache=None)
    exp = _expected(generator, pattern, 3, 3, method, nb_channel, seed=0)
    assert res["labels"] == exp["labels"]
    assert res["shape"] == list(exp["x"].shape)
    _check_png_shows_batch(res["png"], exp)
    _check_gif_shows_batch(res["gif"], exp)


@pytest.mark.parametrize("generator", ["frame", "sliding", "flow"])
def test_preview_writes_png_and_gif(generator, pattern, tmp_path):
    res = preview_batch(out=tmp_path / "p.png", generator=generator, data=pattern, batch_size=3, nb_frames=3,
                        target_shape=(64, 48), progress=False)
    assert res["shape"] == [3, 3, 48, 64, 3]
    assert len(res["labels"]) == 3 and set(res["labels"]) <= {"down", "left", "right", "up"}
    w, h = res["png_size"]
    cols, rows = (4, 6) if generator == "flow" else (3, 3)     # flow: frames row + motion row per clip
    assert w >= cols * 64 and h >= rows * 48
    _check_png(res["png"], res["png_size"])
    lay = gif_layout(3, 64, 48, flow=generator == "flow", zoom=2)
    assert tuple(res["gif_size"]) == lay["size"]
    _check_gif(res["gif"], lay["size"], 3)


def test_preview_cli_sample_data_flow_method(tmp_path, capsys):
    out = tmp_path / "grid.png"
    gif = tmp_path / "anim.gif"
    rc = cli.main(["-q", "preview", "--generator", "flow", "--method", "abs-diff", "--workdir", str(tmp_path),
                   "--out", str(out), "--gif", str(gif), "--batch-size", "2", "--nb-frames", "2",
                   "--size", "64x48", "--grey"])
    assert rc == 0
    text = capsys.readouterr().out
    assert str(out) in text and str(gif) in text
    with Image.open(out) as im:
        assert im.format == "PNG"
    _check_gif(gif, gif_layout(2, 64, 48, flow=True, zoom=2)["size"], 2)


def test_preview_no_gif_and_bad_batch(pattern, tmp_path):
    assert cli.main(["-q", "preview", "--data", pattern, "--out", str(tmp_path / "a.png"), "--no-gif",
                     "--size", "64x48"]) == 0
    assert (tmp_path / "a.png").exists() and not (tmp_path / "a.gif").exists()
    assert cli.main(["-q", "preview", "--data", pattern, "--out", str(tmp_path / "b.png"), "--batch", "99",
                     "--size", "64x48"]) == 2


def test_flow_method_names():
    assert [flow_method(n) for n in FLOW_METHODS] == [1, 2, 3, 4]
    assert flow_method("3") == 3 and flow_method(2) == 2
    with pytest.raises(ValueError):
        flow_method("optical")
    with pytest.raises(ValueError):
        flow_method(7)
