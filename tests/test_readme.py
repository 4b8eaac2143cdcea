"""The README's first screen is a promise: its example runs and its command table is real."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from w2s_plugin.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_first_screen_has_exactly_two_setup_commands():
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [ln.split("#")[0].strip() for ln in first.splitlines() if ln.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_python_examples_run_in_sequence_as_written(tmp_path):
    """Every Python block, pasted one after the other into one interpreter, as a reader would."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 3
    code = "\n".join(blocks) + "\nprint('QUERIED', len(idx), X_query.shape[0])\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    density = float(re.search(r"overlap density: ([0-9.]+)", out.stdout).group(1))
    assert 0.2 < density < 0.5  # a third of the pool is truly overlap
    rounds = re.findall(r"^\s+\d+ (vendor_a|vendor_b|crawl)\s+100\s", out.stdout, re.M)
    assert len(rounds) == 15  # budget 1500 / batch 100
    assert "QUERIED 10 10" in out.stdout
    assert (tmp_path / "runs" / "c1" / "state.json").exists()


@pytest.mark.parametrize("row", re.findall(r"^\| `w2s ([a-z-]+(?: [a-z-]+)?)", README, re.M))
def test_every_command_in_the_table_exists(row):
    parser = build_parser()
    words = row.split()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert words[0] in sub.choices, f"README lists `w2s {row}` but there is no such command"
    if len(words) > 1 and not words[1].startswith("-"):
        inner = [a for a in sub.choices[words[0]]._actions if a.__class__.__name__ == "_SubParsersAction"]
        if inner:
            assert words[1] in inner[0].choices, f"README lists `w2s {row}` but there is no such subcommand"
