"""Label Studio integration speed: /predict latency for 100 tasks, campaign import throughput.

    .venv/bin/python benchmarks/bench_label_studio.py [--requests 40]

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
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))


def bench_predict(n_requests: int) -> dict:
    backend = OverlapDensityBackend(model_dir=tempfile.mkdtemp(prefix="w2s-bench-"), keywords=EASY)
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
    for i in range(n_requests):
        batch = tasks[off:off + 100]
        off += 100
        t = time.perf_counter()
        r = s.post(f"{url}/predict", json={"project": "1.1", "tasks": batch, "label_config": LABEL_CONFIG})
        http.append(time.perf_counter() - t)
        assert r.status_code == 200 and len(r.json()["results"]) == 100
        batch = tasks[off:off + 100]
        off += 100
        t = time.perf_counter()
        backend.predict("1", batch, LABEL_CONFIG)
        inproc.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.get(f"{url}/health")
        health.append(time.perf_counter() - t)
    srv.shutdown()
    return {"http": http, "inproc": inproc, "health": health,
            "refits": backend.metrics()["projects"]["1"]["texts_seen"]}


def bench_import(rounds: int, batch: int) -> dict | None:
    url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
    if not url:
        return None
    ls = make_client(url, key)
    recs = make_reviews(rounds * batch * 2, random_state=1)
    plain = ls.projects.create(title=f"bench-plain-{uuid.uuid4().hex[:6]}", label_config=LABEL_CONFIG)
    t = time.perf_counter()
    for k in range(rounds):
        part = recs[k * batch:(k + 1) * batch]
        ls.projects.import_tasks(plain.id, request=[{"data": {"text": r["text"]}} for r in part])
    plain_s = time.perf_counter() - t
    proj = ls.projects.create(title=f"bench-driver-{uuid.uuid4().hex[:6]}", label_config=LABEL_CONFIG)
    third = len(recs) // 3
    sources = [Source.from_records(f"pool{k}", recs[k * third:(k + 1) * third], random_state=k) for k in range(3)]
    driver = CampaignDriver(ls, proj.id, sources, backend=OverlapDensityBackend(keywords=EASY), batch_size=batch,
                            progress=False, state_dir=tempfile.mkdtemp(prefix="w2s-bench-"))
    t = time.perf_counter()
    rows = driver.run(rounds)
    driver_s = time.perf_counter() - t
    n = sum(r["imported"] for r in rows)
    return {"n": n, "plain_tps": rounds * batch / plain_s, "driver_tps": n / driver_s,
            "round_s": [r["seconds"] for r in rows]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    a = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{time.strftime('%Y-%m-%d')}")
    p = bench_predict(a.requests)
    print(f"\n/predict, 100 tasks per request, {a.requests} requests")
    print(f"{'':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10}")
    base = pct(p["inproc"], 50)
    for name, xs in (("HTTP /predict", p["http"]), ("in-process predict()", p["inproc"]),
                     ("HTTP GET /health", p["health"])):
        print(f"{name:<28} {pct(xs, 50):>8.1f} {pct(xs, 95):>8.1f} {pct(xs, 50) / base:>10.2f}")
    imp = bench_import(a.rounds, a.batch)
    if imp is None:
        print("\n(import throughput skipped: LABEL_STUDIO_URL is not set)")
        return
    print(f"\ncampaign import, {a.rounds} rounds x {a.batch} tasks")
    print(f"plain bulk import (no predictions): {imp['plain_tps']:.0f} tasks/s (1.00)")
    print(f"driver (sync, score, bulk import with predictions): {imp['driver_tps']:.0f} tasks/s "
          f"({imp['driver_tps'] / imp['plain_tps']:.2f}); round p50 {np.median(imp['round_s']):.2f} s")


if __name__ == "__main__":
    main()
