"""Built-in ``w2s diagnose`` (should I trust overlap density on my data?) and ``w2s report``
(regenerate docs/results.md and its plots)."""

from __future__ import annotations

import json
import os

import numpy as np

from w2s_plugin.hookspecs import hookimpl


def _load_labels(path: str, what: str) -> np.ndarray:
    """A 1-D column from .npy/.npz/.csv/.txt; non-numeric cells (text) are kept as strings."""
    from w2s_plugin.files import load_array as _load_array

    if path.endswith((".csv", ".txt", ".tsv")):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{what} file {path!r} does not exist")
        delim = "\t" if path.endswith(".tsv") else ","
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        while lines and not lines[-1].strip():  # trailing blank lines; inner blanks mean "no label"
            lines.pop()
        rows = [line.split(delim) for line in lines]
        if rows and len(rows[0]) != 1:
            raise ValueError(f"{what} file {path!r} must have one column; its first row has {len(rows[0])}")
        cells = [r[0].strip() for r in rows]
        if what == "gold labels":
            def num(c):
                try:
                    return float(c) if c not in ("", "nan", "NaN") else float("nan")
                except ValueError:
                    return None
            vals = [num(c) for c in cells]
            if vals and vals[0] is None:  # a header
                vals, cells = vals[1:], cells[1:]
            if any(v is None for v in vals):
                raise ValueError(f"gold labels file {path!r}: every row must be a class index (or empty / -1 for "
                                 "no gold label)")
            return np.asarray(vals, dtype=np.float64)
        return np.asarray(cells[1:] if cells and cells[0].lower() in ("source", "sources") else cells)
    return np.asarray(_load_array(path, what)).ravel()


def cmd_diagnose(args) -> int:
    from w2s_plugin import OverlapDetector
    from w2s_plugin.files import load_array as _load_array
    from w2s_plugin.diagnostics import diagnose

    proba = np.asarray(_load_array(args.proba, "proba"))
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    emb = _load_array(args.embeddings, "embeddings")
    gold = _load_labels(args.gold, "gold labels")
    sources = _load_labels(args.sources, "sources") if args.sources else None
    kw = {"scorer": args.scorer} if args.scorer else {}
    det = OverlapDetector(random_state=args.seed, **kw)
    rep = diagnose(proba, emb, gold, sources=sources, detector=det, alpha=args.alpha, min_gap=args.min_gap)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2, default=float))
    else:
        print(rep.summary())
    return 0 if rep.verdict == "informative" or not args.strict else 1


def cmd_report(args) -> int:
    from w2s_plugin.experiments.report import build_report

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    path = build_report(docs_dir=args.docs, size="small" if args.small else "full", seed=args.seed, jobs=args.jobs,
                        only=only, save_results=args.save_results, from_results=args.from_results)
    print(f"report written to {path} (plots in {os.path.join(args.docs, 'img')})")
    return 0


@hookimpl
def register_commands(subparsers):
    p = subparsers.add_parser(
        "diagnose", help="check on gold labels whether overlap density is informative on your data",
        description="Weak-label accuracy per detected region and per source, with 95% Wilson intervals, and a "
                    "verdict: informative when weak labels are clearly more accurate on detected overlap than "
                    "elsewhere (one-sided Fisher exact test, p < alpha and gap >= min-gap).")
    p.add_argument("--proba", required=True, help="weak-model probabilities: .npy/.npz/.csv, (n,) p(class 1) or (n, k)")
    p.add_argument("--embeddings", required=True, help="strong representations: .npy/.npz/.csv, (n, d)")
    p.add_argument("--gold", required=True,
                   help="gold class index per point (.npy/.csv, one column); -1, NaN or empty = no gold label")
    p.add_argument("--sources", help="optional source name per point (.csv/.txt one column, or .npy)")
    p.add_argument("--scorer", default=None, help="overlap scorer (default: the library default)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--min-gap", type=float, default=0.10, dest="min_gap",
                   help="smallest accuracy gap worth acting on (default 0.10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="exit with status 1 unless the verdict is informative")
    p.set_defaults(func=cmd_diagnose)

    p = subparsers.add_parser("report", help="rerun the experiments and rewrite docs/results.md with PNG plots")
    p.add_argument("--docs", default="docs", help="docs directory to write results.md and img/ into (default docs)")
    p.add_argument("--small", action="store_true", help="reduced sizes (as in the tests): a quick look, not the report")
    p.add_argument("--only", help="comma-separated experiments (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-results", dest="save_results", help="also pickle the raw results to this file")
    p.add_argument("--from-results", dest="from_results",
                   help="rewrite the report from a pickle saved by --save-results, without rerunning (trusted files only)")
    p.set_defaults(func=cmd_report)
