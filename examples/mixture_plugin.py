"""A local plugin for examples/campaign.toml: synthetic sources and a weak model from the paper's
mixture, so the example runs with no data files. Loaded by the config's ``plugins`` key.

It adds a source type ``mixture`` (a pool with chosen numbers of easy-only, hard-only and overlap
points, true regions attached so the campaign can report regret) and a model type ``mixture_weak``
(a logistic regression that sees only the easy features, trained on a fresh draw).
"""

from sklearn.linear_model import LogisticRegression

from w2s_plugin import ColumnView, Source, hookimpl
from w2s_plugin.datasets import make_overlap_mixture

FAMILY_SEED = 1234  # every source and the weak model share the mixture's class centres


def _family():
    return make_overlap_mixture(1, 1, 1, random_state=FAMILY_SEED)


def mixture_source(
    location, name, n_easy=300, n_hard=300, n_overlap=300, seed=0, shuffle=True, random_state=None
):
    """A pool drawn from the mixture (``location`` is unused: the data is generated).

    Name every parameter (no ``**kwargs``): then a typo in a config file's ``params`` is an error
    instead of a silently ignored key.
    """
    m = _family().sample(n_easy, n_hard, n_overlap, random_state=seed)
    return Source(name, m.X, y=m.y, extras={"regions": m.regions}, shuffle=shuffle, random_state=random_state)


def mixture_weak(n_train=2000, seed=0):
    """The weak model: logistic regression on the easy block only."""
    fam = _family()
    tr = fam.sample(n_train // 3, n_train // 3, n_train - 2 * (n_train // 3), random_state=seed)
    model = ColumnView(fam.easy_dims, LogisticRegression(max_iter=1000))
    return model.fit(tr.X, tr.y)


@hookimpl
def register_sources(register):
    register("mixture", mixture_source)


@hookimpl
def register_models(register):
    register("mixture_weak", mixture_weak)
