"""The people's queue of a hybrid campaign in Label Studio: two Data Manager tabs, the task fields
they filter and sort on, and the audit rule that decides which weak labels are accepted.

Every task the driver imports carries, in its data,

* ``w2s_queue``: ``"people"`` (a person should label it), ``"weak"`` (its weak label is kept) or
  ``"held"`` (its weak label is not accepted and no human budget is left for it: in no tab);
* ``w2s_priority``: how much the task needs a person, in [0, 1] (the engine's routing order:
  hard-only first, then the strong model's uncertainty); the people's tab sorts on it;
* ``w2s_trust``: the backend's acquisition score (today's prediction score); the weak tab sorts on it.

Audit tasks (people label them although they also have a trusted weak label, to measure the weak
labels' precision) are ordinary ``"people"`` tasks: nothing in Label Studio marks them, and their
priority is drawn among the round's others, so annotators cannot tell them apart. Which tasks are
audits is kept in the driver's state only.

A weak-trusted task's label is *accepted* only while the audit's lower 95% Wilson bound on the
weak-label precision of its (region, source) cell is at least ``threshold``; otherwise the task is
moved to the people's tab while the human budget allows (and back once the bound recovers, unless
someone answered it); its weak label then weighs 0 in the training set.
"""

from __future__ import annotations

import json

import numpy as np

from w2s_plugin.bandit import wilson_interval
from w2s_plugin.errors import ConfigError

QUEUE_KEY = "w2s_queue"
PRIORITY_KEY = "w2s_priority"
TRUST_KEY = "w2s_trust"
PEOPLE, WEAK = "people", "weak"
#: A weak task the audit does not accept, with no human budget left to ask a person: in no tab.
HELD = "held"
PEOPLE_TAB = "w2s: for people"
WEAK_TAB = "w2s: weak labels"
#: What the prediction-score column shows: ``trust`` (the acquisition score, highest = the weak label
#: most worth keeping) or ``need`` (needs a person, highest = label it first).
SCORE_MODES = ("trust", "need")
#: Default lower bound a cell's audited weak-label precision must keep (see docs/label_studio.md).
DEFAULT_THRESHOLD = 0.5


def check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ConfigError(f"accept_threshold must be a number in [0, 1]; got {threshold!r}")
    return float(threshold)


def check_score_mode(mode) -> str:
    if mode not in SCORE_MODES:
        raise ConfigError(f"score must be one of {', '.join(SCORE_MODES)}; got {mode!r}")
    return mode


def _filter(field: str, value, kind: str = "String", operator: str = "equal") -> dict:
    return {"filter": f"filter:tasks:{field}", "operator": operator, "type": kind, "value": value}


def tab_specs() -> dict:
    """The two tabs' Data Manager definitions, by title."""
    return {
        PEOPLE_TAB: {
            "title": PEOPLE_TAB,
            "filters": {
                "conjunction": "and",
                "items": [
                    _filter(f"data.{QUEUE_KEY}", PEOPLE),
                    _filter("total_annotations", 0, "Number"),  # what is left to do
                ],
            },
            "ordering": [f"-tasks:data.{PRIORITY_KEY}"],
        },
        WEAK_TAB: {
            "title": WEAK_TAB,
            "filters": {"conjunction": "and", "items": [_filter(f"data.{QUEUE_KEY}", WEAK)]},
            "ordering": [f"-tasks:data.{TRUST_KEY}"],
        },
    }


def ensure_tabs(http, project: int) -> dict:
    """Create the two tabs, or put back their filters and ordering if someone changed them; returns
    ``{title: view id}``. Idempotent: a resumed driver calls it to rebuild the tabs."""
    project = int(project)
    views = http.request("GET", "/api/dm/views/", params={"project": project}) or []
    out = {}
    for title, spec in tab_specs().items():
        mine = [v for v in views if (v.get("data") or {}).get("title") == title]
        if not mine:
            made = http.request("POST", "/api/dm/views/", json={"project": project, "data": spec})
            out[title] = made["id"]
            continue
        view = min(mine, key=lambda v: v["id"])
        data = view.get("data") or {}
        if any(_canon(data.get(k)) != _canon(spec[k]) for k in ("filters", "ordering")):
            http.request(
                "PATCH", f"/api/dm/views/{view['id']}/", json={"project": project, "data": {**data, **spec}}
            )
        out[title] = view["id"]
    return out


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def view_tasks(http, project: int, view: int, page_size: int = 100) -> list:
    """The tasks of a tab, in its order (what the Data Manager shows)."""
    out, page = [], 1
    while True:
        data = http.request(
            "GET",
            "/api/tasks/",
            params={
                "project": int(project),
                "view": int(view),
                "fields": "task_only",
                "page": page,
                "page_size": page_size,
            },
        )
        rows = data.get("tasks", []) if isinstance(data, dict) else (data or [])
        out += rows
        if len(rows) < page_size or len(out) >= (data.get("total") or 0):
            return out
        page += 1


