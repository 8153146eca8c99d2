import os

import pytest

from gpuvideo.discovery import discover_classes, find_files
from gpuvideo.splits import split_files


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


@pytest.fixture
def tree(tmp_path):
    names = ["b_class", "a class", "Ünïcode-ß", "c"]
    for name in names:
        for i in range(3):
            _touch(tmp_path / "videos" / name / f"v{i}.avi")
    _touch(tmp_path / "videos" / "c" / "notes.txt")
    # a class reached through a symbolic link
    real = tmp_path / "elsewhere" / "linked_class"
    for i in range(2):
        _touch(real / f"w{i}.avi")
    os.symlink(real, tmp_path / "videos" / "linked_class")
    return tmp_path


def test_discovery_sorted_with_odd_names_and_symlinks(tree):
    pattern = str(tree / "videos" / "{classname}" / "*.avi")
    classes = discover_classes(pattern)
    assert classes == sorted(["b_class", "a class", "Ünïcode-ß", "c", "linked_class"])
    classes2, files = find_files(pattern)
    assert classes2 == classes
    assert len(files["linked_class"]) == 2
    assert all(len(files[c]) == 3 for c in ["b_class", "a class", "Ünïcode-ß", "c"])
    assert files["a class"] == sorted(files["a class"])


def test_given_classes_not_modified_and_glob_chars_escaped(tmp_path):
    for name in ["z[1]", "a*b"]:
        _touch(tmp_path / name / "x.avi")
    _touch(tmp_path / "aXb" / "y.avi")      # would match a*b if not escaped
    given = ["z[1]", "a*b"]
    classes, files = find_files(str(tmp_path / "{classname}" / "*.avi"), given)
    assert given == ["z[1]", "a*b"]
    assert classes == ["a*b", "z[1]"]
    assert files["a*b"] == [str(tmp_path / "a*b" / "x.avi")]


def test_errors_name_the_pattern(tmp_path):
    pattern = str(tmp_path / "nothing" / "{classname}" / "*.avi")
    with pytest.raises(FileNotFoundError, match="nothing"):
        find_files(pattern)
    _touch(tmp_path / "v" / "a" / "1.avi")
    with pytest.raises(FileNotFoundError, match=r"\['b'\]"):
        find_files(str(tmp_path / "v" / "{classname}" / "*.avi"), ["a", "b"])
    with pytest.raises(ValueError, match="classname"):
        find_files(str(tmp_path / "*.avi"))


def _files(n_classes=3, n=10):
    return {f"c{k}": [f"/d/c{k}/{i:02d}.avi" for i in range(n)] for k in range(n_classes)}


def test_split_counts_per_class():
    train, val, test = split_files(_files(), split_val=0.3, split_test=0.2, seed=0)
    for c in train:
        assert (len(train[c]), len(val[c]), len(test[c])) == (6, 3, 1)
        assert not (set(train[c]) & set(val[c])) and not (set(train[c]) & set(test[c]))
        assert not (set(val[c]) & set(test[c]))
        assert set(train[c]) | set(val[c]) | set(test[c]) == set(_files()[c])


def test_split_each_alone_and_reproducible():
    _, val, test = split_files(_files(), split_val=0.3, seed=1)
    assert all(len(v) == 3 for v in val.values()) and all(len(t) == 0 for t in test.values())
    train, val, test = split_files(_files(), split_test=0.2, seed=1)
    assert all(len(v) == 0 for v in val.values()) and all(len(t) == 2 for t in test.values())
    a = split_files(_files(), 0.3, 0.2, seed=5)
    b = split_files(_files(), 0.3, 0.2, seed=5)
    c = split_files(_files(), 0.3, 0.2, seed=6)
    assert a == b and a != c


def test_split_rejects_bad_fractions():
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            split_files(_files(), split_val=bad)
