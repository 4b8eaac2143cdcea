"""``w2s campaign run --label-studio-url URL --project ID``: the command-line glue that builds a
:class:`~w2s_plugin.integrations.label_studio.driver.CampaignDriver` and its backend from a validated
config file (the driver itself keeps only what fills a project)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from w2s_plugin.errors import W2SError
from w2s_plugin.state import StateLock, move_aside

from .backend import OverlapDensityBackend, project_key
from .client import as_http_client
from .driver import CampaignDriver, make_client
from .queue import PEOPLE_TAB, WEAK_TAB

#: The driver's own state file before the shared engine (0.1.0): a folder holding it is the driver's.
LEGACY_STATE = "label_studio_campaign.json"


def driver_state_dir(state_dir, project) -> Path | None:
    """Where the driver keeps its state, apart from a local campaign's: ``state_dir`` itself when it
    already holds a Label Studio driver's state (older runs resume there), else
    ``state_dir/label-studio-<project>``. ``campaign.state_dir`` usually names the local campaign's
    folder, and the two must never share a state file."""
    if state_dir is None:
        return None
    sd = Path(state_dir)
    state = sd / "state.json"
    if (sd / LEGACY_STATE).exists() and not state.exists():
        return sd
    if state.exists():
        try:
            kind = json.loads(state.read_text()).get("kind")
        except (OSError, ValueError):
            kind = None
        if kind == "label_studio":
            return sd
    return sd / f"label-studio-{int(project)}"


def start_over(state_dir) -> Path | None:
    """``--force-new`` for the driver: move a non-empty state folder aside (``<name>.old-<UTC time>``,
    nothing deleted) under its lock, so a second writer is refused rather than moved from under."""
    if state_dir is None or not Path(state_dir).is_dir() or not any(Path(state_dir).iterdir()):
        return None
    lock = StateLock(state_dir, "w2s campaign run --force-new")
    try:
        return move_aside(state_dir)
    finally:
        lock.release()


def run_from_cli(args, config) -> int:
    """``w2s campaign run --label-studio-url URL --project ID [--api-key KEY] [--config FILE]``.

    ``config`` is the validated :class:`w2s_plugin.config.Config` (or ``None``): its ``[[sources]]``
    (CSV/JSONL with a text column, or ``label-studio://<project id>``), ``campaign.batch_size``,
    ``campaign.max_rounds`` / ``budget``, ``campaign.state_dir``, ``[bandit]``, ``[detector]``,
    ``[acquisition]``, ``seed`` and ``[label_studio]`` (``keywords``, ``text_column``, backend
    parameters) apply. The driver's state goes to :func:`driver_state_dir` (never the local
    campaign's own state file). ``MODEL_DIR`` (else ``label_studio.model_dir``, else the driver's
    state folder ``/model``) holds the backend state; point it at the served backend's to share one
    weak model. Nothing is written before Label Studio has answered.
    """
    if config is None or not config.data.get("sources"):
        raise W2SError(
            "--label-studio-url needs --config FILE with [[sources]] (CSV/JSONL files with a text "
            "column, or label-studio://<project id>) and [campaign] batch_size"
        )
    seed = config.get("seed")
    pid = int(project_key(args.project))
    client = make_client(args.label_studio_url, args.api_key or os.environ.get("LABEL_STUDIO_API_KEY"))
    state_dir = driver_state_dir(config.state_dir(), pid)
    where = f"; the campaign's state will go to {state_dir}" if state_dir is not None else ""
    # Label Studio first: a server that is down or a wrong project creates nothing on disk
    as_http_client(client, hint=f"nothing saved{where}: run the same command again").project(pid)
    if getattr(args, "force_new", False):
        moved = start_over(state_dir)
        if moved is not None:
            print(f"--force-new: the old state was moved to {moved} (nothing deleted)")
    backend = backend_from_run_config(config, state_dir)
    driver = CampaignDriver(
        client,
        pid,
        config.build_sources(),
        backend=backend,
        batch_size=config.get("campaign.batch_size"),
        bandit=config.bandit_params(),
        text_column=config.get("label_studio.text_column"),
        state_dir=state_dir,
        progress=not getattr(args, "no_progress", False),
        random_state=seed,
        reward=config.get("campaign.reward") or "overlap",
        reward_params=config.get("campaign.reward_params"),
        gold=config.gold(),
        **hybrid_settings(config),
    )
    if driver.engine.resumed:
        print(
            f"resuming the Label Studio campaign in {state_dir}: {len(driver.rounds)} round(s) "
            "already ran, "
            f"reward {driver.engine.reward.name}"
        )
    rounds = getattr(args, "max_rounds", None) or config.get("campaign.max_rounds")
    budget = config.get("campaign.budget")
    if budget is not None:
        left = -(-(budget - sum(r["n"] for r in driver.rounds)) // driver.batch_size)
        rounds = max(0, left) if rounds is None else min(rounds, max(0, left))
    if driver.hybrid is not None:
        print(
            f"hybrid campaign: people label up to {driver.hybrid.human_budget} tasks in the Data Manager tab "
            f"{PEOPLE_TAB!r} of project {driver.project}; accepted weak labels are in {WEAK_TAB!r}"
        )
    rows = driver.run(rounds)
    print(f"{'round':>5} {'source':<16} {'drawn':>6} {'imported':>8} {'overlap':>8} {'density':>8}  model")
    for r in rows:
        print(
            f"{r['round']:>5} {r['source']:<16} {r['n']:>6} {r['imported']:>8} {r['n_overlap']:>8} "
            f"{r['density']:>8.3f}  {r['model_version']}"
        )
    print()
    print(driver.summary())
    if driver.hybrid is not None:
        print()
        print("\n".join(hybrid_lines(driver.hybrid_status())))
    return 0


def hybrid_settings(config) -> dict:
    """The driver's hybrid-mode arguments from ``[label_studio]`` (none without ``human_budget``)."""
    ls = config.data.get("label_studio") or {}
    keys = ("human_budget", "audit_share", "human_batch", "stop_when", "accept_threshold", "score")
    keys += ("wait", "poll", "retrain_weak")
    return {k: ls[k] for k in keys if k in ls}


