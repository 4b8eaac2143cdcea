"""``w2s campaign run --label-studio-url ... --force-new``: the driver's state folder is moved aside
(never deleted), and never from under another writer."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("flask")

from w2s_plugin.errors import StateError  # noqa: E402
from w2s_plugin.integrations.label_studio.campaign_cli import start_over  # noqa: E402

HOLDER = textwrap.dedent("""
    import sys, time
    from w2s_plugin.state import StateLock
    lock = StateLock(sys.argv[1], "a driver")
    print("HOLDING", flush=True)
    time.sleep(120)
""")


def test_force_new_moves_the_driver_folder_aside_and_keeps_every_byte(tmp_path):
    d = tmp_path / "label-studio-7"
    (d / "model").mkdir(parents=True)
    (d / "rounds.jsonl").write_bytes(b'{"round": 1}\n')
    (d / "model" / "project.json").write_text("{}")
    moved = start_over(d)
    assert moved is not None and moved.name.startswith("label-studio-7.old-") and not d.exists()
    assert (moved / "rounds.jsonl").read_bytes() == b'{"round": 1}\n'
    assert (moved / "model" / "project.json").read_text() == "{}"
    assert start_over(d) is None  # nothing there: nothing to move
    d.mkdir()
    assert start_over(d) is None and d.is_dir()  # an empty folder stays where it is


def test_force_new_never_moves_a_folder_another_process_writes(tmp_path):
    d = tmp_path / "label-studio-8"
    d.mkdir()
    (d / "rounds.jsonl").write_bytes(b"x\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HOLDING"
        with pytest.raises(StateError, match=rf"being written by pid {proc.pid}"):
            start_over(d)
        assert (d / "rounds.jsonl").read_bytes() == b"x\n"
    finally:
        proc.kill()
        proc.wait()
    assert start_over(d) is not None  # the lock died with its process
