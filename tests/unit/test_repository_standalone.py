"""The repository explains itself: nothing in it points at files that only exist outside it.

- No tracked file mentions the design notes or samples kept beside the checkout on the team's
  machines: docs/architecture.md and docs/contract.md say what they said, and the labelled samples
  are tests/data/classify_cases.jsonl.
- Every relative link in the project's Markdown (README.md, CHANGELOG.md, docs/ and the other
  tracked .md files) points at a file or folder of the repository, and every #anchor at a heading.
- Each package's __init__.py docstring names every module in it (the code map).

Files are the ones git tracks; without git (an unpacked archive) the tree is walked instead.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]

# Spelt in pieces so that this file does not match itself.
FORBIDDEN = ("../" + "shared", "DESIGN" + ".md")
# Folders that are never the project's own files, for the walk without git.
NOT_OURS = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".medic",
            "node_modules", "build", "dist", ".tox", ".nox"}

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).*?\1")
# [text](target) or [text](target "title"); images too. Targets with spaces must use <...>.
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:...


# ----------------------------------------------------------------------------- which files


def _git(*args: str) -> list[str] | None:
    """`git <args>` in the repository as NUL-separated paths; None when git cannot answer."""
    if shutil.which("git") is None:
        return None
    try:
        result = subprocess.run(["git", "-C", str(REPO), *args, "-z"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return [path for path in result.stdout.decode("utf-8", "surrogateescape").split("\0") if path]


def walked_files(root: Path = REPO) -> list[str]:
    """Every file under root, as POSIX paths relative to it, skipping tool and environment folders."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in NOT_OURS and not d.endswith(".egg-info"))
        for name in sorted(files):
            found.append((Path(directory) / name).relative_to(root).as_posix())
    return found


def tracked_files() -> list[str]:
    """The files git tracks that are present; without git, the walked tree."""
    listed = _git("ls-files")
    if listed is None:
        return walked_files()
    return [path for path in listed if (REPO / path).is_file()]


def repository_paths() -> set[str]:
    """What a link may point at: tracked files, files not yet added (but not ignored), and their folders."""
    listed = _git("ls-files", "--cached", "--others", "--exclude-standard")
    files = [path for path in (listed if listed is not None else walked_files()) if (REPO / path).exists()]
    paths = set(files)
    for path in files:
        paths.update(str(parent) for parent in PurePosixPath(path).parents if str(parent) != ".")
    return paths


def _text(path: str) -> str | None:
    data = (REPO / path).read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ----------------------------------------------------------------------------- Markdown


