"""Backend-neutral install: Keras with any backend, TensorFlow only in the "tensorflow" extra."""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

import gpuvideo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_kwargs() -> dict:
    tree = ast.parse(open(os.path.join(REPO, "setup.py"), encoding="utf-8").read())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("install_requires", "extras_require")}


def test_tensorflow_is_an_extra_not_a_requirement():
    kw = _setup_kwargs()
    assert not [r for r in kw["install_requires"] if r.startswith("tensorflow")]
    assert any(r.startswith("keras") for r in kw["install_requires"])
    extras = kw["extras_require"]
    assert {"tensorflow", "torch", "jax", "remote"} <= set(extras)
    assert any(r.startswith("tensorflow") for r in extras["tensorflow"])
    assert not [r for r in extras["test"] if r.startswith("tensorflow")]   # the torch job installs "test"
    assert any(r.startswith("moto[server]") for r in extras["test"])


def test_to_tf_dataset_without_tensorflow_says_what_to_install(monkeypatch, action_dataset):
    gen = gpuvideo.VideoFrameGenerator(glob_pattern=action_dataset, nb_frames=2, batch_size=2, target_shape=(16, 16),
                                       index_cache=None, progress=False)
    monkeypatch.setitem(sys.modules, "tensorflow", None)     # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'gpuvideo\[tensorflow\]'.*to_torch"):
        gpuvideo.to_tf_dataset(gen)


def test_fit_and_resume_on_torch_with_tensorflow_unimportable(action_dataset, tmp_path):
    """A process where ``import tensorflow`` fails trains on the torch backend and saves a resume state."""
    pytest.importorskip("torch")
    code = textwrap.dedent(f"""
        import os, sys
        sys.modules["tensorflow"] = None          # "import tensorflow" raises ImportError, find_spec says None
        os.environ["KERAS_BACKEND"] = "torch"
        import keras, gpuvideo
        gen = gpuvideo.VideoFrameGenerator(glob_pattern={action_dataset!r}, nb_frames=2, batch_size=8,
                                           target_shape=(16, 16), seed=0, index_cache=None, progress=False)
        model = keras.Sequential([keras.Input((2, 16, 16, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(gen.classes_count, activation="softmax")])
        model.compile("adam", "categorical_crossentropy")
        model.fit(gen, epochs=1, verbose=0, shuffle=False,
                  callbacks=[gpuvideo.ResumeCallback(gen, {str(tmp_path)!r})])
        assert sys.modules["tensorflow"] is None and keras.backend.backend() == "torch"
        print("OK", len(gen))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK 5" in out.stdout
    assert (tmp_path / "gpuvideo-resume.json").exists()
