"""``w2s campaign run --label-studio-url URL --project ID``: the command-line glue that builds a
:class:`~w2s_plugin.integrations.label_studio.driver.CampaignDriver` and its backend from a validated
config file (the driver itself keeps only what fills a project)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from w2s_plugin.errors import W2SError

from .backend import OverlapDensityBackend, project_key
from .client import as_http_client
from .driver import CampaignDriver, make_client

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
    rows = driver.run(rounds)
    print(f"{'round':>5} {'source':<16} {'drawn':>6} {'imported':>8} {'overlap':>8} {'density':>8}  model")
    for r in rows:
        print(
            f"{r['round']:>5} {r['source']:<16} {r['n']:>6} {r['imported']:>8} {r['n_overlap']:>8} "
            f"{r['density']:>8.3f}  {r['model_version']}"
        )
    print()
    print(driver.summary())
    return 0


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
