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
    np.savez(
        tmp_path / "p.npz",
        X=X,
        y=np.arange(30) % 2,
        ids=np.array([f"doc-{i}" for i in range(30)]),
        proba=rng.uniform(size=(30, 2)),
        regions=np.arange(30) % 3,
        scalar=np.array(1.0),
    )
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
    s2 = Source.from_records(
        "r", (r for r in recs), features=["x"], id_key="id", label_key="y", random_state=3
    )
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


def test_unseeded_sources_resume_in_the_saved_order(tmp_path, weak_mixture):
    """The README's campaign example builds sources without a seed; resuming it must still work:
    the fresh seed is saved with the state and taken back on resume."""
    from w2s_plugin import Campaign

    mix, _, weak = weak_mixture(200, None, max_iter=500)
    np.save(tmp_path / "a.npy", mix.X[:300])
    np.save(tmp_path / "b.npy", mix.X[300:])

    def sources():
        return [Source.from_path(tmp_path / "a.npy"), Source.from_path(tmp_path / "b.npy")]

    first = Campaign(
        sources(),
        weak_model=weak,
        batch_size=20,
        budget=200,
        state_dir=tmp_path / "run",
        random_state=0,
        progress=False,
    )
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
    assert src.X.shape == (3, 2)  # the numeric id and label are not features
    assert src.ids == ["10", "11", "12"] and list(src.y) == ["1", "0", "1"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) id_colum \(did you mean 'id_column'"):
        Source.from_path(path, id_colum="id")
    with pytest.raises(ValueError, match="no column 'uid'"):
        Source.from_path(path, id_column="uid")


# -- several views of an item ------------------------------------------------------------------

from w2s_plugin import Campaign  # noqa: E402
from w2s_plugin.campaign import load_state  # noqa: E402
from w2s_plugin.errors import DataError  # noqa: E402
from w2s_plugin.simulation import make_sources  # noqa: E402


def _two_view_sources(syn, tmp_path):
    """The same items, stored apart: a weak feature table in memory and the strong representation
    as .npy files of 'stored embeddings', attached by path."""
    easy = syn.weak_model.columns
    out = []
    for s in syn.sources:
        path = tmp_path / f"{s.name}_emb.npy"
        np.save(path, np.asarray(s.X))
        out.append(
            Source(
                s.name,
                views={"weak": np.asarray(s.X)[:, easy], "strong": str(path)},
                y=s.y,
                extras=s.extras,
                random_state=s.random_state,
            )
        )
    return out


def _rounds(c):
    return [(r["source"], r["n"], r["n_overlap"], round(r["density"], 12)) for r in c.results().rounds]


def test_batch_view_hands_each_model_its_own_view(tmp_path):
    weak = np.arange(20.0).reshape(10, 2)
    strong = -np.arange(30.0).reshape(10, 3)
    np.save(tmp_path / "emb.npy", strong)
    src = Source("a", views={"weak": weak, "strong": str(tmp_path / "emb.npy")}, random_state=0)
    assert isinstance(src.views["strong"], np.memmap)  # stored embeddings stay on disk
    b = src.draw(4)
    assert np.array_equal(b.view("weak"), weak[b.positions])
    assert np.array_equal(b.view("strong"), strong[b.positions])
    # named column groups of one matrix give the same batches
    cols = Source(
        "a", np.hstack([weak, strong]), views={"weak": [0, 1], "strong": slice(2, 5)}, random_state=0
    )
    b2 = cols.draw(4)
    assert np.array_equal(b2.positions, b.positions)
    assert np.array_equal(b2.view("weak"), b.view("weak"))
    assert np.array_equal(b2.view("strong"), b.view("strong"))
    # without views both roles read X, as before
    plain = Source("p", weak, random_state=0).draw(3)
    assert plain.view("weak") is plain.X and plain.view("strong") is plain.X


def test_csv_column_groups_and_npz_two_view_archive(tmp_path):
    rows = [
        {"id": f"i{k}", "label": k % 2, "w1": k, "w2": 2 * k, "e1": -k, "e2": k / 2, "e3": 1}
        for k in range(12)
    ]
    with open(tmp_path / "t.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    src = Source.from_path(
        tmp_path / "t.csv", views={"weak": ["w1", "w2"], "strong": ["e1", "e2", "e3"]}, random_state=0
    )
    b = src.draw(5)
    k = np.array([int(i[1:]) for i in b.ids])
    assert np.array_equal(b.view("weak"), np.c_[k, 2 * k]) and np.array_equal(b.view("strong")[:, 0], -k)
    assert b.X.shape == (5, 5)  # X itself is unchanged: every numeric column but id and label
    np.savez(tmp_path / "two.npz", weak=np.ones((6, 2)), strong=np.zeros((6, 4)), y=np.arange(6) % 2)
    z = Source.from_path(tmp_path / "two.npz", random_state=0)
    assert z.X is None and z.view_names == ["strong", "weak"]
    assert z.draw(3).view("strong").shape == (3, 4)


def test_view_mistakes_are_one_line_errors(tmp_path):
    X = np.zeros((10, 3))
    with pytest.raises(DataError, match=r"view 'strong' has 9 rows for 10 items"):
        Source("a", X, views={"strong": np.zeros((9, 2))})
    with pytest.raises(DataError, match=r"'missing.npy' is not an existing file"):
        Source("a", X, views={"strong": "missing.npy"})
    with pytest.raises(DataError, match=r"column index out of range for X with 3 columns"):
        Source("a", X, views={"weak": [0, 7]})
    with pytest.raises(DataError, match=r"give a view for each of 'weak' and 'strong' \(missing: strong\)"):
        Source("a", views={"weak": X})
    with pytest.raises(DataError, match=r"has no view 'wek'"):
        Source("a", X).draw(2).view("wek")


def test_campaign_on_a_weak_table_and_stored_embeddings_equals_concatenate_and_slice(tmp_path):
    """The user with a weak feature table and stored embeddings gets exactly the campaign they got by
    concatenating the two and slicing the weak columns out in the weak model."""
    kw = dict(batch_size=40, budget=600, progress=False, random_state=3)
    syn = make_sources([0.05, 0.15, 0.5], 400, random_state=7)
    sliced = Campaign(syn.sources, syn.weak_model, **kw).run()

    syn = make_sources([0.05, 0.15, 0.5], 400, random_state=7)
    inner = syn.weak_model.estimator  # reads the weak table directly: no slicing anywhere
    views = _two_view_sources(syn, tmp_path)
    c = Campaign(views, inner, **kw)
    res = c.run()
    assert len(res.rounds) == 15
    assert _rounds(c) == [
        (r["source"], r["n"], r["n_overlap"], round(r["density"], 12)) for r in sliced.rounds
    ]
    assert res.items["id"] == sliced.items["id"] and res.items["region"] == sliced.items["region"]
    assert sum(r["n_overlap"] for r in res.rounds) > 100  # a real campaign: the dense source was found
    # the strong model trains on the strong view, as it did on the concatenated features
    Xv, yv, _ = c.training_data("overlap")
    assert Xv.shape[1] == syn.sources[0].X.shape[1] and len(yv) == Xv.shape[0] > 100

    # state and resume do not care about views: stop after 5 rounds, resume, same log as one run
    syn = make_sources([0.05, 0.15, 0.5], 400, random_state=7)
    part = Campaign(_two_view_sources(syn, tmp_path), inner, state_dir=tmp_path / "st", **kw)
    part.run(max_rounds=5)
    syn = make_sources([0.05, 0.15, 0.5], 400, random_state=7)
    kw.pop("random_state")
    resumed = Campaign.resume(tmp_path / "st", _two_view_sources(syn, tmp_path), inner, **kw)
    resumed.run()
    assert _rounds(resumed) == _rounds(c)
    assert len(load_state(tmp_path / "st")["rounds"]) == 15


def test_config_file_names_a_file_per_view(tmp_path):
    """In a config file: a weak CSV table per source with its stored embeddings beside it
    (`views = { strong = "..." }`) runs the campaign the concatenated .npz + column-slicing config runs."""
    from w2s_plugin.config import load_config

    syn = make_sources([0.05, 0.5], 300, random_state=11)
    easy = np.arange(syn.sources[0].X.shape[1])[syn.weak_model.columns]
    train = syn.mixture.sample(300, 300, 300, random_state=5)
    np.savez(tmp_path / "train_full.npz", X=train.X, y=train.y)
    np.savez(tmp_path / "train_weak.npz", X=train.X[:, easy], y=train.y)
    for s in syn.sources:
        X = np.asarray(s.X)
        np.savez(tmp_path / f"{s.name}_full.npz", X=X, y=s.y)
        with open(tmp_path / f"{s.name}_weak.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "label"] + [f"w{j}" for j in easy])
            w.writerows([[i, int(s.y[i])] + X[i, easy].tolist() for i in range(len(s))])
        (tmp_path / "emb").mkdir(exist_ok=True)
        np.save(tmp_path / "emb" / f"{s.name}.npy", X)
    head = """seed = 4
[campaign]
batch_size = 30
budget = 300
progress = false
[weak_model]
type = "sklearn"
estimator = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 2000 }
"""
    concat = head + f'train = "train_full.npz"\ncolumns = {{ start = 0, stop = {easy.size} }}\n'
    views = head + 'train = "train_weak.npz"\n'
    for s in syn.sources:
        concat += f'[[sources]]\nname = "{s.name}"\npath = "{s.name}_full.npz"\n'
        views += (
            f'[[sources]]\nname = "{s.name}"\npath = "{s.name}_weak.csv"\n'
            f'views = {{ strong = "emb/{s.name}.npy" }}\n'
        )
    assert np.array_equal(easy, np.arange(easy.size))  # the concatenated layout: weak columns first
    (tmp_path / "concat.toml").write_text(concat)
    (tmp_path / "views.toml").write_text(views)
    a = load_config(tmp_path / "concat.toml").build_campaign().run()
    cfg = load_config(tmp_path / "views.toml", build=True)
    assert cfg.data["sources"][0]["views"]["strong"] == str(tmp_path / "emb" / "s0.npy")  # resolved
    c = cfg.build_campaign()
    assert isinstance(c.sources["s1"].views["strong"], np.memmap)
    b = c.run()
    key = [(r["source"], r["n"], r["n_overlap"]) for r in b.rounds]
    assert key == [(r["source"], r["n"], r["n_overlap"]) for r in a.rounds] and len(key) == 10
    assert b.items["position"] == a.items["position"]

    bad = tmp_path / "bad.toml"
    bad.write_text(views.replace("emb/s1.npy", "emb/s9.npy"))
    with pytest.raises(ValueError, match=r"sources\[1\]\.views\.strong: expected an existing file"):
        load_config(bad)


@pytest.mark.parametrize("name", ["pool.npy", "pool.npz"])
def test_a_text_file_named_like_a_numpy_file_is_a_data_error(tmp_path, name):
    (tmp_path / name).write_text("a,b\n1,2\n")
    with pytest.raises(
        DataError,
        match=r"^source 'pool': file '.*pool\.np[yz]' is not a NumPy \.np[yz] "
        r"(array|archive) \(it lacks the \.np[yz] header\)",
    ):
        Source.from_path(tmp_path / name)
    np.save(tmp_path / "ok.npy", np.zeros((4, 2)))
    (tmp_path / "labels.npy").write_text("0\n1\n")
    with pytest.raises(DataError, match=r"labels file .*labels\.npy' is not a NumPy \.npy array"):
        Source.from_path(tmp_path / "ok.npy", labels=str(tmp_path / "labels.npy"))


# -- a loader written exactly to the hookspec ----------------------------------------------------


def test_a_loader_without_shuffle_or_random_state_loads_from_path_and_config(tmp_path, restore_plugins):
    """``loader(location, name)`` (the hookspec's minimum) works from Source.from_path and from a config
    file: shuffle and random_state go only to loaders that take them; a typo still gets its hint."""
    from w2s_plugin import hookimpl, plugins
    from w2s_plugin.config import loads_config
    from w2s_plugin.params import UnknownParameterError

    def load_bare(location, name):
        return Source(name, np.loadtxt(location, delimiter=","), shuffle=False)

    class Bare:
        @hookimpl
        def register_sources(self, register):
            register("test_bare", load_bare, extensions=(".bare",))

    plugins.register(Bare(), name="test-bare")
    path = tmp_path / "pool.bare"
    np.savetxt(path, np.arange(12.0).reshape(6, 2), delimiter=",")
    src = Source.from_path(path, shuffle=True, random_state=3)
    assert src.name == "pool" and src.X.shape == (6, 2)
    assert list(src.candidates(6)) == list(range(6))  # the loader's own order: the keywords were not passed
    cfg = loads_config(f'seed = 4\n[[sources]]\npath = "{path}"\nname = "b"\n', build=False)
    (built,) = cfg.build_sources()
    assert built.name == "b" and len(built) == 6
    with pytest.raises(UnknownParameterError, match=r"source .*pool.bare' got unknown parameter\(s\) nam;"):
        Source.from_path(path, nam="x")
