"""``OverlapDensityBackend``: weak labels as Label Studio pre-annotations, scored by overlap density.

For every task, the prediction is the weak model's choice; its ``score`` is the acquisition score,
so sorting the data manager by prediction score puts overlap-rich tasks first. Detection
(``OverlapDetector``) is fitted on a per-project *pool*: a seeded uniform reservoir of the texts the
backend has seen, refitted when the weak model changes or the pool grows by a quarter. Thresholds
are therefore the same for every request in between, and scores of different requests compare.

The weak model starts as a keyword voter (cold start: ``extra_params["keywords"]`` or the choice
names; texts without a keyword are uniform, i.e. hard-only) and becomes a logistic regression once
annotations of two different choices exist. Every state change is written atomically under
``model_dir/<project id>/`` so a restart, or another worker process, continues from it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import pickle
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from w2s_plugin import plugins
from w2s_plugin.campaign import atomic_write_bytes
from w2s_plugin.detector import OverlapDetector, OverlapReport, Region, W2SWarning
from w2s_plugin.errors import W2SError

from .errors import BadRequest, NotFound
from .labeling import TextClassification, parse_label_config
from .text import KeywordVoter, TextWeakClassifier

logger = logging.getLogger(__name__)

#: Webhook actions that change what the weak model learns from. Label Studio 1.23 sends START_TRAINING
#: for "Start training" (and PROJECT_UPDATED when a settings save goes with it), the ANNOTATION(S)_*
#: actions for annotations, and TASKS_DELETED when tasks (with their annotations) are deleted; its
#: ML webhook is made with ``send_for_all_actions``, so every other action arrives too and is a logged 200.
TRAIN_EVENTS = (
    "ANNOTATION_CREATED",
    "ANNOTATIONS_CREATED",
    "ANNOTATION_UPDATED",
    "ANNOTATION_DELETED",
    "ANNOTATIONS_DELETED",
    "TASKS_DELETED",
    "START_TRAINING",
    "PROJECT_UPDATED",
)
#: The actions that read every annotation back from Label Studio (a pull adds and updates; it never deletes).
PULL_EVENTS = ("START_TRAINING", "PROJECT_UPDATED")
#: Project ids are Label Studio's integer primary keys: ASCII digits, at most this many.
MAX_ID_DIGITS = 18
STATE_FILE = "state.json"
REGION_NAMES = {int(r): r.name.lower() for r in Region}
#: The ``model_version`` predictions carry while Label Studio has not told the backend the project's own
#: (it is stable across retrains: Label Studio's prediction-score column averages only the predictions
#: whose version equals the project's, so a version that moved with every retrain would empty it).
DEFAULT_LABEL = "w2s-overlap"
NO_EVIDENCE = "no_evidence"


def project_key(project) -> str:
    """Label Studio sends ``"<id>.<created timestamp>"`` to /setup and /predict and ``{"id": ...}`` in
    webhooks; both name the project by its id."""
    if isinstance(project, dict):
        project = project.get("id")
    if isinstance(project, bool) or project is None:
        raise BadRequest(
            "request has no 'project': send the Label Studio project id (e.g. \"12.1700000000\")"
        )
    if not isinstance(project, (str, int)):
        raise BadRequest(
            f'\'project\' must be a Label Studio project id like "12" or "12.1700000000"; '
            f"got a {type(project).__name__}"
        )
    key = str(project).split(".", 1)[0].strip()
    if not (key.isascii() and key.isdigit() and len(key) <= MAX_ID_DIGITS):
        shown = (
            repr(project)
            if len(str(project)) <= 40
            else f"{str(project)[:20]!r}... ({len(str(project))} chars)"
        )
        raise BadRequest(
            f'\'project\' must be a Label Studio project id like "12" or "12.1700000000" (ASCII digits, '
            f"at most {MAX_ID_DIGITS}); got {shown}"
        )
    return str(int(key))  # "007" and "7" are one project


def _object_id(value, what: str) -> str:
    """A task or annotation id from a webhook as a string key: an integer or a string of ASCII digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequest(f"{what} must be an integer id; got a {type(value).__name__}")
    key = str(value).strip()
    if not (key.isascii() and key.isdigit() and len(key) <= MAX_ID_DIGITS):
        shown = repr(value) if len(key) <= 40 else f"{key[:20]!r}... ({len(key)} chars)"
        raise BadRequest(f"{what} must be an integer id (at most {MAX_ID_DIGITS} digits); got {shown}")
    return str(int(key))


def normalize_host(hostname) -> str | None:
    """The Label Studio base URL from /setup or the environment, without a trailing slash (``None``: none)."""
    if hostname is None or (isinstance(hostname, str) and not hostname.strip()):
        return None
    if not isinstance(hostname, str) or len(hostname) > 2048:
        raise BadRequest(
            "'hostname' must be the Label Studio URL as a string, e.g. \"http://localhost:8080\""
        )
    host = hostname.strip().rstrip("/")
    if not host.lower().startswith(("http://", "https://")) or any(c.isspace() for c in host):
        raise BadRequest(
            f"'hostname' must be an http(s) URL like \"http://localhost:8080\"; got {host[:80]!r}"
        )
    return host


def env_credentials() -> tuple[str | None, str | None]:
    """``(url, api key)`` from the environment, as the official ML backend reads them:
    ``LABEL_STUDIO_URL`` (or ``LABEL_STUDIO_HOST``) and ``LABEL_STUDIO_API_KEY`` (or
    ``LABEL_STUDIO_ACCESS_TOKEN``). A restarted backend trains with them before Label Studio calls
    /setup again."""
    env = os.environ
    url = env.get("LABEL_STUDIO_URL") or env.get("LABEL_STUDIO_HOST") or None
    key = env.get("LABEL_STUDIO_API_KEY") or env.get("LABEL_STUDIO_ACCESS_TOKEN") or None
    try:
        url = normalize_host(url)
    except BadRequest:
        logger.warning("LABEL_STUDIO_URL / LABEL_STUDIO_HOST is not an http(s) URL; it is ignored")
        url = None
    return url, key


