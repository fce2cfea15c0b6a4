"""Every file the repository points at is in the repository.

README, docs, docstrings and comments may cite a Markdown file (``docs/api.md``, ``README.md``)
or link a relative path from Markdown; each must exist in this checkout. Nothing may point
outside it: no ``shared/...`` design notes, no ``../`` paths, which a clone does not have.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".txt"}
SCANNED_NAMES = {"Dockerfile", "run", ".dockerignore"}

MD_REF = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
SHARED = re.compile(r"(?<![\w.-])shared/")
UP = re.compile(r"(?<![\w.-])((?:\.\./)+[\w./-]*)")


def points_outside(f: Path, line: str) -> bool:
    """``shared/...``, or a ``../`` path that leaves the repository from ``f``'s folder."""
    if SHARED.search(line):
        return True
    return any(not (f.parent / up).resolve().is_relative_to(ROOT) for up in UP.findall(line))


@functools.cache
def repo_files() -> list[Path]:
    """The files git tracks, plus new ones it does not ignore (the tree as it will be committed)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    files = [ROOT / line for line in out.splitlines() if line]
    return [f for f in files if f.is_file()]


def scanned(files: list[Path]) -> list[Path]:
    me = Path(__file__).resolve()
    return [
        f
        for f in files
        if (f.suffix in SCANNED_SUFFIXES or f.name in SCANNED_NAMES) and f.resolve() != me
    ]


@functools.cache
def _names(files: tuple[Path, ...]) -> tuple[set[str], set[str]]:
    return {g.relative_to(ROOT).as_posix() for g in files}, {g.name for g in files}


def dangling(f: Path, line: str, files: list[Path]) -> list[str]:
    """The Markdown files ``line`` of ``f`` cites that are not in the repository: a path is
    taken from the root or from ``f``'s folder, a bare name may be anywhere."""
    paths, basenames = _names(tuple(files))
    out = []
    for ref in MD_REF.findall(line):
        if "/" in ref:
            here = (f.parent / ref).resolve()
            ok = ref in paths or (here.is_file() and here.is_relative_to(ROOT))
        else:
            ok = ref in basenames
        if not ok:
            out.append(ref)
    return out


def test_the_scan_sees_the_repository() -> None:
    names = {f.relative_to(ROOT).as_posix() for f in scanned(repo_files())}
    for expected in ("README.md", "docs/api.md", "service/app.py", "pyproject.toml", ".ci/run"):
        assert expected in names


def test_every_markdown_file_cited_exists() -> None:
    files = repo_files()
    missing: list[str] = []
    for f in scanned(files):
        for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            missing += [
                f"{f.relative_to(ROOT)}:{lineno}: {ref}" for ref in dangling(f, line, files)
            ]
    assert not missing, "references to Markdown files that are not in the repository:\n" + (
        "\n".join(missing)
    )


def test_every_relative_markdown_link_resolves() -> None:
    missing = []
    for f in scanned(repo_files()):
        if f.suffix != ".md":
            continue
        for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            for target in MD_LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                resolved = (f.parent / target).resolve()
                if not (resolved.exists() and resolved.is_relative_to(ROOT)):
                    missing.append(f"{f.relative_to(ROOT)}:{lineno}: {target}")
    assert not missing, "Markdown links to paths that do not exist:\n" + "\n".join(missing)


def test_nothing_points_outside_the_repository() -> None:
    outside = []
    for f in scanned(repo_files()):
        for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if points_outside(f, line):
                outside.append(f"{f.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not outside, "references to files outside the repository:\n" + "\n".join(outside)


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ("see API.md section 4", True),
        ("as in TUTORIAL.md", True),
        ("(" + "shared" + "/API.md)", True),  # spelled apart: no literal reference here
        ("[x](../notes.md)", True),
        ("[x](../../outside/README.md)", True),
        ("see docs/api.md, section Errors", False),
        ("README.md", False),
        ("[x](client.md), [y](../README.md)", False),
    ],
)
def test_the_patterns_catch_what_they_should(line: str, bad: bool) -> None:
    """As if ``line`` were in docs/api.md."""
    f = ROOT / "docs" / "api.md"
    assert (bool(dangling(f, line, repo_files())) or points_outside(f, line)) is bad
