"""Built-in ``w2s`` subcommands for config files and campaigns:
``w2s campaign run``, ``w2s campaign status`` and ``w2s config check``."""

from __future__ import annotations

import contextlib
import json
import math
import os

from w2s_plugin import plugins
from w2s_plugin.hookspecs import hookimpl


def _cli_error(msg: str) -> Exception:
    from w2s_plugin.cli import CLIError

    return CLIError(msg)


def cmd_config_check(args) -> int:
    from w2s_plugin.config import load_config

    cfg = load_config(args.file, build=args.build)
    print(f"OK: {args.file}" + (" (sources loaded, models built)" if args.build else ""))
    print(cfg.summary())
    if cfg.is_campaign and "campaign" not in cfg.data:
        print("note: no [campaign] table (batch_size, budget, state_dir): needed by `w2s campaign run`")
    if cfg.is_campaign and "weak_model" not in cfg.data:
        print("note: no [weak_model] table: needed by `w2s campaign run`")
    return 0


def cmd_campaign_run(args) -> int:
    from w2s_plugin.config import load_config

    contexts = plugins.command_contexts("campaign run", args)  # plugins check their options first
    cfg = load_config(args.config) if args.config else None
    code = plugins.run_command("campaign run", args, cfg)  # e.g. Label Studio, for --label-studio-url
    if code is not None:
        return int(code)
    if cfg is None:
        raise _cli_error("give --config FILE (a campaign config; see docs/configuration.md)")
    campaign = cfg.build_campaign(progress=False if args.no_progress else None, force_new=args.force_new)
    try:
        return _run(campaign, cfg, args, contexts)
    finally:
        campaign.engine.close()  # the state folder is free for the next writer


def _run(campaign, cfg, args, contexts) -> int:
    if campaign.engine.moved_to is not None:
        print(f"--force-new: the old state was moved to {campaign.engine.moved_to} (nothing deleted)")
    if campaign.resumed:
        print(
            f"resuming the campaign in {cfg.state_dir()}: {campaign.n_rounds} round(s), "
            f"{campaign.n_drawn} point(s) already drawn"
        )
        print(
            f"reward: {campaign.engine.reward.name}"
            + (
                f"; the folder was written by w2s_plugin 0.1.0 ({campaign.migrated_from}) and is rewritten "
                "as state version 3"
                if campaign.migrated_from
                else ""
            )
        )
    elif cfg.state_dir() is not None:
        print(f"starting a new campaign; state goes to {cfg.state_dir()}")
    else:
        print("starting a campaign in memory (no campaign.state_dir: nothing is saved)")
    if campaign.done:
        print("the campaign is already complete (budget spent or every source exhausted)")
    else:
        before = campaign.n_rounds
        try:
            with contextlib.ExitStack() as stack:
                for ctx in contexts:  # e.g. the Dask scheduler of --scheduler
                    stack.enter_context(ctx)
                res = campaign.run(max_rounds=args.max_rounds or cfg.get("campaign.max_rounds"))
        except KeyboardInterrupt:
            return _interrupted(campaign, cfg)
        print(
            f"ran {campaign.n_rounds - before} round(s); {campaign.n_rounds} in total, "
            f"{campaign.n_drawn} points drawn, {int(sum(r['n_overlap'] for r in res.rounds))} overlap "
            "points found"
        )
        if res.regret is not None and len(res.regret):
            print(
                f"cumulative regret vs the oracle: {res.regret[-1]:.1f} overlap points "
                f"(expected, from the true densities; reward: {res.reward_name})"
            )
        h = res.hindsight()
        if h:
            print(
                f"best single source in hindsight, among the {len(h['rates'])} pulled: {h['source']} "
                f"({h['rate']:.3f} {res.reward_name} per point, observed); "
                f"regret against always pulling it: {h['regret']:.1f}"
            )
        if campaign.sources_exhausted_early and not campaign.progress:  # else run() said so under its bar
            print(
                f"every source is exhausted: budget not spent ({campaign.n_drawn} of {campaign.budget} "
                "points)"
            )
    print()
    print(campaign.bandit.summary())
    return 0