def parse_extra_params(extra_params) -> dict | None:
    """``extra_params`` as Label Studio may send it: a JSON object, ``null``, or the same object as a
    JSON *string* (``ml.create(..., extra_params=json.dumps({...}))``, the connection form's
    textarea). An empty string means none."""
    if isinstance(extra_params, str):
        if not extra_params.strip():
            return None
        try:
            extra_params = json.loads(extra_params)
        except (ValueError, RecursionError) as exc:  # bad syntax, a 5000-digit number, deep nesting
            exc = " ".join(str(exc).split())[:120] if isinstance(exc, ValueError) else "nested too deep"
            raise BadRequest(
                f"extra_params is a string that is not valid JSON ({exc}); send a JSON object such "
                'as {"keywords": {"Positive": ["great"]}}'
            ) from None
        if not isinstance(extra_params, dict):
            raise BadRequest(
                f"extra_params is a JSON string holding a {type(extra_params).__name__}, not an object; "
                'send a JSON object such as {"keywords": {"Positive": ["great"]}}'
            )
        return extra_params
    if extra_params is not None and not isinstance(extra_params, dict):
        raise BadRequest(
            f"extra_params must be a JSON object (or a string holding one) or null; "
            f"got {type(extra_params).__name__}"
        )
    return extra_params


class _Project:
    """Everything the backend keeps for one project (in memory; mirrored on disk)."""

    def __init__(self, key: str):
        self.key = key
        self.label_config: str | None = None
        self.schema: TextClassification | None = None
        self.extra_params: dict = {}
        self.version = 0
        self.examples: dict[str, dict] = {}  # task id -> {"text", "label", "annotation"}
        self.pool_keys: list[str] = []
        self.pool_texts: list[str] = []
        self.n_seen = 0
        self.weak = None
        self.weak_file: str | None = None
        self.detector = None
        self.detector_for: tuple | None = None  # (version, pool size) the detector was fitted on
        self.mtime_ns = 0
        self.lock = threading.RLock()
        self.hostname: str | None = None  # from /setup, kept in memory only (never on disk)
        self.access_token: str | None = None
        self.label: str | None = None  # the project's model_version in Label Studio
        self.label_checked = 0.0
        self.trained_on: str | None = None  # fingerprint of the annotations the weak model saw
        self.cv: dict | None = None  # its cross-validated accuracy on them
        self.stats = {
            "predictions": 0,
            "regions": {n: 0 for n in REGION_NAMES.values()},
            NO_EVIDENCE: 0,
            "served": {},
            "trainings": 0,
            "last_density": None,
        }


@dataclasses.dataclass
class ScoredTasks:
    """What the backend makes of a batch of tasks, as numbers (JSON only at the HTTP edge).

    ``report`` covers every task: one without evidence (``ok`` False) is hard-only with confidence
    0 and uniform ``proba``; ``detected`` is False where no detector placed the task (the first
    text a project ever sees: hard-only, confidence = the weak model's)."""

    proba: np.ndarray
    report: OverlapReport
    scores: np.ndarray
    ok: np.ndarray
    detected: np.ndarray
    version: str
    strategy: str
    model: str = ""
    #: tasks the cold-start keyword voter has no evidence for (no keyword of any choice), and whether
    #: the weak model is still that voter: their predictions say there is no model yet
    no_model: np.ndarray | None = None
    cold: bool = False

    @classmethod
    def empty(cls, n: int, k: int, version: str, strategy: str) -> ScoredTasks:
        nan = float("nan")
        report = OverlapReport(
            np.full(n, int(Region.HARD_ONLY), dtype=np.int8), np.zeros(n), np.full(n, nan), nan, nan
        )
        no = np.zeros(n, dtype=bool)
        return cls(
            np.full((n, max(k, 1)), 1.0 / max(k, 1)), report, np.zeros(n), no, no.copy(), version, strategy
        )

    def fill(self, ok: np.ndarray, P: np.ndarray, report, scores: np.ndarray) -> None:
        """The scoreable tasks' numbers (``report`` None: no detector yet)."""
        self.proba[ok] = P
        self.scores[ok] = scores
        if report is None:
            self.report.confidence[ok] = P.max(axis=1)
            return
        self.detected[ok] = True
        self.report.regions[ok] = report.regions
        self.report.confidence[ok] = report.confidence
        self.report.overlap_score[ok] = report.overlap_score
        self.report.hard_threshold = float(report.hard_threshold)
        self.report.overlap_threshold = float(report.overlap_threshold)
        self.report.scorer = report.scorer
        self.report.__post_init__()


