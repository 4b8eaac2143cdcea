"""Source selection: bandit policies on K = 5 synthetic sources, with real detection in the loop.

Five pools from the paper's mixture with true overlap densities 0.10 ... 0.50 (the rest half
easy-only, half hard-only; :func:`w2s_plugin.simulation.make_sources`). Each policy runs a real
:class:`~w2s_plugin.Campaign` (batches of 50, detection accumulating across rounds): the bandit
only ever sees *detected* overlap counts. Tracked per round: true overlap points collected, and the
test accuracy of the paper's strong model (logistic regression, C = 0.01) fitted on the weak labels
of the points detected as overlap so far (the method's recipe).
"""

from __future__ import annotations

import warnings

import numpy as np

from w2s_plugin.detector import Region, W2SWarning
from w2s_plugin.progress import progress as _progress
from w2s_plugin.simulation import make_sources, strong_accuracy

from ._common import check_size, fmt, md_table, mean_ci, pyplot, run_main, save

TITLE = "Source selection on K = 5 synthetic sources"
POLICIES = ("ucb", "ucb1_rounds", "reference_ucb", "thompson", "random", "oracle")
DENSITIES = (0.10, 0.20, 0.30, 0.40, 0.50)
COLORS = {
    "ucb": "tab:green",
    "ucb1_rounds": "tab:orange",
    "reference_ucb": "tab:purple",
    "thompson": "tab:blue",
    "random": "tab:gray",
    "oracle": "black",
}


def one_run(policy: str, seed: int, rounds: int, batch: int, checkpoints) -> dict:
    sim = make_sources(DENSITIES, n_per_source=rounds * batch, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W2SWarning)
        camp = sim.campaign(
            policy,
            {"horizon": rounds},
            embed=None,
            batch_size=batch,
            budget=rounds * batch,
            progress=False,
            random_state=seed,
        )
        res = camp.run()
    it = res.items
    src = {s.name: s for s in sim.sources}
    true_reg = np.array([src[s].extras["regions"][p] for s, p in zip(it["source"], it["position"])])
    rnd = np.asarray(it["round"])
    per_round_true = np.bincount(rnd, weights=(true_reg == int(Region.OVERLAP)), minlength=rounds + 1)[1:]
    per_round_det = np.array([r["n_overlap"] for r in res.rounds], dtype=float)
    det = np.asarray(it["region"]) == int(Region.OVERLAP)
    wl = np.asarray(it["weak_label"])
    X_all = np.vstack([src[s].X[p] for s, p in zip(it["source"], it["position"])])
    acc = {}
    for c in checkpoints:
        sel = det & (rnd <= c)
        a = strong_accuracy(X_all[sel], wl[sel], sim.test)
        acc[c] = (a["all"], a["hard_only"])
    best = max(sim.densities, key=sim.densities.get)
    return {
        "true_cum": np.cumsum(per_round_true),
        "det_cum": np.cumsum(per_round_det),
        "acc": acc,
        "best_share": float(np.mean([r["source"] == best for r in res.rounds])),
        "regret": res.regret,
    }


def run(size: str = "full", seed: int = 0, progress: bool = True) -> dict:
    check_size(size)
    full = size == "full"
    n_seeds = 8 if full else 3
    rounds, batch = (30, 50) if full else (15, 50)
    checkpoints = (5, 10, 20, 30) if full else (5, 15)
    bar = _progress(total=n_seeds * len(POLICIES), desc="source selection", disable=not progress, unit="run")
    out = {}
    for pol in POLICIES:
        runs = []
        for s in range(seed, seed + n_seeds):
            runs.append(one_run(pol, s, rounds, batch, checkpoints))
            bar.update(1)
        out[pol] = {
            "true_cum": np.array([r["true_cum"] for r in runs]),
            "det_cum": np.array([r["det_cum"] for r in runs]),
            "regret": np.array([r["regret"] for r in runs]),
            "acc_all": {c: [r["acc"][c][0] for r in runs] for c in checkpoints},
            "acc_hard": {c: [r["acc"][c][1] for r in runs] for c in checkpoints},
            "best_share": [r["best_share"] for r in runs],
        }
    bar.close()
    return {
        "size": size,
        "seeds": n_seeds,
        "rounds": rounds,
        "batch": batch,
        "checkpoints": checkpoints,
        "policies": out,
    }


def accuracy_spread(res: dict, key: str = "acc_hard") -> tuple[float, float]:
    """Largest difference between policies' mean strong accuracy at the last checkpoint, and the
    widest 95% CI half-width among them."""
    last = res["checkpoints"][-1]
    ms = [mean_ci(res["policies"][p][key][last]) for p in POLICIES]
    means = [m for m, _ in ms]
    return float(max(means) - min(means)), float(max(h for _, h in ms))


