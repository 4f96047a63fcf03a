"""Every Python example in README.md runs as written (in a fresh interpreter)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: pathlib.Path) -> None:
    script = tmp_path / f"example{index}.py"
    script.write_text(BLOCKS[index])
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_readme_commands_run_in_the_venv() -> None:
    """A shell command of the README that runs Python uses the venv `make test` creates: a bare
    `python -m demos.echo` fails on a machine where Loom is installed only there."""
    commands = [
        line.split("#")[0].strip()
        for block in re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
        for line in block.splitlines()
    ]
    bare = [c for c in commands if re.match(r"python3?\s", c)]
    assert commands and bare == []


def test_the_scripting_excerpt_is_the_arena_code_word_for_word() -> None:
    """The README quotes `demos/arena` in ```py blocks: each must still be in its source."""
    excerpts = re.findall(r"```py\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    source = (ROOT / "demos" / "arena" / "drones.py").read_text()
    assert excerpts
    for excerpt in excerpts:  # methods of a class: indented one level in the source
        assert textwrap.indent(excerpt, "    ") in source