def _interrupted(campaign, cfg) -> int:
    """Ctrl-C during ``campaign run``: say what is kept and how to go on (exit 130, like the shell)."""
    import sys

    # Campaign.step commits each completed round to state_dir before the next starts; a round cut
    # short consumes nothing, so the same command resumes right after the rounds counted here.
    n = campaign.n_rounds
    if cfg.state_dir() is None:
        msg = f"{n} round(s) ran; nothing is saved (no campaign.state_dir in the config)"
    else:
        msg = (
            f"{n} round(s), {campaign.n_drawn} point(s) saved in {cfg.state_dir()}; "
            "run the same command again to resume"
        )
    print(f"w2s campaign: interrupted: {msg}", file=sys.stderr)
    return 130


def cmd_campaign_status(args) -> int:
    """Any front-end's folder (Campaign, MultiSourceLearner, Label Studio driver; 0.1.0 folders too)."""
    from w2s_plugin.bandit import SourceBandit
    from w2s_plugin.hybrid import plot_hybrid, saved_status, status_lines
    from w2s_plugin.rewards import reward_warning
    from w2s_plugin.state import load_state

    if not os.path.isdir(args.dir):
        raise _cli_error(f"{args.dir} is not a directory (give a campaign's state_dir)")
    state = load_state(args.dir)
    bandit = SourceBandit.from_dict(state["bandit"])
    reward = (state.get("reward") or {}).get("name", "overlap")
    rounds = state["rounds"]
    est = bandit.estimates()
    warn = reward_warning(rounds, reward, len(bandit.names))
    hybrid = saved_status(state)
    if getattr(args, "plot", None):
        if hybrid is None:
            raise _cli_error("--plot draws a hybrid campaign (one with human_budget); this one has none")
        plot_hybrid(state, args.plot)
    if args.json:
        print(
            json.dumps(
                _status_json(state, bandit, est, reward, warn, hybrid), indent=2, default=lambda v: None
            )
        )
        return 0
    _print_totals(args.dir, state, bandit, est, reward, warn)
    if hybrid is not None:
        print("\n".join(status_lines(hybrid)))
    if getattr(args, "plot", None):
        print(f"plot written to {args.plot}")
    print()
    print(bandit.summary())
    if state.get("status_lines"):  # a front-end's own numbers (a Label Studio hybrid campaign's queue)
        print()
        print("\n".join(state["status_lines"]))
    if args.rounds and rounds:
        _print_last_rounds(rounds, args.rounds, reward)
    return 0


def _status_json(state: dict, bandit, est: list, reward: str, warn, hybrid) -> dict:
    """``w2s campaign status --json``: NaN estimates (a source never drawn) become null."""
    return {
        "rounds": len(state["rounds"]),
        "drawn": sum(r["drawn"] for r in est),
        "overlap": float(sum(r["overlap"] for r in est)),  # a reward total: one type whatever its value
        "budget": state.get("budget"),
        "batch_size": state["batch_size"],
        "policy": bandit.policy,
        "reward": reward,
        "kind": state.get("kind", "campaign"),
        "migrated_from": state.get("migrated_from"),
        "label_studio_hybrid": state.get("label_studio_hybrid"),
        "sources": [
            {
                k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in {**r, "overlap": float(r["overlap"])}.items()
            }
            for r in est
        ],
        "warnings": [warn] if warn else [],
        "hybrid": hybrid,
    }


