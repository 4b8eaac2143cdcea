"""Real data nobody on the team built: does overlap pay, which sources to draw from, and does
``diagnose`` recommend what the large test split says is best?

Datasets shipped inside packages (nothing is downloaded at run time): Landsat satellite image
patches (Debian ``r-cran-mlbench``, 6435 x 36, 6 classes), the spam e-mail table (Debian
``r-cran-kernlab``, 4601 x 57, 2 classes), primate splice-junction DNA (``r-cran-mlbench``,
3186 x 180, 3 classes) and scikit-learn's handwritten digits (1797 x 64, 10 classes). The R
datasets are read by :mod:`w2s_plugin.experiments.rdata` (no R needed).

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

from ..detector import OverlapDetector, Region
from ._common import fmt, mean_ci, md_table, run_main, run_seeds

TITLE = "Real data: point selection, source selection and the diagnose recommendation"
POINT_POLICIES = ("all", "confident", "overlap", "random")
SOURCE_POLICIES = ("random", "best single (hindsight)", "ucb + overlap", "ucb + gain")
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
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return np.asarray(X, dtype=np.float64), LabelEncoder().fit_transform(y), view, n_gold


DATASETS = ("satellite", "spam", "dna", "digits")


def available(name: str) -> bool:
    """Whether the package that ships ``name`` is installed (digits always is)."""
    from .rdata import find_rda

    try:
        find_rda(*{"satellite": ("mlbench", "Satellite"), "spam": ("kernlab", "spam"),
                   "dna": ("mlbench", "DNA")}[name]) if name != "digits" else None
        return True
    except Exception:
        return False


def _strong():
    from ..diagnostics import make_strong_model

    return make_strong_model("logistic")


def _acc(E, y, E_test, y_test) -> float:
    if np.unique(y).size < 2:
        return float(np.mean(y_test == y[0])) if y.size else float("nan")
    return float(_strong().fit(E, y).score(E_test, y_test))


def _campaign(sources: dict, policy: str, reward: str, batch: int, regions, E, weak, gold, seed: int,
              bad=None) -> tuple[np.ndarray, float, dict]:
    """One simulated campaign over ``sources`` (name -> pool indices, drawn in a seeded random order)."""
    from ..bandit import SourceBandit
    from ..hooks.reward_gain import GainReward

    rng = np.random.default_rng(seed)
    order = {k: list(rng.permutation(v)) for k, v in sources.items()}
    bandit = SourceBandit(list(sources), policy="ucb" if policy == "ucb" else "random", random_state=seed)
    gain = GainReward(gold, random_state=seed) if reward == "gain" else None
    drawn, from_bad = [], 0
    counts = {k: 0 for k in sources}
    for _ in range(ROUNDS):
        s = bandit.select()
        b = np.asarray(order[s][:batch], dtype=np.int64)
        order[s] = order[s][batch:]
        if not order[s]:
            bandit.exhaust(s)
        if reward == "gain":
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


def _sources(kind: str, cand: np.ndarray, E, regions, rng) -> dict:
    if kind == "topic clusters":
        from sklearn.cluster import KMeans

        lab = KMeans(N_SOURCES, n_init=3, random_state=int(rng.integers(2 ** 31))).fit_predict(E[cand])
        return {f"cluster{k}": cand[lab == k] for k in range(N_SOURCES)}
    if kind == "quality (one mislabelled)":
        parts = np.array_split(rng.permutation(cand), N_SOURCES)
        return {"clean1": parts[0], "clean2": parts[1], "clean3": parts[2], "noisy": parts[3], "mislabelled": parts[4]}
    dens = np.linspace(0.1, 0.5, N_SOURCES)
    ov = rng.permutation(cand[regions[cand] == int(Region.OVERLAP)])
    rest = rng.permutation(cand[regions[cand] != int(Region.OVERLAP)])
    m = int(min(ov.size / dens.sum(), rest.size / (1 - dens).sum()))
    out, i, j = {}, 0, 0
    for k, d in enumerate(dens):
        a, b = int(round(d * m)), m - int(round(d * m))
        out[f"density{d:.1f}"] = np.concatenate([ov[i:i + a], rest[j:j + b]])
        i, j = i + a, j + b
    return out


def one_seed(seed: int, dataset: str = "satellite", source_kinds=CONSTRUCTIONS) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..diagnostics import decide

    X, y, view, n_gold = _load(dataset)
    idx = np.arange(y.size)
    rest, test = train_test_split(idx, test_size=0.4, random_state=seed, stratify=y)
    wtrain, pool = train_test_split(rest, train_size=200, random_state=seed, stratify=y[rest])
    weak_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(view(X[wtrain]), y[wtrain])
    scaler = StandardScaler().fit(X[pool])
    E, E_test, y_test = scaler.transform(X[pool]), scaler.transform(X[test]), y[test]
    yp = y[pool]
    rng = np.random.default_rng(seed)

    def detect(Xweak):
        P = weak_model.predict_proba(Xweak)
        reg = OverlapDetector(random_state=seed).fit(P, E).report_.regions
        return P, weak_model.classes_[P.argmax(1)], reg

    P, weak, regions = detect(view(X[pool]))
    out = {"dataset": dataset, "n_pool": int(pool.size), "n_test": int(test.size),
           "weak_acc_test": float(weak_model.score(view(X[test]), y_test)),
           "weak_acc_pool": float(np.mean(weak == yp)), "density": float(np.mean(regions == int(Region.OVERLAP)))}
    # Point selection: the strong model trained on the weak labels of each policy's pool items.
    masks = {"all": np.ones(yp.size, bool), "confident": regions != int(Region.HARD_ONLY),
             "overlap": regions == int(Region.OVERLAP)}
    rand = np.zeros(yp.size, bool)
    rand[rng.choice(yp.size, size=int(masks["overlap"].sum()), replace=False)] = True
    masks["random"] = rand
    out["point"] = {k: _acc(E[m], weak[m], E_test, y_test) for k, m in masks.items()}
    out["point_n"] = {k: int(m.sum()) for k, m in masks.items()}
    out["gold_strong"] = _acc(E, yp, E_test, y_test)  # strong model on true labels: the ceiling
    # diagnose on a gold sample of the pool, next to the truth on the test split.
    gold_idx = rng.choice(yp.size, size=n_gold, replace=False)
    y_gold = np.full(yp.size, -1)
    y_gold[gold_idx] = yp[gold_idx]
    dec = decide(P, E, y_gold, regions, random_state=seed)
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
            Xw[mis] = Xw[rng.permutation(mis)]      # weak view of other items: confidently wrong labels
            Xw[noi] = Xw[noi] + rng.normal(scale=Xw.std(axis=0), size=Xw[noi].shape)
            _, w, reg = detect(Xw)
            bad = "mislabelled"
        batch = max(10, int(0.4 * cand.size / ROUNDS))
        res = {}
        for pol, (p, r) in {"random": ("random", "overlap"), "ucb + overlap": ("ucb", "overlap"),
                            "ucb + gain": ("ucb", "gain")}.items():
            drawn, share_bad, counts = _campaign(srcs, p, r, batch, reg, E, w, gold, seed, bad)
            res[pol] = {"acc": _acc(E[drawn], w[drawn], E_test, y_test), "bad_share": share_bad,
                        "overlap_share": float(np.mean(reg[drawn] == int(Region.OVERLAP))), "n": int(drawn.size)}
        singles = {}
        for name, members in srcs.items():
            take = rng.permutation(members)[:batch * ROUNDS]
            singles[name] = _acc(E[take], w[take], E_test, y_test)
        best = max(singles, key=singles.get)
        res["best single (hindsight)"] = {"acc": singles[best], "source": best}
        res["single"] = singles
        res["density"] = {k: float(np.mean(reg[v] == int(Region.OVERLAP))) for k, v in srcs.items()}
        out["sources"][kind] = res
    return out


def run(size: str = "full", seed: int = 0, progress: bool = True, datasets=None) -> dict:
    names = [d for d in (datasets or DATASETS) if available(d)]
    if size == "small":
        names = names[:1] if datasets is None else names
    out = {"size": size, "datasets": {}, "missing": [d for d in (datasets or DATASETS) if not available(d)]}
    for d in names:
        out["datasets"][d] = run_seeds(lambda s: one_seed(s, d), size, seed, 8, 2, f"real data: {d}", progress)
    out["seeds"] = 8 if size == "full" else 2
    return out
