"""The code blocks of README.md and docs/ run as written.

* ``python`` blocks: all blocks of one file run in order, in one fresh
  process (later blocks use the names of earlier ones, as a reader would), in
  an empty working directory. The examples are written on the built-in
  ``digits`` data with few epochs, so they are fast as written.
* ``sh`` blocks: every ``python -m MODULE ARGS`` command is parsed by that
  module's own absl flags in a fresh process (unknown flags, bad enum values,
  missing required flags fail), without running it: the commands train for
  minutes to hours. ``make`` targets are checked with ``make -n``.
* Blocks without a language are notation (formulas), not code.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str):
    return [m.group(2) for m in _BLOCK.finditer(path.read_text()) if m.group(1) == language]


def commands(block: str):
    """``(module, args)`` of each ``python -m`` command of a shell block."""
    joined = re.sub(r"\\\n", " ", block)
    for line in joined.splitlines():
        match = re.search(r"python -m (\S+)(.*)", line)
        if not match:
            continue
        args = shlex.split(match.group(2), comments=True)
        while args and args[-1] in ("&", ";"):
            args.pop()
        yield match.group(1), args


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")


PYTHON_DOCS = [p for p in DOCS if blocks(p, "python")]
SHELL_COMMANDS = [
    (p.name, module, args)
    for p in DOCS
    for block in blocks(p, "sh")
    for module, args in commands(block)
]


def test_the_documents_have_examples():
    assert any(p.name == "README.md" for p in PYTHON_DOCS)
    assert len(SHELL_COMMANDS) >= 8


@pytest.mark.parametrize("path", PYTHON_DOCS, ids=lambda p: p.name)
def test_python_blocks_run_as_written(path, tmp_path):
    script = "\n\n".join(blocks(path, "python"))
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{path.name}:\n{result.stderr[-3000:]}"


_PARSE = """
import importlib, sys
from absl import flags
importlib.import_module(sys.argv[1])
flags.FLAGS([sys.argv[1], *sys.argv[2:]])
"""


@pytest.mark.parametrize(
    "doc,module,args", SHELL_COMMANDS, ids=[f"{d}:{m}" for d, m, _ in SHELL_COMMANDS]
)
def test_shell_commands_parse_with_the_modules_own_flags(doc, module, args):
    result = subprocess.run(
        [sys.executable, "-c", _PARSE, module, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{doc}: python -m {module} {' '.join(args)}:\n" + result.stderr[-2000:]
    )


def test_make_targets_in_the_readme_exist():
    targets = set(re.findall(r"^make (\w+)", "\n".join(blocks(ROOT / "README.md", "sh")), re.M))
    assert {"demo", "test"} <= targets
    for target in targets:
        result = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
