"""Real data nobody on the team built: does overlap pay, which sources to draw from, and does
``diagnose`` recommend what the large test split says is best?

Datasets shipped inside packages (nothing is downloaded at run time): Landsat satellite image
patches (Debian ``r-cran-mlbench``, 6435 x 36, 6 classes), the spam e-mail table (Debian
``r-cran-kernlab``, 4601 x 57, 2 classes), primate splice-junction DNA (``r-cran-mlbench``,
3186 x 180, 3 classes) and scikit-learn's handwritten digits (1797 x 64, 10 classes). The R
datasets are read by :mod:`benchmarks.experiments.rdata` (no R needed).

Per dataset and seed: 40% of the items are the *test* split (only for measuring); 200 items with
true labels train the *weak* model, a logistic regression on a weak feature view (satellite: the
centre pixel's four bands of the 3 x 3 patch; spam: the 9 character and capital-letter features,
not the 48 word frequencies; DNA: 4 of the 60 positions next to the junction; digits: the image
averaged down to 4 x 4). The rest is the *pool*; the strong model is a logistic regression on the
standardized full features, trained on the pool's weak labels. 300 pool items (digits: 200) form
the gold sample that ``diagnose`` and the ``gain`` reward see.
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.detector import OverlapDetector, Region
from w2s_plugin.errors import W2SError

from ._common import fmt, md_table, mean_ci, run_main, run_seeds

TITLE = "Real data: point selection, source selection and the diagnose recommendation"
POINT_POLICIES = ("all", "confident", "overlap", "random")
SOURCE_POLICIES = ("random", "best single (hindsight)", "ucb + overlap", "ucb + gain", "ucb + agreement")
CONSTRUCTIONS = ("topic clusters", "quality (one mislabelled)", "paper (overlap densities)")
N_SOURCES = 5
ROUNDS = 15


def _pool4(X):
    return X.reshape(-1, 8, 8).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)


#: name -> (loader, weak view, gold size)
def _load(name: str):
    from sklearn.preprocessing import LabelEncoder

    from .rdata import load_data_frame

    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        X, y, view, n_gold = d.data, d.target, _pool4, 200
    elif name == "satellite":
        X, y, _ = load_data_frame("mlbench", "Satellite")
        view, n_gold = (lambda A: A[:, 16:20]), 300
    elif name == "spam":
        X, y, _ = load_data_frame("kernlab", "spam")
        view, n_gold = (lambda A: A[:, 48:57]), 300
    elif name == "dna":
        X, y, _ = load_data_frame("mlbench", "DNA")
        view, n_gold = (lambda A: A[:, 84:96]), 300
    else:
        raise W2SError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return np.asarray(X, dtype=np.float64), LabelEncoder().fit_transform(y), view, n_gold


DATASETS = ("satellite", "spam", "dna", "digits")


def available(name: str) -> bool:
    """Whether the package that ships ``name`` is installed (digits always is)."""
    from .rdata import find_rda

    try:
        find_rda(
            *{"satellite": ("mlbench", "Satellite"), "spam": ("kernlab", "spam"), "dna": ("mlbench", "DNA")}[
                name
            ]
        ) if name != "digits" else None
        return True
    except Exception:
        return False


def _strong():
    from w2s_plugin.diagnostics import make_strong_model

    return make_strong_model("logistic")


def _acc(E, y, E_test, y_test) -> float:
    if np.unique(y).size < 2:
        return float(np.mean(y_test == y[0])) if y.size else float("nan")
    return float(_strong().fit(E, y).score(E_test, y_test))


def _campaign(
    sources: dict, policy: str, reward: str, batch: int, regions, E, weak, gold, seed: int, bad=None
) -> tuple[np.ndarray, float, dict]:
    """One simulated campaign over ``sources`` (name -> pool indices, drawn in a seeded random order)."""
    from w2s_plugin.bandit import SourceBandit

    from .agreement import AgreementReward

    GainReward = _reward_factory("gain")

    rng = np.random.default_rng(seed)
    order = {k: list(rng.permutation(v)) for k, v in sources.items()}
    bandit = SourceBandit(list(sources), policy="ucb" if policy == "ucb" else "random", random_state=seed)
    gain = (
        GainReward(gold=gold, random_state=seed)
        if reward == "gain"
        else AgreementReward(gold)
        if reward == "agreement"
        else None
    )
    drawn, from_bad = [], 0
    counts = {k: 0 for k in sources}
    for _ in range(ROUNDS):
        s = bandit.select()
        b = np.asarray(order[s][:batch], dtype=np.int64)
        order[s] = order[s][batch:]
        if not order[s]:
            bandit.exhaust(s)
        if gain is not None:
            value = gain.score(E[b], weak[b])
        else:
            value = float(np.mean(regions[b] == int(Region.OVERLAP)))
        bandit.update(s, b.size, int(round(value * b.size)))
        drawn.append(b)
        counts[s] += b.size
        if s == bad:
            from_bad += b.size
        if not bandit.active_.any():
            break
    idx = np.concatenate(drawn)
    return idx, from_bad / idx.size, counts


def _reward_factory(name: str):
    """A registered reward's factory, looked up by name like every built-in (never imported)."""
    from w2s_plugin import plugins

    if "rewards" in plugins.KINDS:  # the reward plugin kind (engine branch)
        return plugins.lookup("rewards", name, "reward")
    plugins.get_registry("models")  # loads the built-in plugins
    found = {}
    plugins.pm.hook.register_rewards(register=lambda n, factory, **_: found.setdefault(n, factory))
    return found[name]


