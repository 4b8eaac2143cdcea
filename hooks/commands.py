"""Built-in ``w2s`` subcommands: ``demo``, ``detect`` and ``plugins``."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys

import numpy as np

from w2s_plugin import plugins
from w2s_plugin.files import load_array as _load_array
from w2s_plugin.hookspecs import hookimpl

SCORER_PARAMS_HINT = "--scorer-params must be a JSON object, e.g. '{\"variance\": 0.9}'"


def scorer_params(text):
    """``--scorer-params``: a JSON object (``None`` when not given), or a one-line error naming the flag."""
    from w2s_plugin.cli import CLIError

    if not text:
        return None
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{SCORER_PARAMS_HINT}; {text!r} is not valid JSON ({exc.msg})") from None
    if not isinstance(params, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(params), "a number"
        )
        raise CLIError(f"{SCORER_PARAMS_HINT}; got {kind}: {text}")
    return params


def cmd_detect(args) -> int:
    from w2s_plugin.cli import writable_file

    params = scorer_params(args.scorer_params)  # checked before any data is read
    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            writable_file(path, flag)
    contexts = plugins.command_contexts("detect", args)  # plugins check their options (--scheduler) now
    code = plugins.run_command("detect", args)  # e.g. the dask plugin, for --scheduler
    if code is not None:
        return int(code)
    with contextlib.ExitStack() as stack:
        for ctx in contexts:
            stack.enter_context(ctx)
        return _detect_in_memory(args, params)


def _detect_in_memory(args, params) -> int:
    from w2s_plugin import OverlapDetector, Region

    proba = _load_array(args.proba, "proba")
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    emb = _load_array(args.embeddings, "embeddings")  # a .npy stays memory-mapped: read in blocks, twice
    kw = {"scorer": args.scorer} if args.scorer else {}
    show = getattr(emb, "shape", (0,))[0] >= 1_000_000 or sys.stderr.isatty()  # a bar where a wait is likely
    det = OverlapDetector(
        scorer_params=params, random_state=args.seed, exact=getattr(args, "exact", False), progress=show, **kw
    )
    report = det.fit(proba, emb).report_
    print(report.summary())
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["index", "region", "confidence", "overlap_score"])
            for i, (r, c, s) in enumerate(zip(report.regions, report.confidence, report.overlap_score)):
                w.writerow([i, Region(int(r)).name.lower(), f"{c:.6g}", "" if np.isnan(s) else f"{s:.6g}"])
        print(f"regions written to {args.out}")
    if args.plot:
        report.plot(path=args.plot)
        print(f"plot written to {args.plot}")
    return 0


def cmd_demo(args) -> int:
    from w2s_plugin import demo
    from w2s_plugin.cli import writable_dir

    out = writable_dir(args.out, "--out")  # before the work, not after it
    print("w2s demo: the paper's synthetic mixture (20 easy + 20 hard dims, noise variance 5), offline.\n")
    res = demo.detection_demo(seeds=range(args.seeds), n_per_region=args.n)
    print(demo.format_detection_demo(res))
    try:
        path = os.path.join(out, "demo_detection.png")
        demo.plot_detection_demo(res, path)
        print(
            f"\nplot written to {path} (left, middle: how the detector split seed 0's pool; "
            f"right: the means over {args.seeds} seeds printed above)"
        )
    except ImportError:
        print("\n(for the plot, install matplotlib: pip install -e '.[plot]' in the checkout)")
    for extra in _demo_extensions():
        extra(args)
    return 0


def _demo_extensions():
    """Later parts of the demo (the multi-source campaign) register themselves here."""
    try:
        from w2s_plugin.demo_campaign import run_campaign_demo
    except ImportError:
        return []
    return [run_campaign_demo]


def cmd_plugins(args) -> int:
    rows = plugins.describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        kind = "built-in" if r["builtin"] else (r["distribution"] or "registered at run time")
        print(f"{r['name']}  ({kind})")
        for k, names in sorted(r["registers"].items()):
            print(f"    {k}: {', '.join(names)}")
        other = [h for h in r["hooks"] if not h.startswith("register_")]
        if other:
            print(f"    hooks: {', '.join(other)}")
    return 0


def add_pool_options(p) -> None:
    """``--proba`` and ``--embeddings``: the weak model's probabilities and the strong representations
    of one pool (``w2s detect``, ``w2s diagnose``)."""
    p.add_argument(
        "--proba", required=True, help="weak-model probabilities: .npy/.npz/.csv, (n,) p(class 1) or (n, k)"
    )
    p.add_argument("--embeddings", required=True, help="strong representations: .npy/.npz/.csv, (n, d)")


def add_seed_option(p, help: str) -> None:
    """``--seed``: a whole number >= 0, default 0; ``help`` says what it seeds."""
    from w2s_plugin.cli import count

    p.add_argument("--seed", type=count("--seed", minimum=0), default=0, help=help)


@hookimpl
def register_commands(subparsers):
    from w2s_plugin.cli import count

    p = subparsers.add_parser(
        "demo", help="offline demo on the built-in synthetic mixture (no server, no network)"
    )
    p.add_argument("--out", default="w2s-demo", help="directory for the PNG plots (default: w2s-demo)")
    p.add_argument("--seeds", type=count("--seeds"), default=5, help="seeds to average over (default 5)")
    p.add_argument("--n", type=count("--n"), default=1000, help="points per region (default 1000)")
    p.set_defaults(func=cmd_demo)

    p = subparsers.add_parser("detect", help="detect overlap points from weak probabilities and embeddings")
    add_pool_options(p)
    p.add_argument(
        "--scorer", default=None, help="overlap scorer (default: the library default; see w2s plugins)"
    )
    p.add_argument(
        "--scorer-params", default=None, help="scorer parameters as JSON, e.g. '{\"variance\": 0.9}'"
    )
    add_seed_option(
        p, "seeds the detector's sampled fast path, so a rerun gives the same regions (default 0)"
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="every hard-only row and full products (slower; the fast default gives the same "
        "regions within the checked tolerance, see docs/detection.md)",
    )
    p.add_argument("--out", help="write a CSV of index, region, confidence, overlap_score")
    p.add_argument("--plot", help="write a PNG of the sorted confidence and score curves")
    plugins.add_command_options("detect", p)  # e.g. --scheduler from the dask plugin
    p.set_defaults(func=cmd_detect, scorer=None)

    p = subparsers.add_parser("plugins", help="list plugins and what each registers")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_plugins)
