import glob
import os

import pytest

from gpuvideo.discovery import discover_classes, find_files, pattern_regex
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


# ---------------------------------------------------------------------------------------------- glob rules
def _glob_files(pattern):
    return sorted({p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)})


def _assert_like_glob(pattern, classes, files):
    """Each class's files are exactly what glob finds with the class name; together, every file glob finds."""
    for cls in classes:
        assert files[cls] == _glob_files(pattern.replace("{classname}", glob.escape(cls))), cls
    # every file glob finds with any class name, each in one class ("**" stays out of the way: see PATTERNS)
    assert sorted(f for fs in files.values() for f in fs) == _glob_files(pattern.replace("{classname}", "*"))


@pytest.fixture
def deep_tree(tmp_path):
    """Classes at depths 1 to 3 under root/, plus files that some patterns must leave out."""
    rels = ["a/x.avi", "a/x2.avi", "deep/b/y.avi", "deep/er/c/z.avi", "deep/er/c/z.mp4", "d9/e/w.avi",
            "xz/f/v.avi", "g/clip_1.avi", "g/clip_12.avi", ".hidden/h/u.avi", "deep/.hid/i/t.avi",
            "a/sub/nested.avi"]
    for rel in rels:
        _touch(tmp_path / "root" / rel)
    return tmp_path / "root"


def test_double_star_finds_classes_at_every_depth(deep_tree):
    """root/**/{classname}/*.avi: a class is the folder holding the files, however deep (used to keep one depth)."""
    pattern = str(deep_tree / "**" / "{classname}" / "*.avi")
    classes, files = find_files(pattern)
    # "**" matches zero or more visible folders: deep (b), deep/er (c), a/ (sub); hidden folders are skipped
    assert classes == ["a", "b", "c", "e", "f", "g", "sub"]
    assert discover_classes(pattern) == classes
    assert files["a"] == [str(deep_tree / "a" / "x.avi"), str(deep_tree / "a" / "x2.avi")]
    assert files["b"] == [str(deep_tree / "deep" / "b" / "y.avi")]
    assert files["c"] == [str(deep_tree / "deep" / "er" / "c" / "z.avi")]
    assert files["sub"] == [str(deep_tree / "a" / "sub" / "nested.avi")]
    _assert_like_glob(pattern, classes, files)


@pytest.mark.parametrize("middle, want", [
    ("d?", ["e"]),                       # ? is one character
    ("[dx]*", ["b", "e", "f"]),          # [...] a set: deep/b, d9/e, xz/f
    ("[!dx]*", ["sub"]),                 # [!...] its complement: a/sub (g holds files only)
    ("[a-d]", ["x", "x2"]),              # ranges; here the class is in the file name
    ("**/[c-e]*", ["b", "c", "e"]),      # deep/b, deep/er/c, d9/e
])
def test_wildcards_before_the_class(deep_tree, middle, want):
    if middle == "[a-d]":
        pattern = str(deep_tree / middle / "{classname}.avi")
    else:
        pattern = str(deep_tree / middle / "{classname}" / "*.avi")
    classes, files = find_files(pattern)
    assert classes == want
    _assert_like_glob(pattern, classes, files)


def test_question_mark_and_brackets_after_the_class(deep_tree):
    pattern = str(deep_tree / "{classname}" / "clip_?.avi")
    classes, files = find_files(pattern)
    assert classes == ["g"] and files["g"] == [str(deep_tree / "g" / "clip_1.avi")]
    pattern = str(deep_tree / "**" / "{classname}" / "[!x]*.[am][vp][i4]")
    classes, files = find_files(pattern)
    assert classes == ["b", "c", "e", "f", "g", "sub"]
    assert files["c"] == [str(deep_tree / "deep" / "er" / "c" / "z.avi"), str(deep_tree / "deep" / "er" / "c" / "z.mp4")]
    _assert_like_glob(pattern, classes, files)