def _sources(kind: str, cand: np.ndarray, E, regions, rng) -> dict:
    if kind == "topic clusters":
        from sklearn.cluster import KMeans

        lab = KMeans(N_SOURCES, n_init=3, random_state=int(rng.integers(2**31))).fit_predict(E[cand])
        return {f"cluster{k}": cand[lab == k] for k in range(N_SOURCES)}
    if kind == "quality (one mislabelled)":
        parts = np.array_split(rng.permutation(cand), N_SOURCES)
        return {
            "clean1": parts[0],
            "clean2": parts[1],
            "clean3": parts[2],
            "noisy": parts[3],
            "mislabelled": parts[4],
        }
    dens = np.linspace(0.1, 0.5, N_SOURCES)
    ov = rng.permutation(cand[regions[cand] == int(Region.OVERLAP)])
    rest = rng.permutation(cand[regions[cand] != int(Region.OVERLAP)])
    m = int(min(ov.size / dens.sum(), rest.size / (1 - dens).sum()))
    out, i, j = {}, 0, 0
    for d in dens:
        a, b = int(round(d * m)), m - int(round(d * m))
        out[f"density{d:.1f}"] = np.concatenate([ov[i : i + a], rest[j : j + b]])
        i, j = i + a, j + b
    return out


#: Source-selection policies simulated per construction: name -> (bandit policy, reward).
CAMPAIGNS = {
    "random": ("random", "overlap"),
    "ucb + overlap": ("ucb", "overlap"),
    "ucb + gain": ("ucb", "gain"),
    "ucb + agreement": ("ucb", "agreement"),
}


def _point_selection(E, weak, yp, regions, E_test, y_test, rng) -> dict:
    """The strong model trained on the weak labels of each point policy's pool items."""
    masks = {
        "all": np.ones(yp.size, bool),
        "confident": regions != int(Region.HARD_ONLY),
        "overlap": regions == int(Region.OVERLAP),
    }
    rand = np.zeros(yp.size, bool)
    rand[rng.choice(yp.size, size=int(masks["overlap"].sum()), replace=False)] = True
    masks["random"] = rand
    return {
        "point": {k: _acc(E[m], weak[m], E_test, y_test) for k, m in masks.items()},
        "point_n": {k: int(m.sum()) for k, m in masks.items()},
        "gold_strong": _acc(E, yp, E_test, y_test),  # strong model on true labels: the ceiling
    }


