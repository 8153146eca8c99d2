"""gpuvideo bench --quick: runs, prints a table, writes bench.json and bench.png."""
import json

import pytest

from gpuvideo import cli

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUVIDEO_CACHE_DIR", str(tmp_path / "cache"))


def test_bench_quick(tmp_path, capsys):
    out = tmp_path / "results"
    assert cli.main(["-q", "bench", "--quick", "--workdir", str(tmp_path / "data"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for col in ("clips/s", "frames/s", "flow pairs/s", "peak RSS", "GPU mem"):
        assert col in text
    res = json.loads((out / "bench.json").read_text())
    assert res["quick"] is True and res["data"]["generated"] is True
    rows = {r["name"]: r for r in res["rows"]}
    frames = rows["gpuvideo VideoFrameGenerator (cpu)"]
    assert frames["clips_per_s"] > 0 and frames["frames_per_s"] == pytest.approx(frames["clips_per_s"] * 4)
    assert frames["items_per_pass"] == 12 and frames["peak_rss_mib"] > 0
    flow = rows["gpuvideo OpticalFlowGenerator (flow cv2)"]
    assert flow["flow_pairs_per_s"] > 0
    for r in res["rows"]:
        assert r["peak_rss_mib"] > 0
        assert "gpu_mem_mib" in r
    try:
        import gpuvideo.timeseries  # noqa: F401
        assert rows["gpuvideo VideoTimeseriesGenerator (cpu)"]["windows_per_s"] > 0
    except ImportError:
        pass
    # baselines appear or are explained in the notes
    assert any(r["baseline"] for r in res["rows"]) or res["notes"]
    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    with Image.open(out / "bench.png") as im:
        assert im.size[0] >= 600 and im.size[1] >= 300


def test_bench_no_baselines_on_data(tmp_path, capsys):
    from gpuvideo.synthetic import make_action_dataset

    pattern = make_action_dataset(tmp_path / "d", videos_per_class=2, nb_frames=12, width=64, height=48,
                                  progress=False)
    out = tmp_path / "r"
    assert cli.main(["-q", "bench", "--quick", "--no-baselines", "--data", pattern, "--out", str(out)]) == 0
    res = json.loads((out / "bench.json").read_text())
    assert res["data"]["pattern"] == pattern and not any(r["baseline"] for r in res["rows"])
    assert (out / "bench.png").exists()