class OverlapDensityBackend:
    """The model behind the ML backend protocol (``app.create_app`` serves it over HTTP).

    Parameters
    ----------
    model_dir : path or None
        Per-project state is written here (``MODEL_DIR`` in the app); ``None`` keeps it in memory.
    embedder : object the ``w2s_embed`` hook understands: the *strong* representation of a text.
        Default: the sentence-embedding model of the ``embed`` extra when it is installed
        (:func:`.embedding.default_embedder`), else :class:`HashingTextEmbedder`. Embeddings are
        cached by text (``cache_size`` texts), so re-scoring seen tasks does not embed them again.
    strategy : str
        Registered acquisition strategy for the prediction score (default ``"overlap"``).
    detector_params : dict, optional
        :class:`~w2s_plugin.OverlapDetector` parameters.
    keywords : dict, optional
        ``{choice: [words or phrases]}`` for the cold-start voter (a project's ``extra_params``
        ``{"keywords": ...}`` overrides it).
    pool_size : int
        Texts kept per project to fit detection on (a seeded uniform reservoir).
    C : float
        Inverse L2 strength of the weak logistic regression.
    random_state : int
    max_text_chars : int
        Longest text *kept* in the state (pool and annotations), in characters: a longer one is
        scored on its full text but stored as its first ``max_text_chars``, so ``state.json``, which
        is rewritten when the pool changes, stays bounded (``pool_size`` x this at most for the pool).
    """

    def __init__(
        self,
        model_dir=None,
        embedder=None,
        strategy: str = "overlap",
        detector_params: dict | None = None,
        keywords: dict | None = None,
        pool_size: int = 2000,
        C: float = 1.0,
        random_state: int = 0,
        cache_size: int = 100_000,
        max_text_chars: int = 20_000,
    ):
        self.model_dir = None if model_dir is None else Path(model_dir)
        if embedder is None:
            from .embedding import default_embedder

            embedder = default_embedder()
        self.embedder = embedder
        self.cache_size = int(cache_size)
        self._cache: collections.OrderedDict = collections.OrderedDict()  # text -> embedding row
        self._cache_lock = threading.Lock()
        self.strategy = strategy
        self.detector_params = dict(detector_params or {})
        from w2s_plugin.config import check_fixed_thresholds

        check_fixed_thresholds(
            self.detector_params,
            lambda key, expected, value: W2SError(f"detector {key}: expected {expected}; got {value!r}"),
        )
        self.keywords = keywords
        if not isinstance(pool_size, int) or pool_size < 2:
            raise W2SError(f"pool_size must be an integer >= 2; got {pool_size!r}")
        self.pool_size = pool_size
        if not isinstance(max_text_chars, int) or isinstance(max_text_chars, bool) or max_text_chars < 1:
            raise W2SError(f"max_text_chars must be a positive integer; got {max_text_chars!r}")
        self.max_text_chars = max_text_chars
        self.C = C
        self.random_state = random_state
        plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")  # fail early on a typo
        self._projects: dict[str, _Project] = {}
        self._lock = threading.Lock()
        self.started = time.time()
        self.counters = {"setup": 0, "predict": 0, "webhook": 0, "tasks_predicted": 0, "errors": 0}
        if self.model_dir is not None:
            self.model_dir.mkdir(parents=True, exist_ok=True)

    def warm_up(self) -> OverlapDensityBackend:
        """Import and exercise the heavy modules (the SDK's config parser, scikit-learn) once, so the
        first /setup answers within Label Studio's 3 s setup timeout (``ML_TIMEOUT_SETUP``)."""
        from sklearn.linear_model import LogisticRegression  # noqa: F401

        from .synthetic import LABEL_CONFIG

        schema = parse_label_config(LABEL_CONFIG)
        KeywordVoter(schema.choices).predict_proba(["warm up"])
        self._embed(["warm up"])
        return self

    # -- project state -------------------------------------------------------------------------
    def _dir(self, key: str) -> Path | None:
        return None if self.model_dir is None else self.model_dir / key

    @contextlib.contextmanager
    def _hold(self, project, label_config=None):
        """The project's state, locked for this thread and (with a model_dir) for other processes
        sharing the directory (gunicorn workers, the campaign driver), reloaded if another wrote it.

        Nothing is created for a request that is rejected: an unknown project without a labeling
        config, or a config that does not parse, leaves no ``model_dir/<id>`` folder behind."""
        key = project_key(project)
        with self._lock:
            p = self._projects.get(key)
            if p is None:
                p = self._projects[key] = _Project(key)
        with p.lock:
            d = self._dir(key)
            if label_config is not None and label_config != p.label_config:
                parse_label_config(label_config)  # a bad config is a 4xx before anything is written
            if p.schema is None and label_config is None and (d is None or not (d / STATE_FILE).exists()):
                raise NotFound(
                    f"unknown project {key}: the backend has no state for it; Label Studio calls "
                    "/setup when the backend is connected, or send 'label_config' with the request"
                )
            fh = None
            if d is not None:
                d.mkdir(parents=True, exist_ok=True)
                fh = open(d / ".lock", "a+b")
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._reload_if_changed(p)
                if label_config is not None and label_config != p.label_config:
                    self._set_label_config(p, label_config)
                yield p
            finally:
                if fh is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)
                    fh.close()

    def _reload_if_changed(self, p: _Project) -> None:
        d = self._dir(p.key)
        if d is None or not (d / STATE_FILE).exists():
            return
        mtime = (d / STATE_FILE).stat().st_mtime_ns
        if mtime == p.mtime_ns:
            return
        state = json.loads((d / STATE_FILE).read_text())
        p.label_config = state["label_config"]
        p.schema = parse_label_config(p.label_config)
        p.extra_params = state.get("extra_params") or {}
        p.version = int(state["version"])
        p.examples = state["examples"]
        p.pool_keys = state["pool_keys"]
        p.pool_texts = state["pool_texts"]
        p.n_seen = int(state["n_seen"])
        p.weak_file = state.get("weak_file")
        p.label = state.get("label")
        p.trained_on = state.get("trained_on")
        p.cv = state.get("cv")
        p.weak = None
        if p.weak_file and (d / p.weak_file).exists():
            try:
                with open(d / p.weak_file, "rb") as fh:
                    p.weak = pickle.load(fh)
            except Exception as exc:  # e.g. written by another scikit-learn: refit on the saved annotations
                logger.warning(
                    "project %s: cannot load %s (%s: %s); refitting the weak model on the %d saved "
                    "annotations",
                    p.key,
                    p.weak_file,
                    type(exc).__name__,
                    exc,
                    len(p.examples),
                )
        p.detector, p.detector_for = None, None
        p.mtime_ns = mtime
        repaired = False
        if p.weak is None:
            p.weak_file = None
            if len({v["label"] for v in p.examples.values()}) >= 2:
                self._fit_weak(p)
                repaired = True
            else:
                p.weak = self._cold_start(p)
        if "trained_on" not in state and isinstance(p.weak, TextWeakClassifier):
            p.trained_on = _fingerprint(p.examples)  # a 0.1.0 state: its model was fitted on these
        if state.get("format", 1) < 2:  # 0.1.0 let texts without a representation into the pool; later
            repaired |= self._clean_pool(p)  # states never hold one (and a reload embeds nothing up front)
        if repaired:
            self._save(p, weak_changed=True)

    def _clean_pool(self, p: _Project) -> bool:
        """Drop pool texts the representation cannot place (no word tokens for hashed counts: a zero
        vector), as a 0.1.0 backend saved them; True if any were dropped."""
        if not p.pool_texts:
            return False
        ok = _scoreable(self._embed(p.pool_texts))
        if ok.all():
            return False
        logger.warning(
            "project %s: dropping %d pool text(s) with no usable representation (saved by an older version)",
            p.key,
            int((~ok).sum()),
        )
        p.pool_keys = [k for k, good in zip(p.pool_keys, ok) if good]
        p.pool_texts = [t for t, good in zip(p.pool_texts, ok) if good]
        return True

    def _save(self, p: _Project, weak_changed: bool = False) -> None:
        d = self._dir(p.key)
        if d is None:
            return
        d.mkdir(parents=True, exist_ok=True)
        if weak_changed:
            if isinstance(p.weak, TextWeakClassifier):
                p.weak_file = f"weak-v{p.version:06d}.pkl"
                atomic_write_bytes(d / p.weak_file, pickle.dumps(p.weak))
            else:
                p.weak_file = None
        state = {
            "format": 2,
            "project": p.key,
            "label_config": p.label_config,
            "extra_params": p.extra_params,
            "version": p.version,
            "examples": p.examples,
            "pool_keys": p.pool_keys,
            "pool_texts": p.pool_texts,
            "n_seen": p.n_seen,
            "weak_file": p.weak_file,
            "label": p.label,
            "trained_on": p.trained_on,
            "cv": p.cv,
            "schema": p.schema.to_dict() if p.schema else None,
        }
        atomic_write_bytes(d / STATE_FILE, json.dumps(state).encode())
        p.mtime_ns = (d / STATE_FILE).stat().st_mtime_ns
        for old in d.glob("weak-v*.pkl"):  # only once the new state points elsewhere
            if old.name != p.weak_file:
                old.unlink(missing_ok=True)

    def _cold_start(self, p: _Project, extra_params: dict | None = None):
        return self._voter(p.schema, p.extra_params if extra_params is None else extra_params)

    def _voter(self, schema: TextClassification, extra_params: dict) -> KeywordVoter:
        keywords = (extra_params or {}).get("keywords") or self.keywords or {}
        if not isinstance(keywords, dict):
            raise BadRequest("extra_params 'keywords' must be an object {choice: [words]}")
        by_lower = {c.lower(): c for c in schema.choices}
        named, unknown = {}, []
        for k, words in keywords.items():  # "positive" names the choice "Positive"
            c = k if k in schema.choices else by_lower.get(str(k).lower())
            if c is None:
                unknown.append(k)
            elif not isinstance(words, (list, type(None))) or not all(
                isinstance(w, str) for w in words or []
            ):
                shown = repr(words) if len(repr(words)) <= 60 else f"a {type(words).__name__}"
                raise BadRequest(f"keywords for {k!r} must be a list of words or phrases; got {shown}")
            else:
                named[c] = list(named.get(c, [])) + list(words)
        if unknown:
            raise BadRequest(
                f"keywords name choices {sorted(unknown)} that the labeling config does not have "
                f"(choices: {list(schema.choices)})"
            )
        return KeywordVoter(schema.choices, named)

    def cold_start_keywords(self, project) -> dict | None:
        """The keywords the cold-start voter uses, or ``None`` when the weak model is no longer the
        voter (annotations arrived). Choices without given keywords fall back to their own names
        (``KeywordVoter.fallback_``)."""
        with self._hold(project) as p:
            return dict(p.weak.keywords) if isinstance(p.weak, KeywordVoter) else None

    def uses_fallback_keywords(self, project) -> bool:
        """True when the weak model is the cold-start voter and no choice has keywords of its own:
        unless the texts contain the choice names, every text looks hard-only until annotations arrive."""
        with self._hold(project) as p:
            return isinstance(p.weak, KeywordVoter) and set(
                getattr(p.weak, "fallback_", p.schema.choices)
            ) == set(p.schema.choices)

    def _set_label_config(self, p: _Project, label_config: str) -> None:
        schema = parse_label_config(label_config)
        changed = p.schema is not None and p.schema.choices != schema.choices
        p.label_config, p.schema = label_config, schema
        if p.weak is None or changed:
            # choices changed: annotations of vanished choices no longer count
            p.examples = {k: v for k, v in p.examples.items() if v["label"] in schema.choices}
            self._retrain(p)
        self._save(p, weak_changed=True)

    def model_version(self, p: _Project) -> str:
        """What predictions carry: the project's model version in Label Studio, stable across retrains
        (``DEFAULT_LABEL`` until Label Studio tells another); :meth:`internal_version` names the model."""
        return p.label or DEFAULT_LABEL

    def internal_version(self, p: _Project) -> str:
        kind = (
            "cold" if isinstance(p.weak, KeywordVoter) else f"n{getattr(p.weak, 'n_train_', len(p.examples))}"
        )
        return f"w2s-overlap-{p.version}-{kind}"

    # -- protocol operations -------------------------------------------------------------------
    def setup(self, project, label_config, extra_params=None, hostname=None, access_token=None) -> str:
        """``POST /setup``: parse the config, keep the project's parameters, return the model version.

        Everything is checked before anything is saved: a rejected /setup leaves the project as it was.
        With ``hostname`` and ``access_token`` (Label Studio sends both) the backend reads the project's
        model version, so its predictions carry the version the prediction-score column counts.

        The token is bound to the host it came with: a /setup that names another host without a token
        of its own, or a token without its host, is refused (400), so nobody who can reach the backend
        can make it send the stored token elsewhere."""
        self.counters["setup"] += 1
        extra_params = parse_extra_params(extra_params)
        host = normalize_host(hostname)
        if access_token is not None and not isinstance(access_token, str):
            raise BadRequest("'access_token' must be a string")
        token = access_token.strip() if access_token else None
        if label_config is not None:
            schema = parse_label_config(label_config)
        else:
            with self._hold(project) as p:
                schema = p.schema
        voter = None if extra_params is None else self._voter(schema, extra_params)
        if token and host is None:
            raise BadRequest(
                "/setup sent an 'access_token' without its 'hostname': send both (Label Studio does)"
            )
        known = self._projects.get(project_key(project))  # credentials live in memory only
        if host is not None and token is None and known is not None and known.access_token:
            if host != known.hostname:
                raise BadRequest(
                    "/setup names a new 'hostname' without an 'access_token': the stored token is bound to "
                    "the host it came with; send the token for the new host (Label Studio sends both)"
                )
        with self._hold(project, label_config) as p:
            if extra_params is not None and extra_params != p.extra_params:
                p.extra_params = dict(extra_params)
                if isinstance(p.weak, KeywordVoter):
                    p.weak = voter
                    p.version += 1
                    p.detector = None
                self._save(p, weak_changed=True)
            if token:
                p.hostname, p.access_token = host, token
            elif host is not None and p.access_token is None:
                p.hostname = host
            self._sync_label(p, force=True)
            return self.model_version(p)

    @staticmethod
    def credentials(p: _Project) -> list[tuple[str, str]]:
        """``(url, token)`` pairs to read project ``p`` from Label Studio, in the order to try them: the
        pair /setup sent (kept in memory only), then the environment's (:func:`env_credentials`;
        in a container Label Studio may name itself ``localhost``, which the backend cannot reach).
        A token only ever goes to the host it came with."""
        out = []
        if p.hostname and p.access_token:
            out.append((p.hostname, p.access_token))
        env = env_credentials()
        if env[0] and env[1] and env not in out:
            out.append(env)
        return out

    def _sync_label(self, p: _Project, force: bool = False) -> None:
        """Read the project's model version from Label Studio (credentials from /setup, kept in memory
        only). Called at /setup and, until a version is known, at most every 30 s from /predict."""
        pairs = self.credentials(p)
        if not pairs or (not force and time.time() - p.label_checked < 30):
            return
        p.label_checked = time.time()
        from .client import LabelStudioClient

        for host, token in pairs:
            try:
                client = LabelStudioClient(host, token, retries=0, timeout=2.0)
                version = (client.project(int(p.key)) or {}).get("model_version") or ""
                break
            except Exception as exc:  # the backend still serves; predictions carry the version it has
                logger.warning("project %s: cannot read its model version from %s: %s", p.key, host, exc)
        else:
            return
        if version and version != p.label:
            p.label = version
            self._save(p)

    def set_label(self, project, version: str) -> None:
        """Make predictions carry ``version`` (the campaign driver passes the project's model version)."""
        with self._hold(project) as p:
            if version and version != p.label:
                p.label = str(version)
                self._save(p)

    def schema(self, project, label_config=None) -> TextClassification:
        """The project's parsed labeling config (where the text is, which choices exist)."""
        with self._hold(project, label_config) as p:
            return p.schema

    def current_version(self, project) -> str:
        """The weak model's own version (``w2s-overlap-<n>-...``): it moves with every retrain."""
        with self._hold(project) as p:
            return self.internal_version(p)

    def prediction_version(self, project) -> str:
        """The ``model_version`` predictions carry (stable; see :meth:`model_version`)."""
        with self._hold(project) as p:
            return self.model_version(p)

    def _texts(self, p: _Project, tasks) -> tuple[list, list]:
        if not isinstance(tasks, list):
            raise BadRequest(f"'tasks' must be a list of Label Studio tasks; got {type(tasks).__name__}")
        key = p.schema.value_key
        texts, keys = [], []
        for i, task in enumerate(tasks):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise BadRequest(f"task {i} has no 'data' object")
            tid = task.get("id")
            if key not in task["data"]:
                raise BadRequest(
                    f"task {tid if tid is not None else i} has no {key!r} field in its data; the "
                    f"labeling config reads the text from ${key}"
                )
            text = task["data"][key]
            if not isinstance(text, str):
                raise BadRequest(
                    f"task {tid if tid is not None else i}: data[{key!r}] must be a string; "
                    f"got {type(text).__name__}"
                )
            texts.append(text)
            keys.append(str(tid) if tid is not None else "h" + hashlib.sha1(text.encode()).hexdigest()[:16])
        return texts, keys

    def _add_to_pool(self, p: _Project, keys, texts) -> bool:
        """Uniform reservoir over every distinct scoreable text seen (seeded); True if the pool changed."""
        rng = np.random.default_rng([self.random_state, int(p.key), p.n_seen])
        known = set(p.pool_keys)
        changed = False
        for k, t in zip(keys, texts):
            if k in known:
                continue
            known.add(k)
            p.n_seen += 1
            t = t[: self.max_text_chars]  # bounded state: a long text is kept as its beginning
            if len(p.pool_keys) < self.pool_size:
                p.pool_keys.append(k)
                p.pool_texts.append(t)
                changed = True
            else:
                j = int(rng.integers(p.n_seen))
                if j < self.pool_size:
                    p.pool_keys[j], p.pool_texts[j] = k, t
                    changed = True
        return changed

    def _embed(self, texts) -> np.ndarray:
        """Embeddings of ``texts``, from the cache where a text was embedded before."""
        texts = list(texts)
        rows: list = [None] * len(texts)
        with self._cache_lock:
            for i, t in enumerate(texts):
                row = self._cache.get(t)
                if row is not None:
                    self._cache.move_to_end(t)
                    rows[i] = row
        missing = [i for i, r in enumerate(rows) if r is None]
        if missing:
            todo = list(dict.fromkeys(texts[i] for i in missing))
            E = np.asarray(plugins.embed(self.embedder, todo), dtype=np.float64)
            if E.ndim != 2 or E.shape[0] != len(todo):
                raise ValueError(
                    f"the embedder returned shape {E.shape} for {len(todo)} texts; expected (n, d)"
                )
            fresh = dict(zip(todo, E))
            with self._cache_lock:
                for t, row in fresh.items():
                    self._cache[t] = row
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            for i in missing:
                rows[i] = fresh[texts[i]]
        if not rows:
            return np.zeros((0, 0))
        return np.vstack(rows)

    def _detector(self, p: _Project):
        """The detector for the current weak model and pool, refitted when either moved on."""
        n = len(p.pool_texts)
        if p.detector is not None and p.detector_for is not None:
            version, fitted_n = p.detector_for
            if version == p.version and (n < fitted_n * 1.25 or fitted_n >= self.pool_size):
                return p.detector
        if n < 2:
            return None
        P = p.weak.predict_proba(p.pool_texts)
        E = self._embed(p.pool_texts)
        det = OverlapDetector(**{"random_state": self.random_state, **self.detector_params})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", W2SWarning)
            det.fit(P, E)
        p.detector, p.detector_for = det, (p.version, n)
        return det

    def _scores(self, report, P) -> np.ndarray:
        """Acquisition scores in [0, 1] (Label Studio rejects prediction scores outside it) that sort
        the batch exactly as :func:`w2s_plugin.acquisition.rank` does, ties by position: the one
        ranking the modAL strategies and the campaign engine use too.

        The order is ``rank``'s; the numbers put it on a scale that is the same for every request where
        the strategy has one, since Label Studio sorts the tasks of many requests by score:
        ``overlap``: non-hard points ``0.5 + overlap_score / 2``, hard-only points
        ``(0.02 + 0.98 confidence / hard_threshold) / 2`` (0 is left to texts with no evidence at
        all); other strategies: their own scores through a logistic squash. Where that scale does not
        sort the batch as ``rank`` did (``overlap_then_hard`` joins two rankings' scores; a plugin's
        scores saturate the squash), the scores are the batch's rank positions, ``(m - j) / (m + 1)``
        for the ``j``-th of ``m``.
        """
        from w2s_plugin.acquisition import rank

        m = len(report)
        idx, raw = rank(self.strategy, report, P, m, random_state=self.random_state)
        if self.strategy == "overlap":
            out = _overlap_scale(report)
        else:
            out = np.empty(m)
            out[idx] = 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64)))
        if not np.array_equal(np.lexsort((np.arange(m), -out)), idx):
            out[idx] = (m - np.arange(m)) / (m + 1.0)
        return out

    def predict(self, project, tasks, label_config=None) -> list:
        """``POST /predict``: one prediction per task, in order (``{"result", "score", "model_version"}``).

        A task whose text the representation cannot place (empty, or no word tokens for hashed
        counts: ``"!!!"``, ``"👍👍"``, a zero-width space) is hard-only with *no evidence*: an empty
        result and score 0, the bottom of the prediction-score order. It never enters the pool and
        never fails the batch. The numbers come from :meth:`score_tasks`; JSON is made here only."""
        return self.predictions(project, self.score_tasks(project, tasks, label_config))

    def score_tasks(self, project, tasks, label_config=None) -> ScoredTasks:
        """The numbers behind :meth:`predict`, for callers in the same process (the campaign driver):
        weak probabilities, the overlap report of every task (no-evidence tasks hard-only with
        confidence 0) with the detector's thresholds, and the acquisition scores."""
        self.counters["predict"] += 1
        with self._hold(project, label_config) as p:
            texts, keys = self._texts(p, tasks)
            k = len(p.schema.choices)
            out = ScoredTasks.empty(len(texts), k, "", self.strategy)
            if not texts:
                return out
            if p.label is None:
                self._sync_label(p)
            E_all = self._embed(texts)
            ok = _scoreable(E_all) & np.array([bool(t.strip()) for t in texts])
            out.ok = ok
            if self._add_to_pool(p, [k for k, g in zip(keys, ok) if g], [t for t, g in zip(texts, ok) if g]):
                self._save(p)
            out.version = self.model_version(p)
            if ok.any():
                live = [t for t, g in zip(texts, ok) if g]
                P = np.asarray(p.weak.predict_proba(live), dtype=np.float64)
                # cold start: the keyword voter found no keyword of any choice in these texts, so there
                # is no model for them yet (uniform probabilities); they are hard-only, whatever the
                # thresholds fitted on a pool of such texts say
                cold = isinstance(p.weak, KeywordVoter)
                no_model = cold & (np.ptp(P, axis=1) < 1e-12)
                try:
                    det = self._detector(p)
                    report = None if det is None else det.predict_report(P, E_all[ok])  # None: one text seen
                    if report is not None and no_model.any():
                        regions = np.where(no_model, int(Region.HARD_ONLY), report.regions)
                        report = dataclasses.replace(report, regions=regions)
                    scores = self._scores(report, P) if report is not None else 0.5 * P.max(axis=1)
                except W2SError as exc:  # a pool detection cannot use yet (e.g. identical texts)
                    logger.warning("project %s: %d tasks served unscored: %s", p.key, len(live), exc)
                    report, scores = None, 0.5 * P.max(axis=1)
                except Exception:  # a bug must not cost the whole batch its predictions
                    logger.exception(
                        "project %s: scoring %d tasks failed; they are served unscored", p.key, len(live)
                    )
                    report, scores = None, 0.5 * P.max(axis=1)
                out.fill(ok, P, report, scores)
                out.cold = cold
                out.no_model = np.zeros(len(texts), dtype=bool)
                out.no_model[ok] = no_model
                if report is not None:
                    for r in report.regions:
                        p.stats["regions"][REGION_NAMES[int(r)]] += 1
                    p.stats["last_density"] = float(report.density)
                for j in P.argmax(axis=1):
                    choice = p.schema.choices[int(j)]
                    p.stats["served"][choice] = p.stats["served"].get(choice, 0) + 1
            out.model = self.internal_version(p)
            n_bad = int((~ok).sum())
            p.stats["regions"]["hard_only"] += n_bad
            p.stats[NO_EVIDENCE] += n_bad
            p.stats["predictions"] += len(texts)
            self.counters["tasks_predicted"] += len(texts)
            return out

    def predictions(self, project, scored: ScoredTasks) -> list:
        """:meth:`score_tasks`'s numbers as Label Studio predictions (JSON, rounded for display)."""
        with self._hold(project) as p:
            results = []
            for i in range(len(scored.ok)):
                if not scored.ok[i]:
                    results.append({"result": [], "score": 0.0, "model_version": scored.version})
                    continue
                P, osc = scored.proba[i], scored.report.overlap_score[i]
                meta = {
                    "region": REGION_NAMES[int(scored.report.regions[i])]
                    if scored.detected[i]
                    else "unscored",
                    "acquisition_score": round(float(scored.scores[i]), 6),
                    "overlap_score": round(float(osc), 6) if np.isfinite(osc) else None,
                    "weak_confidence": round(float(scored.report.confidence[i]), 6),
                    "weak_proba": {c: round(float(P[k]), 6) for k, c in enumerate(p.schema.choices)},
                    "strategy": scored.strategy,
                    "model": scored.model,
                }
                if scored.no_model is not None and scored.no_model[i]:
                    meta["no_model"] = (
                        "no model yet: no annotations, and no keyword of any choice in this text "
                        "(annotate tasks of two choices and press Start training, or set keywords)"
                    )
                elif scored.cold:
                    meta["no_model"] = "no model yet: keywords only (annotate tasks of two choices)"
                choice = p.schema.choices[int(P.argmax())]
                results.append(self._prediction(p, choice, float(scored.scores[i]), scored.version, meta))
            return results

    @staticmethod
    def _prediction(p: _Project, choice: str, score: float, version: str, meta: dict) -> dict:
        s = p.schema
        head = f"w2s: {meta['no_model']}; " if "no_model" in meta else "w2s: "
        text = (
            f"{head}{meta['region']} (acquisition {meta['acquisition_score']:.3f}, overlap score "
            f"{'-' if meta['overlap_score'] is None else format(meta['overlap_score'], '.3f')}, "
            f"weak confidence {meta['weak_confidence']:.3f})"
        )
        region = {
            "from_name": s.from_name,
            "to_name": s.to_name,
            "type": "choices",
            "value": {"choices": [choice]},
            "score": score,
            "meta": {"text": [text]},
            "w2s": meta,
        }
        return {"result": [region], "score": score, "model_version": version}

    # -- training ------------------------------------------------------------------------------
    def _retrain(self, p: _Project) -> bool:
        """Weak model from the stored annotations: a classifier once two choices are annotated,
        the keyword voter before. Returns True if the model changed (and bumps the version); the
        same annotations as last time change nothing."""
        labels = {v["label"] for v in p.examples.values()}
        before = p.weak
        if len(labels) >= 2:
            if not (isinstance(p.weak, TextWeakClassifier) and p.trained_on == _fingerprint(p.examples)):
                self._fit_weak(p)
        elif p.weak is None or not isinstance(p.weak, KeywordVoter):
            p.weak = self._cold_start(p)
            p.trained_on, p.cv = None, None
        if p.weak is not before:
            p.version += 1
            p.detector, p.detector_for = None, None
            p.stats["trainings"] += 1
            return True
        return False

    def _fit_weak(self, p: _Project) -> None:
        texts = [v["text"] for v in p.examples.values()]
        ys = [v["label"] for v in p.examples.values()]
        weak = TextWeakClassifier(p.schema.choices, C=self.C, random_state=self.random_state)
        p.cv = None  # computed when /metrics asks (k refits per annotation event would slow training)
        p.weak = weak.fit(texts, ys, unlabeled=p.pool_texts)
        p.trained_on = _fingerprint(p.examples)

    def _choice_of(self, p: _Project, annotation: dict):
        if annotation.get("was_cancelled"):
            return None
        result = annotation.get("result") or []
        if not isinstance(result, list):
            raise BadRequest("an annotation's 'result' must be a list of regions")
        for region in result:
            if (
                isinstance(region, dict)
                and region.get("from_name") == p.schema.from_name
                and isinstance(region.get("value"), dict)
            ):
                chosen = region["value"].get("choices") or []
                if not isinstance(chosen, list):
                    raise BadRequest("an annotation region's value.choices must be a list of choice names")
                if chosen and isinstance(chosen[0], str) and chosen[0] in p.schema.choices:
                    return chosen[0]
        return None

    def _record(self, p: _Project, task: dict, annotation: dict) -> None:
        """Store one task's annotation (an annotation without a choice of the config, or cancelled,
        removes the task's: that is what the annotator said)."""
        if not isinstance(task, dict) or not isinstance(annotation, dict):
            raise BadRequest("an annotation event needs 'task' and 'annotation' objects")
        tid = _object_id(task.get("id", annotation.get("task")), "the task's 'id'")
        data = task.get("data")
        if data is not None and not isinstance(data, dict):
            raise BadRequest(f"task {tid}: 'data' must be an object; got a {type(data).__name__}")
        text = (data or {}).get(p.schema.value_key)
        ann_id = annotation.get("id")
        if ann_id is not None:
            ann_id = int(_object_id(ann_id, "an annotation's 'id'"))
        label = self._choice_of(p, annotation)
        if label is None or not isinstance(text, str):
            p.examples.pop(tid, None)
        else:
            p.examples[tid] = {"text": text[: self.max_text_chars], "label": label, "annotation": ann_id}

    def add_annotations(self, project, items, label_config=None, replace: bool = False) -> dict:
        """Record ``(task, annotation)`` pairs (e.g. read back by the campaign driver) and retrain."""
        with self._hold(project, label_config) as p:
            if replace:
                p.examples = {}
            for task, ann in items:
                self._record(p, task, ann)
            return self._finish_training(p)

    def _finish_training(self, p: _Project) -> dict:
        # the annotations reach the disk before the (slower) refit: a crash during it keeps them, and
        # the state still names the last good model, which a restart serves
        if p.trained_on != _fingerprint(p.examples):
            self._save(p)
        changed = self._retrain(p)
        self._save(p, weak_changed=changed)
        return {"model_version": self.internal_version(p), "trained": changed, "n_train": len(p.examples)}

    def fit(self, event: str, data: dict) -> dict:
        """``POST /webhook``: learn from an annotation event, or from every annotation on START_TRAINING
        (and PROJECT_UPDATED). A pull from Label Studio adds and updates annotations but never removes
        one: only a deletion event (ANNOTATION(S)_DELETED, TASKS_DELETED) does."""
        self.counters["webhook"] += 1
        if event not in TRAIN_EVENTS:
            logger.info("webhook %s: not an event this backend learns from; acknowledged", event[:64])
            return {"status": "Unknown event", "event": event[:64]}
        proj = data.get("project")
        if not isinstance(proj, dict):
            raise BadRequest(f"{event} webhook has no 'project' object")
        label_config = proj.get("label_config")
        if label_config is not None and not isinstance(label_config, str):
            raise BadRequest("the project's 'label_config' must be a string (the labeling config XML)")
        with self._hold(proj, label_config) as p:
            if event in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
                self._record(p, data.get("task"), data.get("annotation"))
            elif event == "ANNOTATIONS_CREATED":
                anns, tasks = _list_of(data, "annotation"), _list_of(data, "task")
                by_id = {str(t.get("id")): t for t in tasks}
                for ann in anns:
                    self._record(p, by_id.get(str(ann.get("task")), {"id": ann.get("task")}), ann)
            elif event in ("ANNOTATION_DELETED", "ANNOTATIONS_DELETED"):
                gone = _list_of(data, "annotations") or _list_of(data, "annotation")
                ids = {int(_object_id(a.get("id"), "a deleted annotation's 'id'")) for a in gone}
                p.examples = {k: v for k, v in p.examples.items() if v.get("annotation") not in ids}
            elif event == "TASKS_DELETED":
                ids = {_object_id(t.get("id"), "a deleted task's 'id'") for t in _list_of(data, "tasks")}
                p.examples = {k: v for k, v in p.examples.items() if k not in ids}
            elif event in PULL_EVENTS:
                for task in self._pull_annotations(p, event) or []:
                    self.record_task(p, task)
            out = self._finish_training(p)
            out["status"] = "ok"
            return out

    def record_task(self, p: _Project, task) -> None:
        """Store a task as Label Studio exports it (``{"id", "data", "annotations": [...]}``): its last
        annotation that was not cancelled; a task without one changes nothing."""
        if not isinstance(task, dict):
            raise BadRequest("an exported task must be an object with 'id', 'data' and 'annotations'")
        anns = task.get("annotations") or []
        if not isinstance(anns, list):
            raise BadRequest("a task's 'annotations' must be a list")
        anns = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled")]
        if anns:
            self._record(p, task, anns[-1])

    def train(self, project, tasks, label_config=None) -> dict:
        """``POST /train`` (Label Studio with its webhook training flag off sends every annotated task):
        add and update the annotations given, and retrain."""
        if not isinstance(tasks, list):
            raise BadRequest("/train needs 'annotations': the list of annotated tasks Label Studio exports")
        with self._hold(project, label_config) as p:
            for task in tasks:
                self.record_task(p, task)
            out = self._finish_training(p)
            out["status"] = "ok"
            return out

    def _pull_annotations(self, p: _Project, event: str = "START_TRAINING"):
        """Every annotated task of the project, from Label Studio (with the /setup credentials, else the
        environment's), or None."""
        pairs = self.credentials(p)
        if not pairs:
            logger.info("%s: no Label Studio credentials for project %s (no /setup, no env)", event, p.key)
            return None
        from .client import ANNOTATED_QUERY, LabelStudioClient

        for host, token in pairs:
            try:
                client = LabelStudioClient(host, token, retries=1, timeout=30.0)
                return [
                    t
                    for t in client.tasks(int(p.key), query=ANNOTATED_QUERY)
                    if isinstance(t, dict) and (t.get("total_annotations") or 0) > 0
                ]
            except Exception as exc:  # training still runs on what the webhooks delivered
                logger.warning(
                    "%s: could not read annotations of project %s from %s: %s", event, p.key, host, exc
                )
        return None

    # -- introspection -------------------------------------------------------------------------
    def _weak_cv(self, p: _Project) -> dict | None:
        """Cross-validated accuracy of the weak model on the annotations it was fitted on (cached)."""
        with p.lock:
            if not isinstance(p.weak, TextWeakClassifier):
                return None
            if p.cv is None or p.cv.get("for") != p.trained_on:
                texts = [v["text"] for v in p.examples.values()]
                ys = [v["label"] for v in p.examples.values()]
                cv = TextWeakClassifier(
                    p.schema.choices, C=self.C, random_state=self.random_state
                ).cross_validate(texts, ys)
                p.cv = {**(cv or {"accuracy": None}), "for": p.trained_on}
            return {k: v for k, v in p.cv.items() if k != "for"}

    def _hybrid_status(self, key: str):
        """What a hybrid campaign driver last wrote for this project (human budget left, audit precision,
        stopping signal, accepted cells; driver.py), or None."""
        d = self._dir(key)
        return None if d is None else _read_hybrid(d / "hybrid.json")

    def metrics(self) -> dict:
        projects = {}
        for key, p in list(self._projects.items()):
            if p.schema is None:
                continue
            weak_cv = self._weak_cv(p)
            served = p.stats["served"]
            total = sum(served.values())
            projects[key] = {
                "model_version": self.model_version(p),
                "model": self.internal_version(p),
                "annotations": len(p.examples),
                "weak_model": type(p.weak).__name__,
                "weak_cv": weak_cv,
                "served_share": {c: round(served.get(c, 0) / total, 4) for c in p.schema.choices}
                if total
                else None,
                "pool": len(p.pool_texts),
                "texts_seen": p.n_seen,
                **p.stats,
                "hard_threshold": (None if p.detector is None else _finite(p.detector.hard_threshold_)),
                "overlap_threshold": (None if p.detector is None else _finite(p.detector.overlap_threshold_)),
                "hybrid": self._hybrid_status(key),
            }
        return {
            "uptime_s": round(time.time() - self.started, 1),
            "pid": os.getpid(),
            **self.counters,
            "embedder": type(self.embedder).__name__,
            "projects": projects,
        }


