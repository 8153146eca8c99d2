"""Find video files from a glob pattern with a ``{classname}`` placeholder."""
from __future__ import annotations

import glob
import os
import re

PLACEHOLDER = "{classname}"


def _pattern_regex(pattern: str) -> re.Pattern:
    """Regex matching paths produced by ``glob(pattern with {classname} -> *)``; group ``cls`` is the class."""
    sep = re.escape(os.sep)
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith(PLACEHOLDER, i):
            out.append(f"(?P<cls>[^{sep}]+)")
            i += len(PLACEHOLDER)
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(f"[^{sep}]*")
            i += 1
        elif pattern[i] == "?":
            out.append(f"[^{sep}]")
            i += 1
        elif pattern[i] == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1:j].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def discover_classes(glob_pattern: str) -> list[str]:
    """Sorted class names found by expanding ``{classname}`` in ``glob_pattern``."""
    if glob_pattern.count(PLACEHOLDER) != 1:
        raise ValueError(f"glob_pattern must contain {PLACEHOLDER} exactly once: {glob_pattern!r}")
    rx = _pattern_regex(glob_pattern)
    found = set()
    for path in glob.glob(glob_pattern.replace(PLACEHOLDER, "*"), recursive=True):
        m = rx.match(path)
        if m and os.path.isfile(path):
            found.add(m.group("cls"))
    return sorted(found)


def find_files(glob_pattern: str, classes: list[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """Classes (sorted, a copy) and, per class, the sorted files matching the pattern.

    Raises ``FileNotFoundError`` naming the pattern when nothing matches or a
    given class has no file. Directories reached through symbolic links are followed.
    """
    if glob_pattern.count(PLACEHOLDER) != 1:
        raise ValueError(f"glob_pattern must contain {PLACEHOLDER} exactly once: {glob_pattern!r}")
    classes = sorted(classes) if classes else discover_classes(glob_pattern)
    if not classes:
        raise FileNotFoundError(f"no video file matches {glob_pattern!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"duplicate class names in {classes}")
    files = {}
    for cls in classes:
        pat = glob_pattern.replace(PLACEHOLDER, glob.escape(cls))
        files[cls] = sorted(p for p in glob.glob(pat, recursive=True) if os.path.isfile(p))
    empty = [c for c, f in files.items() if not f]
    if empty:
        raise FileNotFoundError(f"no file for class(es) {empty} with pattern {glob_pattern!r}")
    return classes, files
