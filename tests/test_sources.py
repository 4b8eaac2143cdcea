"""Source: pools that hand out batches without replacement, from arrays, files and records."""

import csv
import json

import numpy as np
import pytest

from w2s_plugin import Source


def _drain(src, n):
    ids = []
    while not src.exhausted:
        ids += src.draw(n).ids
    return ids


def test_in_memory_draw_without_replacement_until_exhausted():
    X = np.arange(50, dtype=float).reshape(25, 2)
    src = Source("a", X, random_state=0)
    ids = _drain(src, 7)
    assert sorted(ids) == list(range(25)) and len(ids) == 25
    assert src.n_remaining == 0
    b = src.draw(5)
    assert len(b) == 0
    # the batch's rows are the items' rows
    src2 = Source("a", X, random_state=0)
    b = src2.draw(4)
    assert np.array_equal(b.X, X[b.positions])


def test_npy_source_is_memory_mapped_not_loaded(tmp_path):
    X = np.random.default_rng(0).normal(size=(5000, 8))
    np.save(tmp_path / "pool.npy", X)
    src = Source.from_path(tmp_path / "pool.npy", random_state=1)
    assert src.name == "pool"
    assert isinstance(src.X, np.memmap)
    assert src.X.filename.endswith("pool.npy")
    b = src.draw(100)
    assert type(np.asarray(b.X)) is np.ndarray  # a batch is an in-memory copy of its rows only
    assert np.array_equal(np.asarray(b.X), X[b.positions])
    assert src.n_remaining == 4900


