"""The campaign part of ``w2s demo``: four synthetic sources, the default policy vs random vs the oracle.

Each policy runs a real :class:`Campaign` (real weak model, real detection) on the same sources;
after every round a strong model (logistic regression, C = 0.01) is trained on the weak labels
of the detected-overlap points collected so far and scored on hard-only test points.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .detector import W2SWarning
from .simulation import make_sources, strong_accuracy

DEMO_DENSITIES = (0.02, 0.05, 0.1, 0.5)
POLICIES = ("ucb", "random", "oracle")


def policy_campaign(policy: str, seed, densities, n_per_source: int, batch_size: int, budget: int, **kw):
    """``(simulation, Campaign)``: synthetic sources of these overlap densities and a campaign whose
    bandit follows ``policy`` (``oracle`` is given the true densities)."""
    syn = make_sources(list(densities), n_per_source, random_state=seed)
    c = syn.campaign(policy, batch_size=batch_size, budget=budget, progress=False, random_state=seed, **kw)
    return syn, c


def campaign_demo(
    seeds=range(3), densities=DEMO_DENSITIES, n_per_source: int = 600, batch_size: int = 20, budget: int = 300
) -> dict:
    """Per policy, averaged over seeds: cumulative overlap points and hard-only accuracy per round."""
    rounds = -(-budget // batch_size)
    out = {p: {"overlap": [], "hard_acc": [], "regret": [], "best_share": []} for p in POLICIES}
    for seed in seeds:
        for pol in POLICIES:
            syn, c = policy_campaign(pol, seed, densities, n_per_source, batch_size, budget)
            acc = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", W2SWarning)
                while not c.done:
                    c.step()
                    X, y, _ = c.training_data("overlap")
                    a = strong_accuracy(X, y, syn.test)["hard_only"] if len(y) else float("nan")
                    acc.append(a)
            r = c.results()
            acc = (acc + [acc[-1]] * rounds)[:rounds]
            out[pol]["overlap"].append(np.resize(r.cumulative_overlap, rounds))
            out[pol]["hard_acc"].append(acc)
            out[pol]["regret"].append(float(r.regret[-1]))
            out[pol]["best_share"].append(r.best_share(skip=len(densities)))
    res = {
        "densities": list(densities),
        "budget": budget,
        "batch_size": batch_size,
        "rounds": rounds,
        "n_seeds": len(list(seeds)),
    }
    for pol, v in out.items():
        res[pol] = {
            "overlap": np.mean(v["overlap"], axis=0),
            "hard_acc": np.nanmean(np.array(v["hard_acc"], float), axis=0),
            "overlap_sd": np.std(v["overlap"], axis=0),
            "regret": float(np.mean(v["regret"])),
            "best_share": float(np.mean(v["best_share"])),
        }
    return res


#: Printed under the demo's table: what the columns mean and what they cannot show.
_TABLE_NOTES = (
    "(hard-only acc: strong model, LR C=0.01, trained on weak labels of the detected-overlap points)",
    "The bandit's job is the overlap column: more overlap points for the same budget. On this mixture the",
    "strong model saturates after ~100 overlap points, so hard-only accuracy differences of a few points",
    "between policies are within seed noise (docs/campaigns.md, docs/results.md).",
)


def format_campaign_demo(res: dict) -> str:
    dens = ", ".join(f"{d:g}" for d in res["densities"])
    lines = [
        f"Multi-source campaign: {len(res['densities'])} synthetic sources, true overlap densities {dens}",
        f"{res['rounds']} rounds of {res['batch_size']} points (budget {res['budget']}), "
        f"mean over {res['n_seeds']} seeds, real detection",
        f"{'policy':<8} {'overlap pts':>11} {'regret':>7} {'best-source share':>18} {'hard-only acc':>14}",
    ]
    for pol in POLICIES:
        r = res[pol]
        lines.append(
            f"{pol:<8} {r['overlap'][-1]:>11.1f} {r['regret']:>7.1f} {r['best_share']:>18.2f} "
            f"{r['hard_acc'][-1]:>14.3f}"
        )
    return "\n".join(lines + list(_TABLE_NOTES))


def plot_campaign_demo(res: dict, path=None):
    """Left, the quantity the bandit maximizes: detected overlap points found for the points spent,
    per policy (mean of the seeds, band = one standard deviation across seeds). Right, what the
    strong model makes of them, with the caveat the console prints."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.15, 1]})
    drawn = np.arange(1, res["rounds"] + 1) * res["batch_size"]
    drawn = np.minimum(drawn, res["budget"])
    colors = {"ucb": "#2ca02c", "random": "#7f7f7f", "oracle": "#1f77b4"}
    labels = {
        "ucb": "ucb (the default policy)",
        "random": "random source each round",
        "oracle": "oracle (always the densest source)",
    }
    n = res["n_seeds"]
    for pol in ("oracle", "ucb", "random"):
        mean, sd = res[pol]["overlap"], res[pol].get("overlap_sd")
        axes[0].plot(drawn, mean, color=colors[pol], lw=2, label=f"{labels[pol]}: {mean[-1]:.0f}")
        if sd is not None and n > 1:
            axes[0].fill_between(drawn, mean - sd, mean + sd, color=colors[pol], alpha=0.15, lw=0)
        axes[1].plot(drawn, res[pol]["hard_acc"], color=colors[pol], lw=2, label=labels[pol])
    dens = ", ".join(f"{d:g}" for d in res["densities"])
    axes[0].set(
        title=f"what the bandit maximizes: overlap points found (mean of {n} seeds)",
        xlabel="points drawn (budget spent)",
        ylabel="detected overlap points, cumulative",
    )
    axes[0].legend(
        fontsize=8,
        loc="upper left",
        title=f"{len(res['densities'])} sources, true overlap "
        f"densities {dens}\nfinal count after each name; band: ±1 sd over seeds",
        title_fontsize=8,
    )
    axes[0].text(
        0.98,
        0.03,
        f"ucb first tries each of the {len(res['densities'])} sources once,\n"
        "then draws mostly from the densest",
        transform=axes[0].transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        color="0.3",
    )
    axes[1].axhline(0.5, color="grey", lw=1, ls=":", label="chance (2 classes)")
    axes[1].set(
        title=f"strong model on hard-only test points (mean of {n} seeds)",
        xlabel="points drawn",
        ylabel="accuracy (LR, C=0.01, on weak labels\nof the detected overlap points)",
    )
    axes[1].legend(fontsize=8, loc="lower right")
    axes[1].text(
        0.02,
        0.98,
        "saturates after ~100 overlap points: differences\nbetween policies here are "
        f"within the noise of {n} seeds",
        transform=axes[1].transAxes,
        va="top",
        fontsize=8,
        color="0.3",
    )
    fig.tight_layout()
    if path is None:  # the caller (a test, a notebook) gets the figure to look at
        return fig
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def run_campaign_demo(args) -> None:
    """Called by ``w2s demo`` after the detection part."""
    seeds = max(1, min(int(getattr(args, "seeds", 3) or 3), 3))
    print()
    res = campaign_demo(seeds=range(seeds))
    print(format_campaign_demo(res))
    try:
        path = os.path.join(args.out, "demo_campaign.png")
        plot_campaign_demo(res, path)
        print(f"\nplot written to {path}")
    except ImportError:
        print("\n(for the plot, install matplotlib: pip install -e '.[plot]' in the checkout)")
