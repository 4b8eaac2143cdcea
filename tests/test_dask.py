"""The Dask path against the single-machine exact path, on a real LocalCluster of processes.

Agreement of regions (>= 99.5% of points) and of thresholds (within the stated bound), the
sketch's exactness and bound on its own, shard sources drawn without replacement inside a real
Campaign, the CLI's --scheduler, and that the core keeps working without dask.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from w2s_plugin import Campaign, OverlapDetector, Precomputed, Region, Source, W2SWarning  # noqa: E402
from w2s_plugin.datasets import make_overlap_mixture  # noqa: E402
from w2s_plugin.integrations.dask.detect import DaskOverlapDetector, DaskOverlapReport  # noqa: E402
from w2s_plugin.integrations.dask.sketch import (  # noqa: E402
    ChangePointSketch,
    bin_index,
    merge,
    refine_threshold,
    sketch_split,
)
from w2s_plugin.integrations.dask.sources import (  # noqa: E402
    FeistelPermutation,
    PoolSource,
    ShardedArray,
    shards_to_dask,
    write_npy_shards,
)
from w2s_plugin.overlap import change_point_threshold  # noqa: E402

pytestmark = pytest.mark.dask

#: Thresholds from the refined sketch equal the exact ones; scores computed in float32 blocks of a
#: different size can differ in the last bits, so compare within this float tolerance.
FLOAT_TOL = 1e-6


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit="2GiB"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _pool(n_easy, n_hard, n_overlap, seed, dtype=np.float32):
    m = make_overlap_mixture(n_easy, n_hard, n_overlap, random_state=seed)
    weak = LogisticRegression().fit(m.weak_view()[:2000], m.y[:2000])
    return m, weak.predict_proba(m.weak_view()), m.X.astype(dtype)


@pytest.fixture(scope="module")
def pool():
    return _pool(20_000, 20_000, 20_000, seed=0)


# -- the sketch on its own -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["beta", "mixture", "ties", "saturated", "exponential"])
@pytest.mark.parametrize("bins", [64, 4096, 65536])
def test_sketch_refined_threshold_is_exact_and_unrefined_within_bound(kind, bins):
    rng = np.random.default_rng(bins)
    n = 50_000
    v = {
        "beta": lambda: rng.beta(0.5, 0.5, n),
        "mixture": lambda: np.clip(
            np.r_[rng.normal(0.2, 0.1, n // 3), rng.normal(0.8, 0.05, n - n // 3)], 0, 1
        ),
        "ties": lambda: np.round(rng.random(n), 2),
        "saturated": lambda: np.r_[np.ones(n // 2), rng.random(n - n // 2)],
        "exponential": lambda: np.minimum(rng.exponential(0.05, n), 1.0),
    }[kind]()
    exact = change_point_threshold(v)
    parts = np.array_split(rng.permutation(v), 9)  # partitions in no particular order
    sk = merge(ChangePointSketch.from_values(p, 0.0, 1.0, bins) for p in parts)
    first = sketch_split(sk)
    assert abs(first.threshold - exact) <= first.bound + 1e-12  # the stated bound holds
    sel = np.isin(bin_index(v, 0.0, 1.0, bins), first.candidates)
    assert sel.sum() == first.n_candidate_values
    assert refine_threshold(sk, first, v[sel]) == pytest.approx(exact, abs=1e-12)
    if bins >= 4096:  # the second pass pulls a tiny share of the points, and the bound is a few bins wide
        assert first.n_candidate_values < 0.01 * n
        assert first.bound <= 8.0 / bins


def test_sketch_degenerate_inputs_follow_the_single_machine_rule():
    for v in (np.full(100, 0.3), np.array([0.7])):
        sk = ChangePointSketch.from_values(v, 0.0, 1.0, 256)
        assert sketch_split(sk).threshold == change_point_threshold(v)


# -- detection on a LocalCluster -------------------------------------------------------------------
def test_dask_regions_agree_with_single_machine(client, pool):
    m, P, E = pool
    exact = OverlapDetector(random_state=0).fit(P, E).report_
    det = DaskOverlapDetector(random_state=0).fit(
        da.from_array(P, chunks=(6000, 2)), da.from_array(E, chunks=(6000, E.shape[1]))
    )
    rep = det.report_
    assert isinstance(rep, DaskOverlapReport)
    assert abs(rep.hard_threshold - exact.hard_threshold) <= det.hard_threshold_bound_ + FLOAT_TOL
    assert abs(rep.overlap_threshold - exact.overlap_threshold) <= det.overlap_threshold_bound_ + FLOAT_TOL
    assert det.hard_split_info_["refined"] or det.hard_split_info_["n_candidate_values"] == 0
    local = rep.compute()
    assert (local.regions == exact.regions).mean() >= 0.995
    off = sum(abs(rep.counts[r] - exact.counts[r]) for r in Region)
    assert rep.counts == exact.counts or off <= 0.005 * len(E)
    # and the detection is right against the ground truth, as on one machine
    truth = m.regions == int(Region.OVERLAP)
    found = local.regions == int(Region.OVERLAP)
    assert (truth & found).sum() / found.sum() > 0.8


def test_unrefined_sketch_threshold_stays_within_its_bound(client, pool):
    _, P, E = pool
    exact = OverlapDetector(random_state=0).fit(P, E).report_
    det = DaskOverlapDetector(refine=False, bins=1024, random_state=0).fit(
        da.from_array(P, chunks=(10_000, 2)), da.from_array(E, chunks=(10_000, E.shape[1]))
    )
    assert det.hard_threshold_bound_ > 0
    assert abs(det.hard_threshold_ - exact.hard_threshold) <= det.hard_threshold_bound_ + FLOAT_TOL
    assert abs(det.overlap_threshold_ - exact.overlap_threshold) <= det.overlap_threshold_bound_ + FLOAT_TOL
    assert (det.report_.compute().regions == exact.regions).mean() >= 0.98


def test_overlap_detector_dispatches_dask_inputs_and_predicts(client, pool):
    _, P, E = pool
    Pd, Ed = da.from_array(P, chunks=(15_000, 2)), da.from_array(E, chunks=(15_000, E.shape[1]))
    det = OverlapDetector(scorer="subspace", random_state=0).fit(Pd, Ed)
    exact = OverlapDetector(scorer="subspace", random_state=0).fit(P, E)
    assert isinstance(det.report_, DaskOverlapReport)
    assert abs(det.hard_threshold_ - exact.hard_threshold_) <= FLOAT_TOL
    pred = det.predict_report(Pd[:5000], Ed[:5000]).compute()
    assert (pred.regions == exact.predict(P[:5000], E[:5000])).mean() >= 0.995
    with pytest.raises(ValueError, match="accumulate"):
        OverlapDetector(accumulate=True).fit(Pd, Ed)


def test_max_cosine_with_full_reference_matches(client):
    _, P, E = _pool(3000, 3000, 3000, seed=3)
    exact = OverlapDetector(scorer="max_cosine", random_state=0).fit(P, E).report_
    det = DaskOverlapDetector(scorer="max_cosine", max_reference=len(E), random_state=0).fit(
        da.from_array(P, chunks=(2500, 2)), da.from_array(E, chunks=(2500, E.shape[1]))
    )
    assert (det.report_.compute().regions == exact.regions).mean() >= 0.995
    assert abs(det.overlap_threshold_ - exact.overlap_threshold) <= FLOAT_TOL


def test_bad_input_is_a_clear_value_error(client, pool):
    _, P, E = pool
    with pytest.raises(ValueError, match="rows"):
        DaskOverlapDetector().fit(da.from_array(P[:100]), da.from_array(E[:99]))
    bad = P.copy()
    bad[12_345, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DaskOverlapDetector().fit(da.from_array(bad, chunks=(6000, 2)), da.from_array(E, chunks=(6000, 40)))
    with pytest.raises(ValueError, match="change_point"):
        DaskOverlapDetector(hard_threshold="median").fit(da.from_array(P), da.from_array(E))


def test_no_hard_point_warns_and_gives_zero_density(client):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(1000, 5))
    with pytest.warns(W2SWarning, match="no hard-only"):
        det = DaskOverlapDetector(hard_threshold=0.0).fit(da.from_array(np.full(1000, 0.9)), da.from_array(E))
    assert det.report_.density == 0.0 and det.scorer_ is None


# -- shards: sources, dask arrays, campaigns -------------------------------------------------------
def test_shards_read_back_exactly_as_numpy_and_dask(tmp_path):
    X = np.random.default_rng(0).normal(size=(10_007, 6)).astype(np.float32)
    write_npy_shards(tmp_path / "x", X, rows_per_shard=3000)
    A = ShardedArray(tmp_path / "x")
    idx = np.array([10_006, 5, 2999, 3000, 5, 7777])
    assert A.shape == X.shape and np.array_equal(A[idx], X[idx]) and np.array_equal(A[100:9000], X[100:9000])
    assert np.array_equal(shards_to_dask(tmp_path / "x", rows_per_chunk=1024).compute(), X)
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "pq").mkdir()
    for i in range(3):
        part = X[i * 4000 : (i + 1) * 4000]
        col = pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), X.shape[1])
        pq.write_table(pa.table({"emb": col}), tmp_path / "pq" / f"p{i}.parquet", row_group_size=1000)
    B = ShardedArray(tmp_path / "pq")
    assert np.array_equal(B[idx], X[idx])
    assert np.array_equal(shards_to_dask(tmp_path / "pq").compute(), X)
    with pytest.raises(ValueError, match="no .npy or .parquet shards"):
        ShardedArray(tmp_path / "nothing-here")


def test_feistel_draw_order_is_a_seeded_permutation():
    for n in (1, 2, 1000, 12_345):
        p = FeistelPermutation(n, random_state=7)
        assert np.array_equal(np.sort(p[:]), np.arange(n))
        assert np.array_equal(p[:], FeistelPermutation(n, random_state=7)[:])
    a, b = FeistelPermutation(10_000, 1)[:], FeistelPermutation(10_000, 2)[:]
    assert (a != b).mean() > 0.99
    big = FeistelPermutation(10**9, 0)[:100_000]
    assert np.unique(big).size == 100_000 and big.max() < 10**9


def test_shard_source_draws_without_replacement_and_resumes(tmp_path):
    X = np.random.default_rng(1).normal(size=(5000, 4))
    write_npy_shards(tmp_path / "x", X, rows_per_shard=1200)
    s = Source.from_path(f"shards://{tmp_path / 'x'}", name="pool", random_state=3)
    assert isinstance(s, PoolSource) and len(s) == 5000
    first = [s.draw(700) for _ in range(3)]
    state = s.state()
    s2 = Source.from_path(str(tmp_path / "x"), type="shards", name="pool", random_state=3).load_state(state)
    rest = []
    while not s2.exhausted:
        b = s2.draw(700)
        assert np.array_equal(b.X, X[b.positions])
        rest.append(b.positions)
    allpos = np.concatenate([b.positions for b in first] + rest)
    assert allpos.size == 5000 and np.unique(allpos).size == 5000
    with pytest.raises(ValueError, match="different order"):
        Source.from_path(str(tmp_path / "x"), type="shards", name="pool", random_state=4).load_state(state)


def test_campaign_over_shard_sources_finds_the_dense_source(tmp_path):
    sources = []
    for name, (e, h, o), seed in (("dense", (300, 1500, 3200), 10), ("sparse", (3200, 1500, 300), 11)):
        m, P, E = _pool(e, h, o, seed=seed, dtype=np.float64)
        for key, arr in (("x", E), ("proba", P), ("regions", m.regions)):
            write_npy_shards(tmp_path / name / key, arr, rows_per_shard=1700)
        sources.append(
            Source.from_path(
                str(tmp_path / name / "x"),
                type="shards",
                name=name,
                random_state=seed,
                extras={"proba": str(tmp_path / name / "proba"), "regions": str(tmp_path / name / "regions")},
            )
        )
    camp = Campaign(
        sources,
        Precomputed("proba"),
        None,
        batch_size=200,
        budget=4000,
        state_dir=tmp_path / "state",
        progress=False,
        random_state=0,
    )
    res = camp.run()
    assert camp.n_drawn == 4000
    for name, src in camp.sources.items():
        pos = [p for p, s in zip(res.items["position"], res.items["source"]) if s == name]
        assert len(pos) == len(set(pos)) == len(src) - src.n_remaining
    assert res.pulls()["dense"] > 0.7 * camp.n_rounds
    assert res.best_share(skip=4) > 0.75


def test_dask_source_feeds_a_campaign(client, pool):
    from w2s_plugin.integrations.dask.sources import source_from_dask

    m, P, E = pool
    src = source_from_dask(
        "lake",
        da.from_array(E, chunks=(8000, E.shape[1])),
        extras={"proba": da.from_array(P, chunks=(8000, 2))},
        random_state=0,
    )
    camp = Campaign(
        [src], Precomputed("proba"), None, batch_size=500, budget=2000, progress=False, random_state=0
    )
    res = camp.run()
    assert camp.n_drawn == 2000 and len(set(res.items["position"])) == 2000
    b = src.get(np.array(res.items["position"][:50]))
    assert np.array_equal(b.X, E[b.positions])


# -- CLI and the dask-free core --------------------------------------------------------------------
def test_cli_detect_with_scheduler_matches_the_in_memory_command(tmp_path, capsys):
    from w2s_plugin.cli import main

    _, P, E = _pool(2000, 2000, 2000, seed=5, dtype=np.float64)
    np.save(tmp_path / "p.npy", P)
    np.save(tmp_path / "e.npy", E)
    write_npy_shards(tmp_path / "eshards", E, rows_per_shard=1500)
    assert (
        main(
            [
                "detect",
                "--proba",
                str(tmp_path / "p.npy"),
                "--embeddings",
                str(tmp_path / "e.npy"),
                "--out",
                str(tmp_path / "a.csv"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "detect",
                "--proba",
                str(tmp_path / "p.npy"),
                "--embeddings",
                str(tmp_path / "eshards"),
                "--scheduler",
                "threads",
                "--out",
                str(tmp_path / "b.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "on Dask" in out
    a = np.loadtxt(tmp_path / "a.csv", delimiter=",", skiprows=1, usecols=1, dtype=str)
    b = np.loadtxt(tmp_path / "b.csv", delimiter=",", skiprows=1, usecols=1, dtype=str)
    assert a.size == b.size == 6000 and (a == b).mean() >= 0.995
    assert (
        main(
            [
                "detect",
                "--proba",
                str(tmp_path / "p.npy"),
                "--embeddings",
                str(tmp_path / "e.npy"),
                "--scheduler",
                "nowhere",
            ]
        )
        != 0
    )
    assert "--scheduler 'nowhere'" in capsys.readouterr().err


def test_core_works_and_plugins_load_without_dask():
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
        "import numpy as np\n"
        "from w2s_plugin import OverlapDetector, plugins\n"
        "assert 'shards' in plugins.get_registry('sources')\n"
        "rng = np.random.default_rng(0); E = rng.normal(size=(300, 5)); p = rng.random(300)\n"
        "print(OverlapDetector().fit(p, E).report_.density)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert r.returncode == 0, r.stderr
    assert 0.0 <= float(r.stdout.strip().splitlines()[-1]) <= 1.0