def unfenced_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code spans removed (a link in code is no link)."""
    return [(number, _CODE_SPAN.sub("", line)) for number, line in unfenced_lines(text)]


def links(text: str) -> list[tuple[int, str]]:
    found = []
    for number, line in prose_lines(text):
        for match in [*_INLINE_LINK.finditer(line), *_REFERENCE_DEF.finditer(line)]:
            target = match.group(1).strip("<>")
            if target:
                found.append((number, target))
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: links reduced to their text, lower case, punctuation
    dropped (letters, digits, `_`, `-` and spaces stay), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in unfenced_lines(text):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def link_problem(source: str, target: str, paths: set[str]) -> str | None:
    """Why a link in `source` (a repository path) is broken, or None."""
    if _EXTERNAL.match(target) or target.startswith("//"):
        return None  # a web address: not a file of the repository
    path_part, _, fragment = target.partition("#")
    path_part = path_part.split("?", 1)[0]
    if path_part.startswith("/"):
        return "absolute path: link relative to the file instead"
    if path_part:
        joined = os.path.normpath(PurePosixPath(source).parent.joinpath(path_part).as_posix())
        if joined == ".." or joined.startswith("../"):
            return "points outside the repository"
        resolved = PurePosixPath(joined).as_posix()
        if resolved != "." and resolved not in paths:
            return "no such file or folder in the repository"
    else:
        resolved = source
    if fragment and resolved.endswith(".md"):
        text = _text(resolved)
        if text is not None and fragment not in anchors(text):
            return f"no heading for #{fragment} in {resolved}"
    return None


def markdown_files() -> list[str]:
    return sorted(path for path in tracked_files() if path.endswith(".md"))


# ----------------------------------------------------------------------------- tests


def test_the_files_are_found():
    files = tracked_files()
    assert "README.md" in files
    assert "tests/unit/test_repository_standalone.py" in files or _git("ls-files") is not None


def test_walking_without_git_finds_the_project_and_skips_environments():
    walked = walked_files()
    assert "README.md" in walked
    assert "tests/unit/test_repository_standalone.py" in walked
    assert not any(part in NOT_OURS for path in walked for part in PurePosixPath(path).parts[:-1])


def test_no_file_points_outside_the_repository():
    mentions = []
    for path in tracked_files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(word in line for word in FORBIDDEN):
                mentions.append(f"{path}:{number}: {line.strip()[:160]}")
    assert not mentions, ("these lines refer to files that are not in the repository; link docs/architecture.md "
                          "or docs/contract.md instead, and use tests/data/classify_cases.jsonl for the samples:\n"
                          + "\n".join(mentions))


def test_the_main_documents_are_there():
    for path in ("README.md", "CHANGELOG.md", "docs/architecture.md", "docs/contract.md", "tests/data/README.md"):
        assert (REPO / path).is_file(), path


def test_every_relative_markdown_link_resolves():
    paths = repository_paths()
    broken = []
    for source in markdown_files():
        text = _text(source)
        if text is None:
            continue
        for number, target in links(text):
            problem = link_problem(source, target, paths)
            if problem:
                broken.append(f"{source}:{number}: ({target}): {problem}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_and_docs_are_checked():
    checked = markdown_files()
    assert "README.md" in checked
    assert "docs/architecture.md" in checked or _git("ls-files") is not None
    assert any(path.startswith("docs/") for path in checked)


def test_every_package_docstring_names_its_modules():
    """The code map: each package's __init__.py names every module and subpackage in it."""
    unnamed = []
    for top in ("workers", "config", "tasks", "schedules"):
        for init in sorted((REPO / top).rglob("__init__.py")):
            package = init.parent
            docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
            parts = [path.stem for path in package.glob("*.py") if path.name != "__init__.py"]
            parts += [path.name for path in package.iterdir() if (path / "__init__.py").is_file()]
            for name in sorted(parts):
                if not re.search(rf"(?<![\w.]){re.escape(name)}\b", docstring):
                    unnamed.append(f"{init.relative_to(REPO)}: say in one line what {name} is")
    assert not unnamed, "package docstrings that miss a module:\n" + "\n".join(unnamed)


@pytest.mark.parametrize(("heading", "anchor"), [
    ("The `medic.report` message", "the-medicreport-message"),
    ("4. Recovery", "4-recovery"),
    ("CLI exit codes", "cli-exit-codes"),
    ("Stuck work: `medic stuck` and [the job](stuck.md)", "stuck-work-medic-stuck-and-the-job"),
])
def test_slug(heading, anchor):
    assert slug(heading) == anchor


@pytest.mark.parametrize(("source", "target", "problem"), [
    ("README.md", "docs/contract.md", None),
    ("docs/recovery.md", "contract.md#the-taxonomy", None),
    ("docs/recovery.md", "../README.md", None),
    ("docs/recovery.md", "https://example.org/x", None),
    ("README.md", "#exit-codes", None),
    ("README.md", "docs/missing.md", "no such file or folder in the repository"),
    ("docs/recovery.md", "../../elsewhere/notes.md", "points outside the repository"),
    ("README.md", "/etc/passwd", "absolute path: link relative to the file instead"),
    ("docs/recovery.md", "contract.md#no-such-heading", "no heading for #no-such-heading in docs/contract.md"),
])
def test_link_problem(source, target, problem):
    assert link_problem(source, target, repository_paths() | {"docs/contract.md", "docs/recovery.md"}) == problem
