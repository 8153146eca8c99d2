"""gpuvideo's command line: --help everywhere, exit codes, logging levels, demo --long."""
import logging
import subprocess
import sys

import pytest

from gpuvideo import cli

COMMANDS = ["demo", "bench", "inspect", "preview", "timeline"]


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUVIDEO_CACHE_DIR", str(tmp_path / "cache"))
    lg = logging.getLogger("gpuvideo")
    level = lg.level
    yield
    lg.setLevel(level)


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_help(command, capsys):
    argv = ([command] if command else []) + ["--help"]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gpuvideo")
    if command is None:
        for c in COMMANDS:
            assert c in out
        assert "exit codes" in out
    else:
        assert "-v, --verbose" in out and "-q, --quiet" in out


def test_usage_errors_exit_2(capsys):
    for argv in ([], ["nosuchcommand"], ["inspect"], ["preview", "--size", "big"],
                 ["preview", "--generator", "nope"], ["bench", "--epochs", "x"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2, argv


@pytest.mark.parametrize("argv", [
    ["inspect", "{d}/{{classname}}/*.avi"],
    ["inspect", "{d}/*.mp4"],
    ["preview", "--data", "{d}/{{classname}}/*.avi", "--out", "{d}/p.png"],
    ["bench", "--data", "{d}/{{classname}}/*.avi", "--out", "{d}/b", "--quick"],
    ["demo", "--data", "{d}/{{classname}}/*.avi", "--epochs", "1"],
])
def test_pattern_matching_nothing_exits_2(argv, tmp_path, caplog):
    argv = [a.format(d=tmp_path) for a in argv]
    assert cli.main(["-q", *argv]) == 2


def test_bad_option_values_exit_2(tmp_path):
    assert cli.main(["-q", "preview", "--method", "nope", "--data", str(tmp_path / "{classname}/*.mp4")]) == 2
    assert cli.main(["-q", "bench", "--quick", "--epochs", "0", "--workdir", str(tmp_path),
                     "--out", str(tmp_path / "o")]) == 2


def test_unexpected_error_exits_1(monkeypatch, tmp_path):
    import gpuvideo.cli.preview

    def boom(**kwargs):
        raise RuntimeError("kaput")
    monkeypatch.setattr(gpuvideo.cli.preview, "preview_batch", boom)
    assert cli.main(["-q", "preview", "--out", str(tmp_path / "x.png")]) == 1


def test_verbosity_levels():
    parser = cli.build_parser()
    for argv, level in ((["inspect", "x"], logging.WARNING), (["-v", "inspect", "x"], logging.INFO),
                        (["inspect", "x", "-vv"], logging.DEBUG), (["inspect", "x", "-q"], logging.ERROR),
                        (["-q", "inspect", "x"], logging.ERROR), (["-v", "demo", "-q"], logging.ERROR)):
        cli._setup_logging(parser.parse_args(argv))
        assert logging.getLogger("gpuvideo").level == level, argv


def test_demo_long_prints_accuracy_and_rate(monkeypatch, tmp_path, capsys):
    calls = {}

    def run_long_demo(workdir, epochs=4, seed=0):
        calls.update(workdir=str(workdir), epochs=epochs, seed=seed)
        return {"accuracy": 0.93, "windows_per_second": 1234.5, "chance_accuracy": 0.7, "found_intervals": 4,
                "true_intervals": 5, "timeline_agreement": 0.9512, "timeline_csv": "w/t.csv",
                "timeline_png": "w/t.png", "model": "w/m.keras", "video": "w/v.mp4"}
    import gpuvideo.cli.demo
    monkeypatch.setattr(gpuvideo.cli.demo, "run_long_demo", run_long_demo)
    assert cli.main(["-q", "demo", "--long", "--workdir", str(tmp_path), "--epochs", "2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "0.930" in out and "1234.5" in out and "windows per second" in out
    assert "4 interval(s)" in out and "5 true" in out and "0.951" in out and "w/t.csv" in out and "w/t.png" in out
    assert calls == {"workdir": str(tmp_path), "epochs": 2, "seed": 3}


def test_demo_long_rejects_data(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", "--long", "--data", str(tmp_path / "{classname}/*.mp4")])
    assert e.value.code == 2
    assert "--long" in capsys.readouterr().err


def test_console_entry_point_exit_code(tmp_path):
    """The real process (python -m gpuvideo): a pattern that matches nothing exits with 2."""
    r = subprocess.run([sys.executable, "-m", "gpuvideo", "inspect", str(tmp_path / "{classname}" / "*.avi")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "no video file matches" in r.stderr
