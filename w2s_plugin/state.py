"""The saved state of a multi-source run, for every front-end: one writer, one reader, one format.

A state folder holds (version 3; docs/campaigns.md):

* ``rounds.jsonl`` - an append-only log, one line per round (its row and its drawn items);
* ``detector-*.npz`` - the detector's cross-round history (snapshot plus small deltas);
* ``state.json`` - the small commit record, replaced atomically *after* the log line and the
  detector files are on disk: ``kind`` (which front-end), the log's committed length and checksum,
  sources, bandit, reward, detector files, and the front-end's own keys;
* ``.lock`` - held (``fcntl.flock``) by the one process writing the folder; it names that process.

Front-ends are kinds registered through the ``register_state_kinds`` hook (:class:`StateKind`):
the core's ``Campaign`` is the built-in ``campaign``; the modAL learner and the Label Studio
driver register theirs, and their 0.1.0 migrations, from their own packages. :func:`read_state`
is the one reader: it finds the folder's kind, migrates a 0.1.0 file in memory, and checks the
committed part of the round log against its length and checksum, once per resume.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StateError

STATE_FILE = "state.json"
LOG_FILE = "rounds.jsonl"
LOCK_FILE = ".lock"
STATE_VERSION = 3
ITEM_COLUMNS = ("round", "source", "id", "position", "region", "weak_label", "confidence", "overlap_score")
#: How a user starts over without losing anything (the old folder is moved aside, never deleted).
FORCE_NEW = (
    "start again with a new state_dir, or with --force-new (force_new=True in Python; it moves the old "
    "folder aside)"
)


@dataclass(frozen=True)
class StateKind:
    """A front-end's kind of saved state, registered with ``register(kind, StateKind(...))``.

    ``display`` names the front-end in messages. ``legacy_file`` and ``migrate`` read a folder an
    older version wrote: ``migrate(old, path)`` gets that file's JSON and returns a version-3 state
    dict (with ``rounds`` and ``items`` when the old folder kept them outside the round log), or
    ``None`` when the file is not one it knows. ``check(path, state)`` may refuse a saved state of
    this kind (a StateError with the remedy) before its version is checked.
    """

    display: str
    legacy_file: str | None = None
    migrate: Callable[[dict, Path], dict | None] | None = None
    check: Callable[[Path, dict], None] | None = None


def kinds() -> dict[str, StateKind]:
    """Every registered state kind, by name."""
    from . import plugins

    return {name: e.obj for name, e in plugins.get_registry("state_kinds").items()}


def display(kind: str | None) -> str:
    """The front-end that writes ``kind`` (the kind itself when no plugin registers it)."""
    k = kinds().get(kind or "campaign")
    return k.display if k is not None else str(kind)


# -- writing --------------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a torn one:
    a temporary file in the same directory, fsync, rename, then fsync of the directory."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync_dir:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def clean_temp_files(state_dir: Path) -> list[str]:
    """Remove the temporary files of writes a kill interrupted (``.<name>.*.tmp``); call with the
    folder's lock held, so no live writer's file is touched. Returns the names removed."""
    gone = []
    for f in Path(state_dir).glob(".*.tmp"):
        f.unlink(missing_ok=True)
        gone.append(f.name)
    return gone


def jsonable(v):
    """``json.dumps(default=...)`` for numpy scalars and arrays, sets and tuples."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def crc_update(crc: int, data: bytes) -> int:
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def log_line(row: dict, items: dict) -> bytes:
    """One round of the log: its row and its item columns, one JSON line."""
    return (json.dumps({"row": row, "items": items}, default=jsonable, separators=(",", ":")) + "\n").encode()


def empty_items() -> dict:
    return {k: [] for k in ITEM_COLUMNS}


# -- the lock -------------------------------------------------------------------------------------
def _command() -> str:
    """The running command without its options' values (an API key must never reach the lock file)."""
    argv = sys.argv if sys.argv and sys.argv[0] not in ("", "-c") else ["python -c", *sys.argv[1:2]]
    words = [os.path.basename(argv[0])]
    for a in argv[1:4]:
        if a.startswith("-"):
            break
        words.append(a)
    return " ".join(words)


#: Locks this process holds, by folder: a second front-end object on the same folder in the same
#: process takes the lock over (the older one may no longer commit).
_HELD: dict[str, dict] = {}


