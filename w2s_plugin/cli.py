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
    plugins.pm.hook.register_commands(subparsers=sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
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
    sys.exit(main())
