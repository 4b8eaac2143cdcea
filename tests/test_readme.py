"""The README's first screen is a promise: its example runs and its command table is real."""

import code
import re
import traceback
from pathlib import Path

import pytest

from w2s_plugin.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_first_screen_has_exactly_two_setup_commands():
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [ln.split("#")[0].strip() for ln in first.splitlines() if ln.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


class _Prompt(code.InteractiveConsole):
    """The plain ``python`` prompt, fed one line at a time as a paste would; any error is kept."""

    def __init__(self):
        super().__init__(locals={"__name__": "__console__"})
        self.errors = []

    def showsyntaxerror(self, filename=None, **kw):
        self.errors.append(("SyntaxError", traceback.format_exc(limit=0)))

    def showtraceback(self):
        self.errors.append(("exception", traceback.format_exc()))


def _paste(console: _Prompt, block: str) -> None:
    """Paste ``block`` line by line. The prompt needs a blank line to close a compound statement;
    the README must provide it (a block's last statement is closed by the Enter after the paste)."""
    more = False
    for lineno, line in enumerate(block.splitlines(), 1):
        more = console.push(line)
        if console.errors:
            kind, text = console.errors[0]
            raise AssertionError(f"README block fails at its line {lineno} ({line!r}) with a {kind}:\n{text}")
    if more:
        console.push("")
    if console.errors:
        raise AssertionError(f"README block fails at its end:\n{console.errors[0][1]}")


def test_python_examples_paste_into_the_plain_prompt(tmp_path, monkeypatch, capsys):
    """Every Python block, pasted one after the other into one plain interactive prompt, as a reader would."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    console = _Prompt()
    for i, block in enumerate(blocks, 1):
        try:
            _paste(console, block)
        except AssertionError as exc:
            raise AssertionError(f"README Python block {i}: {exc}") from None
    _paste(console, "print('QUERIED', len(idx), X_query.shape[0])")
    out = capsys.readouterr().out
    density = float(re.search(r"overlap density: ([0-9.]+)", out).group(1))
    assert 0.2 < density < 0.5  # a third of the pool is truly overlap
    rounds = re.findall(r"^\s+\d+ (vendor_a|vendor_b|crawl)\s+100\s", out, re.M)
    assert len(rounds) == 15 + 3  # budget 1500 / batch 100, then the two-view source's 300 / 100
    assert "(5, 20) (5, 40)" in out  # each model got its own view
    assert "QUERIED 10 10" in out
    assert (tmp_path / "runs" / "c1" / "state.json").exists()


def test_install_lines_name_real_extras():
    """Every `.[extra]` the README tells a reader to install exists in pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {e for group in re.findall(r"\.\[([a-z,-]+)\]", README) for e in group.split(",")}
    assert named and named <= set(extras), named - set(extras)
    assert "pip install 'w2s-plugin[" not in README  # reads like PyPI, where the package is not
    assert "source .venv/bin/activate" in README and ".venv/bin/w2s" in README


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