def test_npz_source_carries_y_ids_and_extras(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    np.savez(tmp_path / "p.npz", X=X, y=np.arange(30) % 2, ids=np.array([f"doc-{i}" for i in range(30)]),
             proba=rng.uniform(size=(30, 2)), regions=np.arange(30) % 3, scalar=np.array(1.0))
    src = Source.from_path(tmp_path / "p.npz", random_state=0)
    assert set(src.extras) == {"proba", "regions"}
    b = src.draw(10)
    assert all(i.startswith("doc-") for i in b.ids)
    assert np.array_equal(b.extras["proba"], src.extras["proba"][b.positions])
    assert np.array_equal(b.y, (np.asarray(b.positions) % 2))
    with pytest.raises(ValueError, match="no array 'features'"):
        Source.from_path(tmp_path / "p.npz", x_key="features")


def test_csv_and_jsonl_sources_with_ids(tmp_path):
    rows = [{"uid": f"u{i}", "a": i, "b": 2 * i, "label": i % 2, "text": f"item {i}"} for i in range(12)]
    with open(tmp_path / "d.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(tmp_path / "d.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    for ext in ("csv", "jsonl"):
        src = Source.from_path(tmp_path / f"d.{ext}", id_column="uid", label_column="label", random_state=0)
        assert src.n_features == 2  # a, b: numeric, not id/label; text is not numeric
        b = src.draw(5)
        assert all(i.startswith("u") for i in b.ids)
        for i, rec, x in zip(b.ids, b.records, b.X):
            assert rec["uid"] == i and float(rec["a"]) == x[0] and float(rec["b"]) == x[1]
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        Source.from_path(tmp_path / "bad.jsonl")


def test_from_records_list_and_generator_and_stable_ids():
    recs = [{"id": 100 + i, "x": float(i), "y": i % 2} for i in range(20)]
    s1 = Source.from_records("r", recs, features=["x"], id_key="id", label_key="y", random_state=3)
    s2 = Source.from_records("r", (r for r in recs), features=["x"], id_key="id", label_key="y", random_state=3)
    b1, b2 = s1.draw(6), s2.draw(6)
    assert b1.ids == b2.ids
    assert all(b1.X[j, 0] + 100 == b1.ids[j] for j in range(6))
    # ids are stable: the same item keeps its id whatever the draw order
    s3 = Source.from_records("r", recs, features=["x"], id_key="id", random_state=99)
    b = s3.draw(20)
    assert b.ids != b1.ids[:20] and all(i == 100 + x for i, x in zip(b.ids, b.X[:, 0]))
    b3 = s3.get([4, 7])
    assert b3.ids == [104, 107]
    with pytest.raises(ValueError, match="empty"):
        Source.from_records("e", iter([]))
    with pytest.raises(ValueError, match="no key"):
        Source.from_records("r", recs, features=["zzz"])


def test_state_round_trip_continues_the_same_draws():
    X = np.random.default_rng(0).normal(size=(200, 4))
    a = Source("a", X, random_state=7)
    a.draw(30)
    st = json.loads(json.dumps(a.state()))
    b = Source("a", X, random_state=7).load_state(st)
    assert b.n_remaining == 170
    assert a.draw(50).ids == b.draw(50).ids
    with pytest.raises(ValueError, match="different order"):
        Source("a", X, random_state=8).load_state(st)
    with pytest.raises(ValueError, match="has 100 items"):
        Source("a", X[:100], random_state=7).load_state(st)


def test_bad_sources_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        Source("e", np.empty((0, 3)))
    with pytest.raises(ValueError, match="2-D"):
        Source("v", np.arange(5.0))
    with pytest.raises(ValueError, match="ids must be unique"):
        Source("d", np.ones((3, 2)), ids=["a", "a", "b"])
    with pytest.raises(ValueError, match="extras\\['p'\\] has 2 rows"):
        Source("x", np.ones((3, 2)), extras={"p": np.ones(2)})
    with pytest.raises(ValueError, match="does not exist"):
        Source.from_path(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="no source type"):
        Source.from_path(tmp_path / "thing.xyz")
    np.save(tmp_path / "three.npy", np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="expected \\(n_items, n_features\\)"):
        Source.from_path(tmp_path / "three.npy")
    with pytest.raises(ValueError, match="batch size"):
        Source("a", np.ones((3, 2))).draw(0)


def test_unseeded_sources_resume_in_the_saved_order(tmp_path):
    """The README's campaign example builds sources without a seed; resuming it must still work:
    the fresh seed is saved with the state and taken back on resume."""
    from sklearn.linear_model import LogisticRegression

    from w2s_plugin import Campaign
    from w2s_plugin.datasets import make_overlap_mixture

    mix = make_overlap_mixture(200, 200, 200, random_state=0)
    weak = LogisticRegression(max_iter=500).fit(mix.weak_view(), mix.y)
    np.save(tmp_path / "a.npy", mix.X[:300])
    np.save(tmp_path / "b.npy", mix.X[300:])

    def sources():
        return [Source.from_path(tmp_path / "a.npy"), Source.from_path(tmp_path / "b.npy")]

    first = Campaign(sources(), weak_model=weak, batch_size=20, budget=200, state_dir=tmp_path / "run",
                     random_state=0, progress=False)
    first.run(max_rounds=4)
    drawn_before = list(zip(first.items["source"], first.items["position"]))
    resumed = Campaign.resume(tmp_path / "run", sources(), weak_model=weak, progress=False)
    resumed.run()
    drawn = list(zip(resumed.items["source"], resumed.items["position"]))
    assert drawn[: len(drawn_before)] == drawn_before
    assert len(drawn) == 200 and len(set(drawn)) == 200

    # a source seeded differently from the saved one is still refused
    with pytest.raises(ValueError, match="different order"):
        Source(name="a", X=mix.X[:300], random_state=123).load_state(resumed.sources["a"].state())


def test_csv_id_and_label_columns_are_never_features_and_typos_are_errors(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text("id,f1,f2,label\n10,0.1,0.2,1\n11,0.3,0.4,0\n12,0.5,0.1,1\n")
    src = Source.from_path(path, random_state=0)
    assert src.X.shape == (3, 2)                      # the numeric id and label are not features
    assert src.ids == ["10", "11", "12"] and list(src.y) == ["1", "0", "1"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) id_colum \(did you mean 'id_column'"):
        Source.from_path(path, id_colum="id")
    with pytest.raises(ValueError, match="no column 'uid'"):
        Source.from_path(path, id_column="uid")
