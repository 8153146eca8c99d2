"""Find video files from a glob pattern with a ``{classname}`` placeholder.

Files are found with :func:`glob.glob` (``recursive=True``: a ``**`` segment
matches zero or more folders). The class of a file is read back from its path
with a regular expression built from the same pattern by the rules ``glob``
applies, with ``{classname}`` as a capture group, so a class is found at any
depth that ``**`` reaches and the files of a class are exactly those that the
glob with the class name in place of ``{classname}`` finds. The translation
follows Python 3.13's ``glob.translate(recursive=True, include_hidden=False)``
(written here: Python 3.10-3.12 lack it) where that agrees with ``glob.glob``
itself, and ``glob.glob`` where they differ: a segment with any wildcard
(``[...]`` included) hides names starting with ``.`` unless it starts with
``.`` too, and ``[...]`` never matches a separator.
"""
from __future__ import annotations

import glob
import logging
import os
import re

from . import remote

log = logging.getLogger("gpuvideo")

PLACEHOLDER = "{classname}"
_MAGIC = re.compile(r"[*?[]")


def _check(glob_pattern: str) -> None:
    if glob_pattern.count(PLACEHOLDER) != 1:
        raise ValueError(f"glob_pattern must contain {PLACEHOLDER} exactly once: {glob_pattern!r}")


