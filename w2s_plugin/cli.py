"""The ``w2s`` command line. Every subcommand comes from a ``register_commands`` hook, the
built-in ones included, so a plugin adds commands exactly as the library does."""

from __future__ import annotations

import argparse
import sys

from . import __version__, plugins


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="w2s",
        description="Overlap density as an acquisition function: find the data where weak-to-strong "
                    "generalization pays most.",
    )
    parser.add_argument("--version", action="version", version=f"w2s_plugin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins.load_plugins()
    # One plugin at a time, in load order, so a failure names the plugin that caused it.
    for impl in plugins.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(sub)
        except Exception as exc:  # includes argparse's "conflicting subparser" for a duplicate command
            raise plugins.PluginError(f"plugin {impl.plugin_name!r} failed to add its commands: "
                                      f"{type(exc).__name__}: {exc}") from exc
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
    except plugins.PluginError as exc:
        print(f"w2s: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError, plugins.PluginError) as exc:
        print(f"w2s {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"w2s {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    # Import the module by name so ``python -m w2s_plugin.cli`` and the ``w2s`` script share one CLIError.
    from w2s_plugin.cli import main as _main

    sys.exit(_main())