class StateLock:
    """An exclusive ``fcntl.flock`` on ``state_dir/.lock`` for as long as the writer lives.

    A second process gets a StateError naming the holder (pid, host, command). Within one process
    the newest front-end object takes the folder over; the older one's commits then fail.
    """

    released = False

    def __init__(self, state_dir, owner: str):
        import fcntl

        self.state_dir = Path(state_dir)
        self.key = os.path.realpath(self.state_dir)
        held = _HELD.get(self.key)
        if held is not None:
            held["token"] += 1
            self.token, self._held = held["token"], held
            return
        path = self.state_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise StateError(
                f"{owner}: {self.state_dir} is being written by {holder}; wait for it to finish (or stop "
                "it), or use another state_dir"
            ) from None
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        info = f"pid {os.getpid()} on {socket.gethostname()} ({_command()}, since {stamp})\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self._held = _HELD[self.key] = {"fd": fd, "token": 1}
        self.token = 1

    @property
    def current(self) -> bool:
        """This object still holds the folder (no newer one in this process took it over)."""
        return _HELD.get(self.key) is self._held and self._held["token"] == self.token

    def check(self, owner: str) -> None:
        if self.released:
            raise StateError(f"{owner}: {self.state_dir} was closed; resume it to continue")
        if not self.current:
            raise StateError(
                f"{owner}: {self.state_dir} was taken over by a newer {owner} in this process; "
                "continue with that one"
            )

    def release(self) -> None:
        """Give the folder up (only the current holder can)."""
        if self.current:
            os.close(_HELD.pop(self.key)["fd"])
        self.released = True


def move_aside(state_dir: Path) -> Path:
    """Rename a state folder to ``<name>.old-<UTC time>`` (never deleted); returns the new path."""
    state_dir = Path(state_dir)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = state_dir.with_name(f"{state_dir.name}.old-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = state_dir.with_name(f"{state_dir.name}.old-{stamp}-{n}")
    state_dir.rename(target)
    return target


# -- reading --------------------------------------------------------------------------------------
def damaged(path, what: str) -> StateError:
    return StateError(
        f"{path}: {what}; the state folder is damaged. Restore it from a backup, or {FORCE_NEW} "
        "(the folder cannot be continued as it is)"
    )


def read_json(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise damaged(path, "is not a text file") from None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); the state "
            "folder is damaged or the file was not written by w2s_plugin. Restore it from a backup, "
            f"or {FORCE_NEW}"
        ) from None
    if not isinstance(state, dict):
        raise damaged(path, "does not hold a JSON object")
    return state


def _read_log_lines(path: Path, data: bytes):
    rounds, items = [], empty_items()
    for i, line in enumerate(data.splitlines(), 1):
        try:
            rec = json.loads(line)
            rounds.append(rec["row"])
            for k in ITEM_COLUMNS:
                items[k] += rec["items"][k]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise damaged(
                path, f"line {i} (round {i}) is not a complete round record ({type(exc).__name__}: {exc})"
            ) from None
    return rounds, items


def read_committed_log(state_dir: Path, st: dict):
    """``(rounds, items, committed_bytes, crc)`` of the committed part of the round log that
    ``st`` names, checked against its length, checksum and round count (the tail is left alone)."""
    info = st.get("log") or {}
    path = Path(state_dir) / info.get("file", LOG_FILE)
    committed = int(info.get("bytes", 0))
    if committed == 0:
        return [], empty_items(), 0, 0
    if not path.exists() or path.stat().st_size < committed:
        raise damaged(path, f"the round log is shorter than the {committed} committed bytes (it was cut)")
    with open(path, "rb") as fh:
        data = fh.read(committed)
    crc = crc_update(0, data)
    if info.get("crc32") is not None and crc != info["crc32"]:
        raise damaged(
            path,
            "the round log's checksum does not match the committed state (its committed part was changed)",
        )
    rounds, items = _read_log_lines(path, data)
    n_rounds = st.get("n_rounds", len(rounds))
    if len(rounds) != n_rounds:
        raise damaged(path, f"the round log holds {len(rounds)} committed rounds, the state says {n_rounds}")
    return rounds, items, committed, crc


@dataclass
class SavedState:
    """What :func:`read_state` found: the state dict (version 3 form), the committed rounds and
    items, the log's committed length and checksum, and where it came from."""

    state: dict
    rounds: list
    items: dict
    path: Path
    log_bytes: int = 0
    log_crc: int = 0
    migrated_from: str | None = None
    #: 0.1.0 files the first commit supersedes (deleted after it), and whether the rounds still
    #: have to be written to the log (0.1.0 front-ends kept them in their own file).
    legacy_files: list = field(default_factory=list)
    rounds_in_log: bool = True
    lock: Any = None