def _bracket(part: str, i: int, not_sep: str):
    """Translate the ``[...]`` starting at ``part[i]``; returns (regex, next index) or None when unclosed.

    fnmatch's rules: ``[!...]`` negates, a ``]`` right after ``[`` or ``[!`` is a
    member, ``a-z`` is a range. A bracket never matches a separator (glob
    matches one path segment at a time), hence the look-ahead.
    """
    j = i + 1
    if j < len(part) and part[j] == "!":
        j += 1
    if j < len(part) and part[j] == "]":
        j += 1
    while j < len(part) and part[j] != "]":
        j += 1
    if j >= len(part):
        return None
    body = part[i + 1:j]
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    # members and ranges, in order; ranges written backwards (z-a) match nothing, as in fnmatch
    items, k = [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            lo, hi = body[k], body[k + 2]
            if lo <= hi:
                items.append(re.escape(lo) + "-" + re.escape(hi))
            k += 3
        else:
            items.append(re.escape(body[k]))
            k += 1
    if not items:
        # "[!]" cannot occur (the "]" would be a member); an empty set (only reversed ranges)
        # matches nothing, its negation any character but a separator
        return (f"{not_sep}" if negate else "(?!)"), j + 1
    return f"(?={not_sep})[{'^' if negate else ''}{''.join(items)}]", j + 1


def _segment(part: str, not_sep: str, cls: str | None) -> str:
    """Regex of one path segment (no separator in ``part``); ``cls`` replaces ``{classname}``."""
    out, i = [], 0
    while i < len(part):
        if cls is not None and part.startswith(PLACEHOLDER, i):
            out.append(cls)
            i += len(PLACEHOLDER)
        elif part[i] == "*":
            while i < len(part) and part[i] == "*":      # "a**b" inside a segment is "a*b"
                i += 1
            out.append(f"{not_sep}*")
        elif part[i] == "?":
            out.append(not_sep)
            i += 1
        elif part[i] == "[":
            got = _bracket(part, i, not_sep)
            if got is None:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(got[0])
                i = got[1]
        else:
            out.append(re.escape(part[i]))
            i += 1
    return "".join(out)


def pattern_regex(glob_pattern: str, seps: str | None = None) -> re.Pattern:
    """Regex matching the paths ``glob.glob(pattern with {classname} -> *, recursive=True)`` returns.

    The group ``cls`` is the class: the shortest name that fits (as keras_video's
    non-greedy group) where the pattern allows several splits within a segment,
    the deepest folder where ``**`` on both sides allows several. Names starting
    with ``.`` are not matched by wildcards at the start of a segment (glob's
    ``include_hidden=False``). ``seps``: path separators (default ``os.sep`` and
    ``os.altsep``).
    """
    _check(glob_pattern)
    if seps is None:
        seps = os.sep + (os.altsep or "")
    esc = "".join(re.escape(s) for s in seps)
    any_sep = f"[{esc}]"
    not_sep = f"[^{esc}]"
    one_last_segment = f"[^{esc}.]{not_sep}*"           # "*" alone: a visible name
    one_segment = f"{one_last_segment}{any_sep}"
    any_segments = f"(?:{one_segment})*"               # "**/": zero or more visible folders
    any_last_segments = f"{any_segments}(?:{one_last_segment})?"
    cls_group = f"(?P<cls>{not_sep}+?)"
    parts = re.split(any_sep, glob_pattern)
    last = len(parts) - 1
    out = []
    for idx, part in enumerate(parts):
        if part == "**":
            if idx < last:
                if parts[idx + 1] != "**":             # "**/**" is one "**"
                    out.append(any_segments)
            else:
                out.append(any_last_segments)
            continue
        if part == "*":
            out.append(one_segment if idx < last else one_last_segment)
            continue
        if part:
            # glob lists a folder for a segment with wildcards, hiding names that start with "."
            # unless the segment does (literal segments are looked up as they are)
            if _MAGIC.search(part.replace(PLACEHOLDER, "*")) and not part.startswith("."):
                out.append(r"(?!\.)")
            out.append(_segment(part, not_sep, cls_group))
        if idx < last:
            out.append(any_sep)
    # glob compares names as the file system does: without case on Windows
    flags = re.IGNORECASE if os.path.normcase("A") == "a" else 0
    return re.compile("(?s:" + "".join(out) + r")\Z", flags)


def is_candidate(path: str) -> bool:
    """A file, or a broken or looping symbolic link (kept so that it is reported, not silently left out)."""
    return os.path.isfile(path) or (os.path.islink(path) and not os.path.isdir(path))


def _glob_files(pattern: str) -> list[str]:
    """Sorted files ``glob`` finds, each once (``**/**`` makes glob list some paths twice); URLs
    (``s3://``, ``http://``...) are listed by :func:`gpuvideo.remote.glob_files`."""
    if remote.is_remote(pattern):
        return remote.glob_files(pattern)
    return sorted({p for p in glob.glob(pattern, recursive=True) if is_candidate(p)})


def _any_class(glob_pattern: str) -> str:
    """The pattern with ``*`` for ``{classname}``; a segment of stars only stays ``*`` (not a recursive ``**``)."""
    seps = os.sep + (os.altsep or "")
    pieces = re.split("([" + "".join(re.escape(c) for c in seps) + "])", glob_pattern)
    out = []
    for piece in pieces:
        if PLACEHOLDER in piece:
            piece = piece.replace(PLACEHOLDER, "*")
            if set(piece) == {"*"}:
                piece = "*"
        out.append(piece)
    return "".join(out)


def discover_classes(glob_pattern: str) -> list[str]:
    """Sorted class names found by expanding ``{classname}`` in ``glob_pattern`` (at any depth ``**`` reaches)."""
    rx = pattern_regex(glob_pattern, "/" if remote.is_remote(glob_pattern) else None)
    found, unlabelled = set(), []
    for path in _glob_files(_any_class(glob_pattern)):
        m = rx.match(path)
        if m:
            found.add(m.group("cls"))
        else:       # only an empty class name gets here ("x{classname}" on a folder named "x")
            unlabelled.append(path)
    if unlabelled:
        log.warning("%d file(s) match %r with an empty class name and are left out, e.g. %s",
                    len(unlabelled), glob_pattern, unlabelled[0])
    return sorted(found)


def find_files(glob_pattern: str, classes: list[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """Classes (sorted, a copy) and, per class, the sorted files matching the pattern.

    The files of class ``c`` are those ``glob.glob(pattern with c, recursive=True)``
    finds (``c`` escaped). Raises ``FileNotFoundError`` naming the pattern when
    nothing matches or a given class has no file, and ``ValueError`` when a file
    falls in two classes (a pattern where ``{classname}`` can match at two
    places, such as ``root/**/{classname}/**/*.avi`` over ``root/a/b/x.avi``).
    Directories reached through symbolic links are followed.
    """
    _check(glob_pattern)
    classes = sorted(classes) if classes else discover_classes(glob_pattern)
    if not classes:
        raise FileNotFoundError(f"no video file matches {glob_pattern!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"duplicate class names in {classes}")
    files = {}
    owner: dict[str, str] = {}
    for cls in classes:
        files[cls] = _glob_files(glob_pattern.replace(PLACEHOLDER, glob.escape(cls)))
        for f in files[cls]:
            if f in owner:
                raise ValueError(f"{f} matches {glob_pattern!r} as class {owner[f]!r} and as class {cls!r}: "
                                 f"use a pattern where {PLACEHOLDER} can be only one folder of a path")
            owner[f] = cls
    empty = [c for c, f in files.items() if not f]
    if empty:
        raise FileNotFoundError(f"no file for class(es) {empty} with pattern {glob_pattern!r}")
    return classes, files
