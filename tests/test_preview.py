"""gpuvideo preview: PNG grid and animated GIF of one batch, of the expected sizes."""
import pytest

from gpuvideo import cli
from gpuvideo.cli.preview import FLOW_METHODS, flow_method, gif_layout, preview_batch

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