def _source_selection(srcs, E, w, reg, bad, gold, E_test, y_test, batch, seed, rng) -> dict:
    """Every source policy's campaign over ``srcs``, and each single source drawn alone (hindsight)."""
    res = {}
    for pol, (p, r) in CAMPAIGNS.items():
        drawn, share_bad, counts = _campaign(srcs, p, r, batch, reg, E, w, gold, seed, bad)
        res[pol] = {
            "acc": _acc(E[drawn], w[drawn], E_test, y_test),
            "bad_share": share_bad,
            "overlap_share": float(np.mean(reg[drawn] == int(Region.OVERLAP))),
            "n": int(drawn.size),
        }
    singles = {}
    for name, members in srcs.items():
        take = rng.permutation(members)[: batch * ROUNDS]
        singles[name] = _acc(E[take], w[take], E_test, y_test)
    best = max(singles, key=singles.get)
    res["best single (hindsight)"] = {"acc": singles[best], "source": best}
    res["single"] = singles
    res["density"] = {k: float(np.mean(reg[v] == int(Region.OVERLAP))) for k, v in srcs.items()}
    return res


def _split(dataset: str, seed: int):
    """Test split, weak-model training items and pool; the weak model and the standardized features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, view, n_gold = _load(dataset)
    idx = np.arange(y.size)
    rest, test = train_test_split(idx, test_size=0.4, random_state=seed, stratify=y)
    wtrain, pool = train_test_split(rest, train_size=200, random_state=seed, stratify=y[rest])
    weak_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        view(X[wtrain]), y[wtrain]
    )
    scaler = StandardScaler().fit(X[pool])
    return X, y, view, n_gold, test, pool, weak_model, scaler


def one_seed(seed: int, dataset: str = "satellite", source_kinds=CONSTRUCTIONS) -> dict:
    from w2s_plugin.diagnostics import WEAK_POLICIES, decide

    X, y, view, n_gold, test, pool, weak_model, scaler = _split(dataset, seed)
    E, E_test, y_test = scaler.transform(X[pool]), scaler.transform(X[test]), y[test]
    yp = y[pool]
    rng = np.random.default_rng(seed)

    def detect(Xweak):
        P = weak_model.predict_proba(Xweak)
        reg = OverlapDetector(random_state=seed).fit(P, E).report_.regions
        return P, weak_model.classes_[P.argmax(1)], reg

    P, weak, regions = detect(view(X[pool]))
    out = {
        "dataset": dataset,
        "n_pool": int(pool.size),
        "n_test": int(test.size),
        "weak_acc_test": float(weak_model.score(view(X[test]), y_test)),
        "weak_acc_pool": float(np.mean(weak == yp)),
        "density": float(np.mean(regions == int(Region.OVERLAP))),
    }
    out.update(_point_selection(E, weak, yp, regions, E_test, y_test, rng))
    # diagnose on a gold sample of the pool, next to the truth on the test split.
    gold_idx = rng.choice(yp.size, size=n_gold, replace=False)
    y_gold = np.full(yp.size, -1)
    y_gold[gold_idx] = yp[gold_idx]
    dec = decide(P, E, y_gold, regions, random_state=seed, candidates=WEAK_POLICIES)  # weak-only study
    out["recommendation"] = dec.recommendation
    out["supported"] = dec.supported
    out["estimates"] = {k: v.accuracy for k, v in dec.policies.items()}
    # Source selection. Gold items stay out of the sources (the gain reward scores on them).
    cand = np.setdiff1d(np.arange(yp.size), gold_idx)
    gold = (E[gold_idx], yp[gold_idx])
    out["sources"] = {}
    for kind in source_kinds:
        srcs = _sources(kind, cand, E, regions, rng)
        w, reg, bad = weak, regions, None
        if kind.startswith("quality"):
            Xw = view(X[pool]).copy()
            mis, noi = srcs["mislabelled"], srcs["noisy"]
            Xw[mis] = Xw[rng.permutation(mis)]  # weak view of other items: confidently wrong labels
            Xw[noi] = Xw[noi] + rng.normal(scale=Xw.std(axis=0), size=Xw[noi].shape)
            _, w, reg = detect(Xw)
            bad = "mislabelled"
        batch = max(10, int(0.4 * cand.size / ROUNDS))
        out["sources"][kind] = _source_selection(srcs, E, w, reg, bad, gold, E_test, y_test, batch, seed, rng)
    return out


def run(size: str = "full", seed: int = 0, progress: bool = True, datasets=None) -> dict:
    names = [d for d in (datasets or DATASETS) if available(d)]
    if size == "small" and datasets is None:
        names = ["digits"]  # the tests' slice: always installed, a few seconds per seed
    out = {"size": size, "datasets": {}, "missing": [d for d in (datasets or DATASETS) if not available(d)]}
    for d in names:
        out["datasets"][d] = run_seeds(
            lambda s, d=d: one_seed(s, d), size, seed, 8, 2, f"real data: {d}", progress
        )
    out["seeds"] = 8 if size == "full" else 2
    return out


def _m(runs, f):
    return mean_ci([f(r) for r in runs])


def regrets(runs) -> dict:
    """Per run, test-split loss of the recommendation and of each fixed policy against the best policy."""

    def best(r):
        return max(r["point"][k] for k in ("all", "confident", "overlap"))

    out = {"recommendation": [best(r) - r["point"][r["recommendation"]] for r in runs]}
    for k in ("all", "confident", "overlap"):
        out[k] = [best(r) - r["point"][k] for r in runs]
    return out


def plot(res: dict, img_dir: str, name: str = "real_data.png") -> str:
    from ._common import pyplot, save

    plt = pyplot()
    names = list(res["datasets"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = {"confident": "#1f77b4", "overlap": "#2ca02c", "random": "#7f7f7f"}
    for j, p in enumerate(("confident", "overlap", "random")):
        ms = [_m(res["datasets"][d]["runs"], lambda r, p=p: r["point"][p] - r["point"]["all"]) for d in names]
        axes[0].errorbar(
            np.arange(len(names)) + 0.15 * (j - 1),
            [m for m, _ in ms],
            yerr=[h for _, h in ms],
            fmt="o",
            color=colors[p],
            label=p,
            capsize=3,
        )
    axes[0].axhline(0, color="k", lw=1)
    axes[0].set(
        xticks=range(len(names)),
        xticklabels=names,
        ylabel="test accuracy minus `all`",
        title="point selection: strong model vs training on all weak labels",
    )
    axes[0].legend(fontsize=8)
    pols = [p for p in SOURCE_POLICIES if p != "random"]
    kinds = list(CONSTRUCTIONS)
    for j, p in enumerate(pols):
        vals = []
        for d in names:
            for k in kinds:
                vals.append(
                    _m(
                        res["datasets"][d]["runs"],
                        lambda r, k=k, p=p: r["sources"][k][p]["acc"] - r["sources"][k]["random"]["acc"],
                    )
                )
        x = np.arange(len(vals)) + 0.18 * (j - 1.5)
        axes[1].errorbar(
            x, [m for m, _ in vals], yerr=[h for _, h in vals], fmt="o", capsize=2, label=p, ms=4
        )
    axes[1].axhline(0, color="k", lw=1)
    axes[1].set(
        xticks=range(len(names) * len(kinds)),
        xticklabels=[f"{d[:4]}\n{k.split()[0]}" for d in names for k in kinds],
        ylabel="test accuracy minus random sources",
        title="source selection vs drawing sources at random",
    )
    axes[1].tick_params(axis="x", labelsize=7)
    axes[1].legend(fontsize=7)
    return save(fig, img_dir, name)


def _intro(res) -> list:
    return [
        f"## 6. {TITLE}",
        "",
        "Datasets that ship inside packages, nobody on the team built them: Landsat **satellite** "
        "image patches "
        "(Debian `r-cran-mlbench`, 6435 x 36, 6 classes), the **spam** e-mail table "
        "(`r-cran-kernlab`, 4601 x 57), "
        "splice-junction **DNA** (`r-cran-mlbench`, 3186 x 180, 3 classes) and scikit-learn's "
        "**digits** "
        "(1797 x 64, 10 classes). Per seed: 40% test split (measurement only); 200 true labels train "
        "the weak "
        "model, a logistic regression on a weak view (satellite: the centre pixel's 4 bands; spam: "
        "the 9 "
        "character/capital-letter features; DNA: 4 of 60 positions; digits: the image averaged to 4 x "
        "4); the "
        "strong model is a logistic regression on the standardized full features, trained on the "
        "pool's weak "
        f"labels. {res['seeds']} seeds; mean ± 95% interval over seeds; differences are paired by seed. "
        "Command: `python -m benchmarks.experiments.real_data`."
        + (f" Not run (package missing): {', '.join(res['missing'])}." if res.get("missing") else ""),
        "",
    ]


_POINT_DIFFS = (("confident", "all"), ("overlap", "all"), ("overlap", "confident"), ("overlap", "random"))
_POINT_HEADER = ["dataset", "weak acc", "strong on true labels", "overlap density", *POINT_POLICIES] + [
    f"{a} − {b}" for a, b in _POINT_DIFFS
]


def _point_row(d, runs) -> list:
    return (
        [
            d,
            fmt(*_m(runs, lambda r: r["weak_acc_test"])),
            fmt(*_m(runs, lambda r: r["gold_strong"])),
            fmt(*_m(runs, lambda r: r["density"]), digits=2),
        ]
        + [fmt(*_m(runs, lambda r, p=p: r["point"][p])) for p in POINT_POLICIES]
        + [fmt(*_m(runs, lambda r, a=a, b=b: r["point"][a] - r["point"][b])) for a, b in _POINT_DIFFS]
    )


_FIXED = ("all", "confident", "overlap")
_DECIDE_HEADER = [
    "dataset",
    "recommended (seeds)",
    "separated by gold (seeds)",
    "loss of recommendation, points",
    "always all",
    "always confident",
    "always overlap",
]


def _loss(values) -> str:
    return f"{100 * np.mean(values):.2f} (max {100 * max(values):.1f})"


def _decide_row(d, runs) -> list:
    rg = regrets(runs)
    recs = [r["recommendation"] for r in runs]
    return [
        d,
        ", ".join(f"{k} {recs.count(k)}" for k in _FIXED if recs.count(k)),
        sum(r["supported"] for r in runs),
        _loss(rg["recommendation"]),
    ] + [_loss(rg[k]) for k in _FIXED]


_UCB = ("ucb + overlap", "ucb + gain", "ucb + agreement")
_SOURCE_HEADER = (
    ["dataset", "sources"]
    + list(SOURCE_POLICIES)
    + ["overlap − random", "gain − random", "agreement − random", "mislabelled share"]
)


def _versus_random(k, p):
    """Per run: test accuracy of source policy ``p`` minus random sources, on construction ``k``."""
    return lambda r: r["sources"][k][p]["acc"] - r["sources"][k]["random"]["acc"]


def _source_rows(d, runs) -> list:
    rows = []
    for k in CONSTRUCTIONS:
        cells = [fmt(*_m(runs, lambda r, k=k, p=p: r["sources"][k][p]["acc"])) for p in SOURCE_POLICIES]
        cells += [fmt(*_m(runs, _versus_random(k, p))) for p in _UCB]
        bad = (
            " / ".join(f"{np.mean([r['sources'][k][p]['bad_share'] for r in runs]):.2f}" for p in CAMPAIGNS)
            if k.startswith("quality")
            else "–"
        )
        rows.append([d, k] + cells + [bad])
    return rows


def markdown(res: dict, img_dir=None, img_prefix=None) -> str:
    runs = {d: v["runs"] for d, v in res["datasets"].items()}
    lines = _intro(res) + [
        "**Point selection.** Test accuracy of the strong model trained on the weak labels of every pool "
        "item (`all`), of the items detection does not call hard-only (`confident`), of detected "
        "overlap "
        "(`overlap`), and of a random sample of the overlap's size (`random`).",
        "",
        md_table(_POINT_HEADER, [_point_row(d, r) for d, r in runs.items()]),
        "",
        "**The `diagnose` recommendation next to the truth.** `diagnose` sees the pool's weak probabilities, "
        "the strong representation and the gold sample (300 pool items; digits 200), and recommends "
        "a policy; "
        "the loss is the test accuracy of the best of `all`/`confident`/`overlap` minus that of the "
        "recommended one, per seed. For comparison, the loss of always using one fixed policy.",
        "",
        md_table(_DECIDE_HEADER, [_decide_row(d, r) for d, r in runs.items()]),
        "",
        "**Source selection.** Five sources from the pool (gold items excluded) of three kinds: *topic "
        "clusters* (k-means on the strong features), *quality* (a random split; one source `noisy` "
        "with "
        "Gaussian noise on its weak view, one `mislabelled` whose weak view belongs to other items, "
        "so the "
        "weak model labels it confidently and wrongly), and the *paper's construction* "
        "(detected-overlap "
        "densities 0.1 to 0.5). 15 rounds; a batch is 40% of the sources' items / 15. Final test "
        "accuracy "
        "of the strong model on every drawn item's weak label. `best single (hindsight)` draws the "
        "whole "
        "budget from the one source that turned out best on the test split (an oracle bound, not a "
        "policy). "
        "Detection for the `overlap` reward runs once on the whole pool, not per batch. Last column: "
        "share "
        "of the budget drawn from the `mislabelled` source (random, ucb+overlap, ucb+gain, "
        "ucb+agreement).",
        "",
        md_table(_SOURCE_HEADER, [row for d, r in runs.items() for row in _source_rows(d, r)]),
    ]
    if img_dir is not None:
        plot(res, img_dir)
        lines += ["", f"![real data]({img_prefix}/real_data.png)"]
    lines += [
        "",
        "**Plainly** (every sign below is computed from the tables: *better*/*worse* means the paired 95% "
        "interval excludes zero):",
        "",
    ] + [f"- {b}" for b in plainly(res)]
    return "\n".join(lines)


def _word(m, h) -> str:
    return "better" if m - h > 0 else ("worse" if m + h < 0 else "no different")


def _words(res, f) -> dict:
    """``{dataset: better / worse / no different}`` for the paired per-run difference ``f``."""
    return {d: _word(*_m(v["runs"], f)) for d, v in res["datasets"].items()}


def _on_each(w: dict) -> str:
    return ", ".join(f"{v} on {d}" for d, v in w.items())


def _regret_words(res) -> str:
    names = list(res["datasets"])
    loss = {d: regrets(res["datasets"][d]["runs"]) for d in names}
    return (
        "`diagnose`'s recommendation lost on average "
        + ", ".join(
            f"{100 * np.mean(loss[d]['recommendation']):.2f} points on {d} (worst seed "
            f"{100 * max(loss[d]['recommendation']):.1f})"
            for d in names
        )
        + " against the best policy on the test split; always `all` lost up to "
        f"{100 * max(np.mean(loss[d]['all']) for d in names):.2f} on average on a dataset, always "
        "`confident` up to "
        f"{100 * max(np.mean(loss[d]['confident']) for d in names):.2f}, always `overlap` up to "
        f"{100 * max(np.mean(loss[d]['overlap']) for d in names):.2f}."
    )


def _source_words(res, p) -> str:
    n = len(res["datasets"])
    cells = []
    for k in CONSTRUCTIONS:
        w = list(_words(res, _versus_random(k, p)).values())
        cells.append(
            f"{k}: better on {w.count('better')}, no different on {w.count('no different')}, worse on "
            f"{w.count('worse')} of {n}"
        )
    bad = max(
        np.mean([r["sources"]["quality (one mislabelled)"][p]["bad_share"] for r in v["runs"]])
        for v in res["datasets"].values()
    )
    return (
        f"`{p}` against random sources, by kind of sources: "
        + "; ".join(cells)
        + f". Largest share of the budget drawn from the mislabelled source: {100 * bad:.0f}%."
    )


def plainly(res: dict) -> list:
    """Where each method helps and where not, worded from the numbers."""
    out = []
    for p in ("confident", "overlap"):
        w = _words(res, lambda r, p=p: r["point"][p] - r["point"]["all"])
        out.append(f"Training on `{p}` instead of `all`: " + _on_each(w) + ".")
    w = _words(res, lambda r: r["point"]["overlap"] - r["point"]["confident"])
    out.append(
        "`overlap` against `confident` (does the overlap stage add anything to dropping hard-only points?): "
        + _on_each(w)
        + "."
    )
    out.append(_regret_words(res))
    out += [_source_words(res, p) for p in _UCB]
    w = list(_words(res, _versus_random("topic clusters", "best single (hindsight)")).values())
    out.append(
        "With topic clusters even the best single source in hindsight is worse than random sources on "
        f"{w.count('worse')} of {len(w)} datasets: coverage of every topic matters more than "
        "any source's "
        "quality, and a bandit that concentrates loses; with a mislabelled source the best single "
        "source is "
        "the bound a reward should approach (`gain` closes part of the gap, not all: its first pull "
        "of each "
        "source, and the noisy source, cost it)."
    )
    return out


def main(argv=None) -> int:
    import sys

    return run_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