def migrated_state(kind: str, old: dict, legacy_file: str, rounds: list, **keys) -> dict:
    """The version-3 state of a folder an older front-end wrote (for a :class:`StateKind`'s
    ``migrate``): its sources and bandit, the overlap reward, an empty log (the first commit writes
    ``rounds`` into it), and the front-end's own ``keys``."""
    return {
        "version": STATE_VERSION,
        "kind": kind,
        "batch_size": old.get("batch_size"),
        "budget": None,
        "random_state": None,
        "sources": old.get("sources"),
        "bandit": old.get("bandit"),
        "reward": {"name": "overlap"},
        "log": {"file": LOG_FILE, "bytes": 0},
        "detector": {},
        "migrated_from": legacy_file,
        "rounds": rounds,
        "items": empty_items(),
        **keys,
    }


def _legacy(state_dir: Path, kind: str | None, registry: dict) -> SavedState | None:
    """A folder an older version wrote, migrated in memory (``None``: nothing of the kind)."""
    names = [kind] if kind else list(registry)
    for name in names:
        k = registry.get(name)
        if k is None or not k.legacy_file or k.migrate is None:
            continue
        path = state_dir / k.legacy_file
        if not path.exists():
            continue
        old = read_json(path)
        st = k.migrate(old, path)
        if st is None:
            continue
        st.setdefault("kind", name)
        st.setdefault("migrated_from", k.legacy_file)
        saved = SavedState(st, [], empty_items(), path, migrated_from=st["migrated_from"])
        if "rounds" in st:  # kept in the old file, not in a log: the first commit writes them
            saved.rounds, saved.items = st.pop("rounds"), st.pop("items", None) or empty_items()
            saved.rounds_in_log = False
            st["n_rounds"] = len(saved.rounds)
        if k.legacy_file != STATE_FILE:
            saved.legacy_files.append(k.legacy_file)
        return saved
    return None


def read_state(state_dir, kind: str | None = None) -> SavedState | None:
    """The one reader of a state folder: ``None`` when it holds no state of ``kind`` (any kind when
    ``None``); else its :class:`SavedState`, 0.1.0 folders migrated in memory, the committed part of
    the round log read and checked. Read-only: an uncommitted tail of the log is left alone."""
    state_dir = Path(state_dir)
    registry = kinds()
    path = state_dir / STATE_FILE
    if path.exists():
        st = read_json(path)
        saved = None
        if st.get("version") != STATE_VERSION and "kind" not in st:
            saved = _legacy(
                state_dir, None, {n: k for n, k in registry.items() if k.legacy_file == STATE_FILE}
            )
        if saved is None:
            found = st.get("kind", "campaign")
            if kind is not None and found != kind:
                raise StateError(
                    f"{path} was written by a {display(found)}, not a {display(kind)}; give that "
                    "front-end's state_dir, or another state_dir"
                )
            check = getattr(registry.get(found), "check", None)
            if check is not None:
                check(path, st)
            if st.get("version") != STATE_VERSION:
                raise StateError(
                    f"{path}: state version {st.get('version')} is not {STATE_VERSION} (written by another "
                    "version of w2s_plugin); continue it with that version, or start a new state_dir"
                )
            saved = SavedState(st, [], empty_items(), path)
    else:
        saved = _legacy(state_dir, kind, {n: k for n, k in registry.items() if k.legacy_file != STATE_FILE})
        if saved is None:
            return None
    if saved.rounds_in_log:
        saved.rounds, saved.items, saved.log_bytes, saved.log_crc = read_committed_log(state_dir, saved.state)
    return saved


def load_state(state_dir, kind: str | None = None) -> dict:
    """The saved state of any front-end's folder (for ``w2s campaign status``) as a dict with its
    committed ``rounds`` and ``items``; 0.1.0 folders are migrated in memory. Read-only."""
    saved = read_state(state_dir, kind)
    if saved is None:
        raise StateError(
            f"no campaign state in {state_dir} (no {STATE_FILE}); give the state_dir of a "
            + ", a ".join(k.display for k in kinds().values())
        )
    st = dict(saved.state, rounds=saved.rounds, items=saved.items)
    st.setdefault("n_rounds", len(saved.rounds))
    if saved.migrated_from:
        st["migrated_from"] = saved.migrated_from
    return st


def check_orphan_log(state_dir: Path, owner: str) -> None:
    """A round log without the ``state.json`` that commits it is never deleted: one line with the remedy.

    (The first commit writes an empty ``state.json`` before the first log line, so a log alone means
    the commit record was lost, not a crash before the first round.)"""
    log = Path(state_dir) / LOG_FILE
    if log.exists() and log.stat().st_size > 0:
        raise StateError(
            f"{owner}: {log} holds {log.stat().st_size} bytes of rounds but {STATE_FILE} beside it is "
            f"missing; restore {STATE_FILE} from a backup to continue, or {FORCE_NEW} (the log is kept)"
        )
