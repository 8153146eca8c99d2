"""Bad input found in forked Keras workers reaches the generator the user holds, logged once per run."""
import os
import subprocess
import sys
import textwrap

import pytest

from gpuvideo.errors import BadInputReport


def test_report_entries_cross_fork(tmp_path):
    report = BadInputReport()
    pid = os.fork()
    if pid == 0:                                   # the child finds a bad file and frames, and counts
        report.add_file("/v/a.mp4", "decode", "damaged")
        report.add_frames("/v/b.mp4", [3, 4], "skipped")
        report.count("dali_retries", 2)
        os._exit(0 if not report.add_file("/v/a.mp4", "decode", "again") else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert "/v/a.mp4" in report.bad_files and report.bad_files.items()[0].reason == "damaged"
    assert report.frames("/v/b.mp4") == [3, 4] and report.counts() == {"dali_retries": 2}
    assert not report.add_file("/v/a.mp4", "decode", "seen by the child")     # logged once per run
    journal = report._journal
    assert os.path.exists(journal)
    del report
    assert not os.path.exists(journal)              # the owner cleans up


_SCRIPT = """
import logging, os, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(process)d %(message)s")
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras, numpy as np
import gpuvideo
from pathlib import Path
pattern, victim = sys.argv[1], sys.argv[2]
gen = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, nb_frames=3, batch_size=4, target_shape=(32, 24),
                                   index_cache=None, progress=False, seed=0, workers=2, use_multiprocessing=True)
Path(victim).write_bytes(b"\\0" * 4096)            # goes bad after indexing: found while decoding, in workers
model = keras.Sequential([keras.Input((3, 24, 32, 3)), keras.layers.GlobalAveragePooling3D(),
                          keras.layers.Dense(gen.classes_count, activation="softmax")])
model.compile("adam", "categorical_crossentropy")
model.fit(gen, epochs=3, verbose=0)
print("BAD", [b.path for b in gen.bad_files.items()])
"""


@pytest.mark.slow
def test_bad_file_found_in_workers_reaches_the_parent_once(tmp_path, action_dataset):
    import shutil
    from pathlib import Path
    root = tmp_path / "ds"
    shutil.copytree(Path(action_dataset).parent.parent, root)
    victim = sorted(root.glob("left/*"))[0]
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(_SCRIPT), str(root / "{classname}" / "*.*"),
                          str(victim)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"BAD ['{victim}']" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if "skipping unusable video" in line]
    assert len(warnings) == 1, warnings                  # three epochs, two workers: logged once