def _overlap_scale(report) -> np.ndarray:
    """The ``overlap`` strategy's order on a fixed scale in (0, 1]: non-hard points above 0.5 by
    overlap score, hard-only points below it by confidence relative to the hard threshold."""
    conf = np.asarray(report.confidence, dtype=np.float64)
    s = np.clip(np.nan_to_num(np.asarray(report.overlap_score, dtype=np.float64)), 0.0, 1.0)
    hard = report.regions == int(Region.HARD_ONLY)
    thr = report.hard_threshold if np.isfinite(report.hard_threshold) and report.hard_threshold > 0 else 1.0
    low = 0.02 + 0.98 * np.clip(conf / thr, 0.0, 1.0 - 1e-9)  # > 0: 0 is "no evidence" only
    return np.where(hard, 0.5 * low, 0.5 + 0.5 * s)


def _read_hybrid(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _list_of(data: dict, key: str) -> list:
    """``data[key]`` as a list of objects (a single object is a list of one; absent is empty)."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadRequest(f"'{key}' must be an object or a list of objects")
    return value


def _scoreable(E: np.ndarray) -> np.ndarray:
    """Rows the overlap detector can place: finite and not all zero."""
    E = np.asarray(E)
    if E.size == 0:
        return np.zeros(E.shape[0], dtype=bool)
    return np.isfinite(E).all(axis=1) & (np.abs(E).sum(axis=1) > 0)


def _fingerprint(examples: dict) -> str:
    """Identifies a set of annotations (task, label, text) independently of their order."""
    h = hashlib.sha1()
    for tid in sorted(examples):
        v = examples[tid]
        h.update(json.dumps([tid, v.get("label"), v.get("text")]).encode())
    return h.hexdigest()


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None
