"""What a campaign round costs beyond the weak model and the representation, against detection alone.

A round = select a source, draw a batch, weak probabilities, representation, detection (with
the cross-round history), bandit update, commit to disk. With batches of 10^4 points this script
times each part in the same process and reports the campaign's own overhead (selection + draw +
bookkeeping + the atomic commit) as a ratio of the detection time. It also checks that the commit
stays cheap as the campaign grows to 10^5+ drawn items, against the naive format that rewrites
every drawn item into one JSON file each round (the format before the round log).

    .venv/bin/python benchmarks/bench_campaign.py [--batch 10000] [--rounds 12]
    .venv/bin/python benchmarks/bench_campaign.py --policies   # the policy table of docs/campaigns.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from w2s_plugin import Campaign  # noqa: E402
from w2s_plugin.campaign import atomic_write_bytes  # noqa: E402
from w2s_plugin.detector import W2SWarning  # noqa: E402
from w2s_plugin.simulation import make_sources  # noqa: E402


class Timed:
    """Wrap a callable and add up its wall time."""

    def __init__(self, fn):
        self.fn, self.total, self.last = fn, 0.0, 0.0

    def __call__(self, *a, **k):
        t = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.last = time.perf_counter() - t
            self.total += self.last


def policy_table(seeds=range(20)):
    """Best-source share (rounds after the first K) and regret per policy, Binomial simulation."""
    from w2s_plugin.bandit import regret_bound
    from w2s_plugin.simulation import simulate_bandit

    cases = [
        ("easy", [0.05, 0.1, 0.2, 0.3, 0.5], 100, 100),
        ("easy", [0.05, 0.1, 0.2, 0.3, 0.5], 100, 200),
        ("close", [0.2, 0.26, 0.32, 0.38, 0.44], 200, 150),
    ]
    pols = [
        "ucb",
        "thompson",
        "epsilon_greedy",
        "reference_ucb",
        "ucb1_rounds",
        "round_robin",
        "random",
        "oracle",
    ]
    for name, dens, n, T in cases:
        print(
            f"\n{name}: densities {dens}, batch {n}, T={T}, {len(seeds)} seeds; "
            f"ucb regret bound {regret_bound(dens, n, T):.0f}"
        )
        print(f"{'policy':<15} {'best share':>10} {'regret(T)':>10} {'regret(T/2)':>12}")
        for p in pols:
            runs = [simulate_bandit(dens, p, n, T, random_state=s) for s in seeds]
            print(
                f"{p:<15} {np.mean([r.best_share(len(dens)) for r in runs]):>10.3f} "
                f"{np.mean([r.regret[-1] for r in runs]):>10.1f} "
                f"{np.mean([r.regret[T // 2 - 1] for r in runs]):>12.1f}"
            )


def _time_rounds(args):
    """Run the campaign with each part wrapped in a timer: (per-round rows, file sizes, campaign)."""
    n_src = args.batch * args.rounds // 2 + args.batch
    syn = make_sources([0.05, 0.1, 0.2, 0.3, 0.5], n_src, random_state=args.seed)
    weak = syn.weak_model
    wtime = Timed(weak.predict_proba)

    with tempfile.TemporaryDirectory() as d:
        c = Campaign(
            syn.sources,
            wtime,
            embed=None,
            batch_size=args.batch,
            budget=args.batch * args.rounds,
            state_dir=d,
            progress=False,
            random_state=args.seed,
        )
        fit = Timed(c.detector.fit)
        c.detector.fit = fit
        save = Timed(c.engine.save)  # the commit: round log + detector delta + atomic state.json
        c.engine.save = save
        select = Timed(c.bandit.select)
        c.bandit.select = select
        rows = []
        while not c.done:
            t0 = time.perf_counter()
            c.step()
            step = time.perf_counter() - t0
            rows.append(
                {
                    "step": step,
                    "weak": wtime.last,
                    "detect": fit.last,
                    "save": save.last,
                    "select": select.last,
                    "drawn": c.n_drawn,
                }
            )
        sizes = {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)}
    return rows, sizes, c


def _time_naive_commits(c, batch):
    """The naive format: every drawn item rewritten into state.json each round, at three sizes."""
    naive = []
    with tempfile.TemporaryDirectory() as d:
        items = c.items
        for upto in (batch, len(items["id"]) // 2, len(items["id"])):
            sub = {k: v[:upto] for k, v in items.items()}
            t = time.perf_counter()
            atomic_write_bytes(
                os.path.join(d, "state.json"), json.dumps({"items": sub, "rounds": c.rounds}).encode()
            )
            naive.append((upto, time.perf_counter() - t))
    return naive


def _print_costs(args, rows, naive, sizes, n_drawn):
    R = np.array(
        [[r["step"], r["weak"], r["detect"], r["save"], r["select"]] for r in rows[1:]]
    )  # skip warm-up
    step, weak_t, det, sav, sel = R.mean(axis=0)
    overhead = step - weak_t - det  # representation is the identity (embed=None): free
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, {platform.python_version()}, "
        f"numpy {np.__version__}; date {time.strftime('%Y-%m-%d')}"
    )
    print(f"batch {args.batch} points x 40 features, {len(rows)} rounds, {n_drawn} drawn items")
    print(f"detection per round (baseline):      {det * 1e3:8.1f} ms   1.00")
    print(f"campaign overhead per round:         {overhead * 1e3:8.1f} ms   {overhead / det:.3f}")
    print(f"  of which commit (log+delta+state): {sav * 1e3:8.1f} ms   {sav / det:.3f}")
    print(f"  of which selection:                {sel * 1e3:8.3f} ms   {sel / det:.5f}")
    print(f"weak model call per round:           {weak_t * 1e3:8.1f} ms   {weak_t / det:.3f}")
    first, last = rows[1]["save"], rows[-1]["save"]
    print(
        f"commit after round 2 vs round {len(rows)} ({rows[1]['drawn']} vs {rows[-1]['drawn']} items): "
        f"{first * 1e3:.1f} ms vs {last * 1e3:.1f} ms (ratio {last / first:.2f})"
    )
    for upto, t in naive:
        print(f"naive full-JSON rewrite with {upto:>7} items: {t * 1e3:8.1f} ms   {t / det:.3f} x detection")
    print("files:", ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(sizes.items())))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", action="store_true", help="print the policy table and exit")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.policies:
        policy_table()
        return None
    warnings.simplefilter("ignore", W2SWarning)
    rows, sizes, c = _time_rounds(args)
    naive = _time_naive_commits(c, args.batch)
    _print_costs(args, rows, naive, sizes, c.n_drawn)
    return rows


if __name__ == "__main__":
    main()