def _accuracy_sentence(res: dict) -> str:
    spread, half = accuracy_spread(res)
    last = res["checkpoints"][-1]
    if spread < half:
        return (
            f"That does **not** show up in the strong model: at round {last} the policies' mean hard-only "
            "accuracy "
            f"differs by at most {spread:.3f}, inside every policy's 95% interval (± up to {half:.3f}). Once "
            "a "
            "campaign has a few hundred detected-overlap points the strong model saturates, so which source "
            "they "
            "came from stops mattering. On this mixture, picking the densest source buys more overlap "
            "points, not a "
            "better strong model."
        )
    return (
        f"At round {last} the policies' mean hard-only accuracy differs by up to {spread:.3f} "
        f"(95% intervals up to ± {half:.3f})."
    )


def plot(res: dict, img_dir) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    t = np.arange(1, res["rounds"] + 1)
    cps = res["checkpoints"]
    for pol in POLICIES:
        d = res["policies"][pol]
        c = COLORS[pol]
        m = d["true_cum"].mean(axis=0)
        lo, hi = np.percentile(d["true_cum"], [10, 90], axis=0)
        axes[0].plot(t, m, color=c, label=pol, lw=2 if pol in ("ucb", "oracle") else 1.3)
        axes[0].fill_between(t, lo, hi, color=c, alpha=0.12)
        for ax, key in ((axes[1], "acc_all"), (axes[2], "acc_hard")):
            ms = np.array([mean_ci(d[key][k]) for k in cps])
            ax.errorbar(
                np.array(cps) + (POLICIES.index(pol) - 2.5) * 0.25,
                ms[:, 0],
                yerr=np.nan_to_num(ms[:, 1]),
                color=c,
                marker="o",
                ms=4,
                capsize=2,
                label=pol,
                lw=2 if pol in ("ucb", "oracle") else 1.3,
            )
    axes[0].set(
        title="true overlap points collected (mean, 10-90% band)",
        xlabel="round",
        ylabel=f"cumulative overlap points (batch {res['batch']})",
    )
    axes[1].set(
        title="strong model on weak labels of detected overlap", xlabel="round", ylabel="test accuracy (all)"
    )
    axes[2].set(title="same model, hard-only test points", xlabel="round", ylabel="test accuracy (hard-only)")
    for ax in axes:
        ax.legend(loc="lower right" if ax is not axes[0] else "upper left")
    return save(fig, img_dir, "source_selection.png")


def markdown(res: dict, img_dir="docs/img", img_prefix="img") -> str:
    path = plot(res, img_dir)
    last = res["checkpoints"][-1]
    rows = []
    for pol in POLICIES:
        d = res["policies"][pol]
        rows.append(
            [
                f"`{pol}`",
                fmt(*mean_ci(d["true_cum"][:, -1]), digits=0),
                fmt(*mean_ci(d["regret"][:, -1] if d["regret"].ndim == 2 else []), digits=0),
                fmt(*mean_ci(d["best_share"]), digits=2),
                fmt(*mean_ci(d["acc_all"][last])),
                fmt(*mean_ci(d["acc_hard"][last])),
            ]
        )
    u, r = res["policies"]["ucb"], res["policies"]["random"]
    gain = u["true_cum"][:, -1] - r["true_cum"][:, -1]
    text = [
        f"## 3. {TITLE}",
        "",
        f"True densities {', '.join(f'{x:.2f}' for x in DENSITIES)}; {res['rounds']} rounds of "
        f"{res['batch']} points; "
        f"{res['seeds']} seeds (mean ± 95% CI). The campaign runs the real detector; regret is measured in "
        "*true* "
        "overlap points against always drawing from the densest source. `oracle` knows the true densities.",
        "",
        md_table(
            [
                "policy",
                f"true overlap collected ({res['rounds']} rounds)",
                "regret (overlap points)",
                "share of rounds on best source",
                f"strong acc, round {last}",
                f"strong acc hard-only, round {last}",
            ],
            rows,
        ),
        "",
        f"![source selection]({img_prefix}/{path.split('/')[-1]})",
        "",
        f"`ucb` collects {fmt(*mean_ci(gain), digits=0)} more true overlap points than `random` over the "
        "campaign "
        f"(paired by seed). {_accuracy_sentence(res)}",
    ]
    return "\n".join(text)


def main(argv=None) -> int:
    import sys

    return run_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
