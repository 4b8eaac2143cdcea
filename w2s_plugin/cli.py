"""The ``w2s`` command line. Every subcommand comes from a ``register_commands`` hook, the
built-in ones included, so a plugin adds commands exactly as the library does.

Errors: a user mistake (:class:`~w2s_plugin.errors.W2SError`, :class:`CLIError`, a
:class:`~w2s_plugin.plugins.PluginError`, a missing file) is printed as one line with exit code 2;
anything else is a bug and keeps its traceback. ``w2s --debug ...`` shows the traceback for both.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from . import __version__, plugins
from .errors import W2SError

#: Exit status after a closed pipe (``w2s ... | head``): 128 + SIGPIPE, as a shell reports it.
EXIT_BROKEN_PIPE = 141


class CLIError(W2SError):
    """A user-facing error about the command line itself: printed as one line, exit code 2."""


def _is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a user mistake (one line) rather than a bug (traceback)."""
    return isinstance(exc, (W2SError, plugins.PluginError, FileNotFoundError))


def _environment_error(exc: BaseException) -> str | None:
    """One line for a machine problem that is no bug (a full disk, a read-only or forbidden folder),
    else None. Writes are atomic, so what was committed before stays usable."""
    import errno

    if not isinstance(exc, OSError):
        return None
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the disk is full{where}: free some space and run the same command again (saved state is kept)"
        )
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{exc.strerror}{where}: choose a writable folder or fix its permissions"
    return None


def writable_file(path: str, flag: str) -> str:
    """Check up front that ``path`` can be written (its directory exists and is writable), so a
    long command does not fail after the work is done."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is a directory; give a file name")
    if not os.path.isdir(parent):
        raise CLIError(f"{flag} {path}: directory {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"{flag} {path}: directory {parent} is not writable")
    return path


def writable_dir(path: str, flag: str) -> str:
    """Create directory ``path`` (and its parents) now, or fail with one line saying why."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{flag} {path}: cannot create the directory ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise CLIError(f"{flag} {path}: directory is not writable")
    return path


class CountError(Exception):
    """A count option out of range. Deliberately not a ValueError: argparse would catch that and print
    its usage block; ``_run`` prints this as one line instead."""


def count(flag: str, minimum: int = 1, maximum: int | None = None, error=CountError):
    """An argparse ``type`` for a count option (rounds, seeds, workers, a port): a whole number in
    ``[minimum, maximum]``, checked at the door. A bad value raises ``error`` with one line naming the
    flag; the default, ``CountError``, escapes argparse (it only catches its own and ValueError/TypeError),
    so ``w2s`` prints it as one line without the usage block. Standalone scripts pass
    ``error=argparse.ArgumentTypeError`` to get argparse's own message instead."""
    span = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise error(f"{flag} must be a whole number {span}; got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise error(f"{flag} must be a whole number {span}; got {value}") from None
        return value

    parse.__name__ = "count"  # argparse names the type in its own messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="w2s",
        description="Overlap density as an acquisition function: find the data where weak-to-strong "
        "generalization pays most.",
    )
    parser.add_argument("--version", action="version", version=f"w2s_plugin {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins.load_plugins()
    # One plugin at a time, in load order, so a failure names the plugin that caused it.
    for impl in plugins.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(sub)
        except Exception as exc:  # includes argparse's "conflicting subparser" for a duplicate command
            raise plugins.PluginError(
                f"plugin {impl.plugin_name!r} failed to add its commands: {type(exc).__name__}: {exc}"
            ) from exc
    _debug_everywhere(parser)
    return parser


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after any (sub)command too (``w2s detect ... --debug``), as people type it.
    The default is SUPPRESS so a subcommand never resets a ``--debug`` given before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "--debug" not in child._option_string_actions:
                    child.add_argument(
                        "--debug",
                        action="store_true",
                        default=argparse.SUPPRESS,
                        help="show the full traceback of any error",
                    )
                _debug_everywhere(child)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line for people at a terminal (no source file, line or code)."""
    text = " ".join(str(message).split())
    try:
        print(f"w2s: warning: {text}", file=file if file is not None else sys.stderr)
    except OSError:  # stderr gone: nothing useful to do
        pass


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at devnull so the flush at exit cannot fail again
    (the recipe in the Python docs' note on SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout replaced by something without a descriptor
        pass


def main(argv=None) -> int:
    with warnings.catch_warnings():  # restores the default display afterwards (main may run in-process)
        warnings.showwarning = _show_warning
        return _run(argv)


def _run(argv) -> int:
    prefix = "w2s"
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    try:
        try:
            parser = build_parser()  # loads plugins: a Ctrl-C here is handled below too
        except plugins.PluginError as exc:
            if debug:
                traceback.print_exc()
            print(f"w2s: error: {exc}", file=sys.stderr)
            return 2
        try:
            args = parser.parse_args(argv)
        except (CountError, CLIError) as exc:  # a count option out of range (see count): one line
            words = [a for a in argv if not a.startswith("-")]
            where = f"{prefix} {words[0]}" if words else prefix
            print(f"{where}: error: {exc}", file=sys.stderr)
            return 2
        if not getattr(args, "func", None):
            parser.print_help()
            return 0 if args.command is None else 2
        prefix = f"w2s {args.command}"
        debug = getattr(args, "debug", False)
        try:
            code = int(args.func(args) or 0)
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:
            env_problem = _environment_error(exc)
            if env_problem is not None:
                if debug:
                    traceback.print_exc()
                print(f"{prefix}: error: {env_problem}", file=sys.stderr)
                return 2
            if not _is_user_error(exc):  # a bug: the traceback is what a report needs
                traceback.print_exc()
                print(
                    f"{prefix}: internal error (a bug; please report it with the traceback above): "
                    f"{type(exc).__name__}: {exc}",
                    file=sys.stderr,
                )
                return 1
            if debug:
                traceback.print_exc()
            print(f"{prefix}: error: {exc}", file=sys.stderr)
            return 2
        sys.stdout.flush()  # a closed pipe shows up here rather than at exit
        return code
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    # Import the module by name so ``python -m w2s_plugin.cli`` and the ``w2s`` script share one CLIError.
    from w2s_plugin.cli import main as _main

    sys.exit(_main())