def _print_totals(folder: str, state: dict, bandit, est: list, reward: str, warn) -> None:
    """The status header: what the folder holds, warnings, the reward found, the regret if known."""
    from w2s_plugin.state import display

    rounds = state["rounds"]
    drawn = sum(r["drawn"] for r in est)
    found = sum(r["overlap"] for r in est)
    kind = display(state.get("kind"))
    budget = state.get("budget")
    what = "campaign" if kind == "Campaign" else f"{kind} state"
    print(
        f"{what} in {folder}: {len(rounds)} round(s), {drawn} point(s) drawn"
        + (f" of a budget of {budget}" if budget else "")
        + f", batch size {state['batch_size']}, policy {bandit.policy}, reward {reward}"
    )
    if warn:
        print(f"WARNING: {warn}")
    if state.get("migrated_from"):
        print(
            f"written by w2s_plugin 0.1.0 ({state['migrated_from']}); "
            "the next run rewrites it as state version 3"
        )
    total = found if isinstance(found, int) else f"{found:.1f}"
    if reward == "overlap":
        print(f"overlap points found: {total}" + (f" ({found / drawn:.1%} of drawn)" if drawn else ""))
    else:
        print(f"reward {reward}: {total} in total" + (f" ({found / drawn:.3f} per point)" if drawn else ""))
    if state.get("true_densities") and rounds:
        regret = sum(r.get("regret", 0.0) for r in rounds)
        print(
            f"cumulative regret vs the oracle: {regret:.1f} overlap points (true densities known: simulation)"
        )


def _print_last_rounds(rounds: list, n: int, reward: str) -> None:
    print()
    print(f"last {min(n, len(rounds))} round(s):")
    print(f"{'round':>5} {'source':<16} {'drawn':>6} {'overlap':>8} {'density':>8} {reward[:8]:>8}")
    for r in rounds[-n:]:
        rew = r.get("reward", r.get("density") if reward == "overlap" else None)
        rew = "-" if rew is None else format(rew, ".3f")
        print(
            f"{r['round']:>5} {r['source']:<16} {r['n']:>6} {r.get('n_overlap', 0):>8} "
            f"{r.get('density', 0.0):>8.3f} {rew:>8}"
        )


@hookimpl
def register_commands(subparsers):
    from w2s_plugin.cli import count

    camp = subparsers.add_parser(
        "campaign", help="run a multi-source campaign from a config file, or show its status"
    )
    sub = camp.add_subparsers(dest="campaign_command", metavar="ACTION")
    camp.set_defaults(func=lambda a: (camp.print_help(), 2)[1])

    r = sub.add_parser("run", help="run (or resume) the campaign a config file describes")
    r.add_argument("--config", help="campaign config (TOML; see docs/configuration.md)")
    r.add_argument(
        "--max-rounds",
        type=count("--max-rounds"),
        default=None,
        help="stop after this many rounds (resume later)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument(
        "--force-new",
        dest="force_new",
        action="store_true",
        help="start a new campaign even if campaign.state_dir holds one (the old folder is moved aside "
        "to <state_dir>.old-<time>, never deleted)",
    )
    # plugins add their options here: --scheduler (dask), --label-studio-url (Label Studio)
    plugins.add_command_options("campaign run", r)
    r.set_defaults(func=cmd_campaign_run)

    s = sub.add_parser("status", help="sources, pulls and estimated densities (95%% intervals) of a campaign")
    s.add_argument("dir", help="the campaign's state_dir")
    s.add_argument(
        "--rounds", type=count("--rounds", minimum=0), default=0, help="also list the last N rounds"
    )
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.add_argument(
        "--plot", metavar="PNG", help="a hybrid campaign: write its plot (human/weak split, audit)"
    )
    s.set_defaults(func=cmd_campaign_status)

    conf = subparsers.add_parser("config", help="check a config file")
    sub = conf.add_subparsers(dest="config_command", metavar="ACTION")
    conf.set_defaults(func=lambda a: (conf.print_help(), 2)[1])
    c = sub.add_parser("check", help="validate a config file and summarise it")
    c.add_argument("file", help="the TOML configuration file (every key: docs/configuration.md)")
    c.add_argument("--build", action="store_true", help="also load the sources and build the models")
    c.set_defaults(func=cmd_config_check)