def test_double_star_after_the_class(deep_tree):
    pattern = str(deep_tree / "{classname}" / "**" / "*.avi")
    classes, files = find_files(pattern)
    assert classes == ["a", "d9", "deep", "g", "xz"]
    assert files["a"] == [str(deep_tree / "a" / "sub" / "nested.avi"), str(deep_tree / "a" / "x.avi"),
                          str(deep_tree / "a" / "x2.avi")]
    assert files["deep"] == [str(deep_tree / "deep" / "b" / "y.avi"), str(deep_tree / "deep" / "er" / "c" / "z.avi")]
    _assert_like_glob(pattern, classes, files)


def test_a_file_in_two_classes_is_refused(deep_tree):
    """root/**/{classname}/**/*.avi: a/sub/nested.avi is in class a and class sub."""
    with pytest.raises(ValueError, match="nested.avi"):
        find_files(str(deep_tree / "**" / "{classname}" / "**" / "*.avi"))


def test_class_inside_a_name_is_the_shortest_fit(tmp_path):
    """keras_video's non-greedy group: cls_b_c_2.avi is class b under cls_{classname}_*.avi."""
    for name in ("cls_a_1.avi", "cls_b_c_2.avi", "cls_b_3.avi"):
        _touch(tmp_path / name)
    pattern = str(tmp_path / "cls_{classname}_*.avi")
    classes, files = find_files(pattern)
    assert classes == ["a", "b"]
    assert files["b"] == [str(tmp_path / "cls_b_3.avi"), str(tmp_path / "cls_b_c_2.avi")]
    _assert_like_glob(pattern, classes, files)


PATTERNS = ["**/{classname}/*.avi", "{classname}/**/*", "**/{classname}/**", "*/{classname}/*.*",
            "**/*/{classname}/?.avi", "[ad]*/{classname}/*", "[!a]*/**/{classname}/[!.]*", "**/**/{classname}/*.avi",
            "**/.*/{classname}/*", "**/[.]*/{classname}/*", "*/[a-c]/{classname}", "**/x{classname}",
            "[]a]/{classname}/*", "[/{classname}/*", "**/{classname}*", "**/{classname}[!.]*", "{classname}*/*/*"]


#: patterns where {classname} can be two folders of one path of the tree below
AMBIGUOUS = {"**/{classname}/**"}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_regex_matches_exactly_what_glob_finds(tmp_path, pattern):
    """Over a tree with hidden names, odd characters and several depths, a path matches the regex
    built from the pattern (with {classname} as *) if and only if glob finds it."""
    rels = ["a/x.avi", "a/b/y.avi", "a/b/c/z.avi", "d/.e/f/w.avi", ".g/h/v.avi", "a/.i.avi", "]/j/k.avi",
            "[/l/m.avi", "a/[n]/o.avi", "p q/r s/t u.avi", "d/e2/1.avi", "d/e2/12.avi", "a/xa", "b/xb/xc",
            "Ünï/ß/ç.avi", "a/b/.c/d.avi", "x/x/x.mp4"]
    for rel in rels:
        _touch(tmp_path / rel)
    full = os.path.join(str(tmp_path), pattern)
    rx = pattern_regex(full)
    # glob of the pattern with "*" for the class ("{classname}*" -> "*": one segment, not a recursive "**")
    any_class = full.replace("{classname}*", "*").replace("{classname}", "*")
    found = set(_glob_files(any_class))
    every = {str(p) for p in tmp_path.rglob("*") if p.is_file()}
    assert found or "[.]" in pattern               # each pattern selects something (but "[.]": glob hides dot names)
    assert {p for p in every if rx.match(p)} == found
    if not found:
        with pytest.raises(FileNotFoundError):
            find_files(full)
        return
    classes = discover_classes(full)
    per_class = [set(_glob_files(full.replace("{classname}", glob.escape(c)))) for c in classes]
    if sum(map(len, per_class)) > len(set().union(*per_class)):      # a file in two classes
        with pytest.raises(ValueError, match="as class"):
            find_files(full)
        assert pattern in AMBIGUOUS
    else:
        classes, files = find_files(full)
        for cls in classes:
            assert files[cls] == _glob_files(full.replace("{classname}", glob.escape(cls))), cls
        assert set().union(*map(set, files.values())) == found


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