def set_task_fields(http, task: dict, **fields) -> bool:
    """Write ``fields`` into a task's data (one PATCH, only when something changes)."""
    data = dict(task.get("data") or {})
    if all(data.get(k) == v for k, v in fields.items()):
        return False
    data.update(fields)
    http.request("PATCH", f"/api/tasks/{int(task['id'])}/", json={"data": data})
    task["data"] = data
    return True


def wilson_lower(correct: int, n: int) -> float:
    """The lower end of the 95% Wilson interval of ``correct / n`` (0 when nothing is audited)."""
    return wilson_interval(correct, n)[0] if n > 0 else 0.0


def accepted_cells(audit: dict, threshold: float) -> dict:
    """``{(region, source): bool}`` from ``{(region, source): (correct, n)}``: a cell's weak labels are
    accepted while the lower 95% Wilson bound of their audited precision is >= ``threshold``."""
    return {cell: wilson_lower(c, n) >= threshold for cell, (c, n) in audit.items()}


def audit_priorities(routed: np.ndarray, n_audit: int, rng) -> np.ndarray:
    """Priorities for ``n_audit`` audit tasks that look like the round's routed ones: drawn uniformly
    between their lowest and highest priority (anywhere in [0, 1] when nothing else was routed)."""
    routed = np.asarray(routed, dtype=np.float64)
    lo, hi = (float(routed.min()), float(routed.max())) if routed.size else (0.0, 1.0)
    return np.round(rng.uniform(lo, hi, size=n_audit), 6)


def need_scores(order_len: int) -> np.ndarray:
    """Priorities for a round's routed tasks in the engine's order (first = most needed): evenly
    spaced in (0.5, 1], so routed tasks sort above the weak tasks a failed audit moved (<= 0.5)."""
    if order_len == 0:
        return np.zeros(0)
    return np.round(1.0 - 0.5 * np.arange(order_len) / order_len, 6)


def switch_score_column(http, tasks, mode: str, version: str | None = None) -> int:
    """Point the prediction-score column at ``trust`` or ``need`` for ``tasks`` (dicts with their
    predictions): each w2s prediction's score becomes the task's ``w2s_trust`` or ``w2s_priority``.
    Returns the number of predictions changed."""
    check_score_mode(mode)
    key = TRUST_KEY if mode == "trust" else PRIORITY_KEY
    changed = 0
    for t in tasks:
        want = (t.get("data") or {}).get(key)
        if want is None:
            continue
        for p in t.get("predictions") or []:
            if version is not None and p.get("model_version") != version:
                continue
            if not any(isinstance(r, dict) and "w2s" in r for r in p.get("result") or []):
                continue
            if p.get("score") is None or abs(float(p["score"]) - float(want)) > 1e-9:
                http.request("PATCH", f"/api/predictions/{int(p['id'])}/", json={"score": float(want)})
                changed += 1
    return changed


#: The driver's hybrid numbers for the backend's ``/metrics`` (in the backend's project folder).
STATUS_FILE = "hybrid.json"


def audit_cells(hybrid) -> dict:
    """``{(region name, source): (correct, n)}`` from a :class:`~w2s_plugin.hybrid.HybridLabeling`'s
    audit answers (how many audited weak labels people confirmed)."""
    from w2s_plugin.hybrid import REGION_NAMES

    cells: dict = {}
    for r in hybrid.prequential_:
        c = cells.setdefault((REGION_NAMES.get(int(r[2]), str(r[2])), str(r[1])), [0, 0])
        c[0] += int(bool(r[3]))
        c[1] += 1
    return {k: tuple(v) for k, v in cells.items()}