def hybrid_lines(st: dict, full: bool = True) -> list:
    """A hybrid campaign's numbers as ``campaign run`` prints them; ``full=False``: the Label Studio
    part only (budget left, the audit's decision per cell, the tabs), which ``campaign status`` prints
    after the engine's own hybrid lines."""

    def ci(v):
        return "-" if not v or v[0] is None or v[0] != v[0] else f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"

    lines = [
        f"human labels: {st['n_human']} of {st['human_budget']} ({st['human_budget_left']} left; "
        f"{st['n_audit']} audits), weak labels: {st['n_weak']} at weight {st['weak_weight']:g}",
    ]
    if full:
        lines.append(f"audited weak-label precision: {ci(st['weak_precision'])} (95% Wilson)")
        lines.append(f"strong model accuracy on the audits: {ci(st['accuracy'])}")
        v = st.get("value_per_100")
        stop = st.get("stopped")
        lines.append(
            "value of the last human labels: "
            + ("not estimated yet" if v is None else f"{v:+.2f} accuracy points per 100 labels")
            + (f"; stopped: {stop}" if stop else "")
        )
    lines.append(f"accepted weak labels (lower 95% bound >= {st['accept_threshold']:g}):")
    for c in st["audit_cells"]:
        lines.append(
            f"  {c['source']:<16} {c['region']:<10} {c['correct']:>3}/{c['n']:<3} lower {c['lower95']:.3f}  "
            + ("accepted" if c["accepted"] else "to people")
        )
    qd = st.get("queue") or {}
    lines.append(
        f"tabs: {qd.get('people_waiting', 0)} task(s) wait for people, {qd.get('weak', 0)} weak-labelled, "
        f"{qd.get('held', 0)} held (not accepted, no budget left)"
    )
    return lines


def backend_from_run_config(config, state_dir=None) -> OverlapDensityBackend:
    """The driver's backend from a validated :class:`w2s_plugin.config.Config`: ``[label_studio]``
    keys first, then ``[detector]``, ``[acquisition]`` and ``seed``; its default ``model_dir`` is
    ``state_dir/model`` (the driver's state folder; default ``campaign.state_dir``)."""
    from .config import build_model

    ls = config.data.get("label_studio") or {}
    state_dir = config.state_dir() if state_dir is None else state_dir
    model_dir = (
        os.environ.get("MODEL_DIR")
        or ls.get("model_dir")
        or (None if state_dir is None else state_dir / "model")
    )
    det = ls.get("detector")
    if det is None:
        det = {k: v for k, v in config.detector_params().items() if k not in ("accumulate", "history_size")}
    strategy = ls.get("strategy") or config.acquisition()[0]
    return OverlapDensityBackend(
        model_dir=model_dir,
        embedder=build_model(ls.get("embedder")),
        strategy=strategy,
        detector_params=det,
        keywords=ls.get("keywords"),
        pool_size=ls.get("pool_size", 2000),
        C=float(ls.get("C", 1.0)),
        random_state=ls.get("random_state", config.get("seed")),
        max_text_chars=ls.get("max_text_chars", 20_000),
    )