def accepted_mask(hybrid, threshold: float) -> np.ndarray:
    """Per committed item of the engine (``engine.items`` order): is its weak label accepted, i.e. is
    the lower 95% Wilson bound of its (region, source) cell's audited precision >= ``threshold``?"""
    from w2s_plugin.hybrid import REGION_NAMES

    ok = accepted_cells(audit_cells(hybrid), threshold)
    it = hybrid.engine.items
    default = threshold <= 0.0  # a cell nobody audited has bound 0
    return np.fromiter(
        (
            ok.get((REGION_NAMES.get(int(r), str(r)), str(s)), default)
            for s, r in zip(it["source"], it["region"])
        ),
        dtype=bool,
        count=len(it["source"]),
    )


def gate_training_set(hybrid, accepted=None):
    """``hybrid.training_set()`` with weight 0 for the weak labels ``accepted`` (a mask over
    ``engine.items``, e.g. :func:`accepted_mask`) rejects; human and gold rows are kept. The same call
    on a Python ``Campaign``'s ``engine.hybrid`` gives the Label Studio driver's training set."""
    X, y, w = hybrid.training_set()
    if accepted is None:
        return X, y, w
    e = hybrid.engine
    src = np.asarray(e.items["source"], dtype=object)
    parts = [np.flatnonzero(src == name) for name in e.sources]
    order = np.concatenate([p for p in parts if p.size]) if src.size else np.empty(0, dtype=np.int64)
    g = len(w) - order.size  # gold rows come first
    human = hybrid._human_mask()[order]  # the engine's own rule for which answers count
    w = np.asarray(w, dtype=np.float64).copy()
    tail = w[g:]
    tail[~human & ~np.asarray(accepted, dtype=bool)[order]] = 0.0
    w[g:] = tail
    return X, y, w


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def config_keys() -> list:
    """The ``[label_studio]`` keys of a hybrid campaign (docs/configuration.md lists each one)."""
    from w2s_plugin.config import Key

    return [
        Key(
            "label_studio.human_budget",
            (int,),
            "an integer >= 1",
            "Human labels people may give: turns the driver's hybrid mode on (docs/label_studio.md).",
            check=lambda v: not isinstance(v, bool) and v >= 1,
        ),
        Key(
            "label_studio.audit_share",
            (int, float),
            "a number in [0, 1]",
            "Share of each round's human labels drawn at random from the batch (the audit).",
            default=0.15,
            check=lambda v: _num(v) and 0 <= v <= 1,
        ),
        Key(
            "label_studio.human_batch",
            (int,),
            "an integer >= 1",
            "Human labels asked per round (default: the budget spread over the rounds).",
            check=lambda v: not isinstance(v, bool) and v >= 1,
        ),
        Key(
            "label_studio.stop_when",
            (int, float),
            "a number",
            "Stop when the last human labels were worth fewer accuracy points per 100 labels.",
            check=_num,
        ),
        Key(
            "label_studio.accept_threshold",
            (int, float),
            "a number in [0, 1]",
            "Lower 95% Wilson bound of audited weak-label precision a (region, source) must keep.",
            default=DEFAULT_THRESHOLD,
            check=lambda v: _num(v) and 0 <= v <= 1,
        ),
        Key(
            "label_studio.score",
            (str,),
            '"trust" or "need"',
            "What the prediction-score column shows for the driver's tasks.",
            default="trust",
            check=lambda v: v in SCORE_MODES,
        ),
        Key(
            "label_studio.wait",
            (int, float),
            "a number of seconds >= 0",
            "How long a round waits for people's answers (default: as long as it takes).",
            check=lambda v: _num(v) and v >= 0,
        ),
        Key(
            "label_studio.poll",
            (int, float),
            "a number of seconds > 0",
            "Seconds between two looks at Label Studio while waiting.",
            default=2.0,
            check=lambda v: _num(v) and v > 0,
        ),
        Key(
            "label_studio.retrain_weak",
            (bool,),
            "true or false",
            "Retrain the weak model on the annotations every round (false: keep the audited labeler fixed).",
            default=True,
        ),
    ]
