"""The Label Studio integration as a w2s plugin (entry point ``label_studio``).

Adds ``w2s serve`` (the ML backend over HTTP), the ``text_hashing`` model type (the default text
representation, usable in any config), the ``label-studio://<project id>`` source scheme, the
``[label_studio]`` config table, and ``--label-studio-url/--project/--api-key`` on
``w2s campaign run`` (which then fills a Label Studio project instead of running locally).
Flask, gunicorn and the SDK are imported only when used, so ``w2s`` works without the extra.
"""

from __future__ import annotations

import os
import sys

from w2s_plugin.errors import W2SError, install_hint
from w2s_plugin.hookspecs import hookimpl

#: The package is not on PyPI: the hint works from a checkout.
INSTALL = install_hint("label-studio")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    import ipaddress

    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, environ=None) -> str | None:
    """The warning ``w2s serve`` prints when it listens beyond loopback without basic auth, else None."""
    env = os.environ if environ is None else environ
    if is_loopback(host) or (env.get("BASIC_AUTH_USER") and env.get("BASIC_AUTH_PASS")):
        return None
    return (
        f"warning: serving on {host} without authentication: anyone who can reach this port can read "
        "predictions, post annotations and reconfigure projects; set BASIC_AUTH_USER and BASIC_AUTH_PASS "
        "(and the same user and password in Label Studio's model connection) or bind to 127.0.0.1"
    )


def _bind(host: str, port: int):
    """The listening socket, bound before anything is printed or loaded: a busy port is one line."""
    import errno
    import socket

    from w2s_plugin.cli import CLIError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CLIError(f"cannot bind {host}:{port}: unknown host ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CLIError(
                f"port {port} on {host} is already in use (another w2s serve or Label Studio?); "
                "stop it or pick another with --port"
            ) from None
        raise CLIError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    return sock


def _serve(args) -> int:
    from w2s_plugin.cli import CLIError

    try:
        from .app import create_app
        from .config import backend_from_config, load_config
    except ImportError:
        raise CLIError(f"this command needs the label-studio extra: {INSTALL}") from None
    config = load_config(args.config)
    sock = _bind(args.host, args.port)
    backend = backend_from_config(config, model_dir=args.model_dir or os.environ.get("MODEL_DIR"))
    # loads the models (the embedding model takes a few seconds)
    app = create_app(backend, max_request_mb=(config.get("label_studio") or {}).get("max_request_mb"))
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    where = backend.model_dir
    if where is None:
        where = "memory only (set MODEL_DIR or --model-dir to keep state)"
    port = sock.getsockname()[1]
    print(
        f"w2s ML backend on http://{args.host}:{port} (state: {where}; text representation: "
        f"{type(backend.embedder).__name__}); connect it in Label Studio: Settings > Model > Connect model",
        flush=True,
    )
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        BaseApplication = None
    if BaseApplication is None or args.dev:
        from werkzeug.serving import make_server

        make_server(args.host, port, app, threaded=True, fd=sock.fileno()).serve_forever()
        return 0
    sock.set_inheritable(True)

    class _Gunicorn(BaseApplication):
        def load_config(self):
            # one process (state lives in it) with threads; the state on disk is shared safely anyway.
            # gunicorn listens on the socket bound above; no control socket (gunicorn 23+ puts one in
            # ~/.gunicorn, shared by every server of the user)
            settings = {
                "bind": f"fd://{sock.fileno()}",
                "workers": args.workers,
                "threads": args.threads,
                "timeout": 120,
                "accesslog": "-" if args.access_log else None,
                "control_socket_disable": True,
            }
            for k, v in settings.items():
                if k in self.cfg.settings:
                    self.cfg.set(k, v)

        def load(self):
            return app

    _Gunicorn().run()
    return 0


@hookimpl
def register_commands(subparsers):
    from w2s_plugin.cli import count

    p = subparsers.add_parser(
        "serve", help="serve the Label Studio ML backend (weak labels scored by overlap density)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any other address needs BASIC_AUTH_USER/BASIC_AUTH_PASS",
    )
    p.add_argument(
        "--port", type=count("--port", minimum=1, maximum=65535), default=9090, help="port (default 9090)"
    )
    p.add_argument(
        "--config", default=None, help="TOML file with a [label_studio] table (docs/label_studio.md)"
    )
    p.add_argument("--model-dir", default=None, help="per-project state directory (default: $MODEL_DIR)")
    p.add_argument(
        "--workers", type=count("--workers"), default=1, help="gunicorn worker processes (default 1)"
    )
    p.add_argument("--threads", type=count("--threads"), default=8, help="threads per worker (default 8)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--dev", action="store_true", help="use Flask's development server instead of gunicorn")
    p.set_defaults(func=_serve)


def text_hashing_model(n_features: int = 512, ngram_range=(1, 1)):
    """Hashed word counts of a text, unit-normalised: a stateless text representation."""
    from .text import HashingTextEmbedder

    return HashingTextEmbedder(n_features=n_features, ngram_range=tuple(ngram_range))


def sentence_embedding_model(
    model_dir: str | None = None, batch_size: int = 64, torch_threads: int | None = None
):
    """A sentence-embedding model (default: all-MiniLM-L6-v2 from the ``embed`` extra), loaded offline."""
    from .embedding import SentenceEmbedder

    return SentenceEmbedder(model_dir=model_dir, batch_size=batch_size, torch_threads=torch_threads)


@hookimpl
def register_models(register):
    register("text_hashing", text_hashing_model)
    register("sentence_embedding", sentence_embedding_model)


def load_label_studio_source(location, name=None, url=None, api_key=None, shuffle=True, random_state=0, **_):
    """``label-studio://<project id>``: the tasks of another Label Studio project (URL and key from
    the params or ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY``)."""
    from .driver import make_client, project_source

    pid = str(location).split("://", 1)[-1].strip("/")
    if not pid.isdigit():
        raise W2SError(f"a Label Studio source is label-studio://<project id>; got {location!r}")
    client = make_client(
        url or os.environ.get("LABEL_STUDIO_URL"), api_key or os.environ.get("LABEL_STUDIO_API_KEY")
    )
    return project_source(
        client,
        int(pid),
        name=name if name and name != pid else None,
        shuffle=shuffle,
        random_state=random_state,
    )


@hookimpl
def register_sources(register):
    register("label_studio", load_label_studio_source, schemes=("label-studio",))


# --- w2s campaign run --label-studio-url ... -------------------------------------------------------


@hookimpl
def add_command_options(command, parser):
    if command != "campaign run":
        return
    ls = parser.add_argument_group(
        "Label Studio",
        "fill a Label Studio project instead of a local campaign (its state goes to "
        f"<campaign.state_dir>/label-studio-<project>); needs the label-studio extra: {INSTALL}",
    )
    ls.add_argument("--label-studio-url", default=None, help="Label Studio URL, e.g. http://localhost:8080")
    ls.add_argument("--project", default=None, help="id of the annotation project to fill")
    ls.add_argument(
        "--api-key",
        default=os.environ.get("LABEL_STUDIO_API_KEY") or os.environ.get("LABEL_STUDIO_ACCESS_TOKEN"),
        help="Label Studio API token (default: $LABEL_STUDIO_API_KEY or $LABEL_STUDIO_ACCESS_TOKEN)",
    )


@hookimpl
def w2s_run_command(command, args, config):
    """``campaign run --label-studio-url URL --project ID``: the campaign driver fills that project."""
    if command != "campaign run":
        return None
    from w2s_plugin.cli import CLIError

    if not getattr(args, "label_studio_url", None):
        if getattr(args, "project", None):
            raise CLIError("--project only applies with --label-studio-url")
        return None
    if not args.project:
        raise CLIError("--label-studio-url needs --project ID (the Label Studio project to fill)")
    if not args.api_key:
        raise CLIError(
            "--label-studio-url needs an API key: pass --api-key or set LABEL_STUDIO_API_KEY "
            "(or LABEL_STUDIO_ACCESS_TOKEN)"
        )
    try:
        import label_studio_sdk  # noqa: F401  (the client the driver talks through)

        from . import campaign_cli
    except ImportError:
        raise CLIError(f"--label-studio-url needs the label-studio extra: {INSTALL}") from None
    return int(campaign_cli.run_from_cli(args, config) or 0)


# --- the [label_studio] config table ----------------------------------------------------------------


def _keywords(v) -> bool:
    return all(isinstance(k, list) and all(isinstance(w, str) and w.strip() for w in k) for k in v.values())


def config_keys() -> list:
    """The documented keys of ``[label_studio]`` (docs/configuration.md lists each one)."""
    from w2s_plugin.config import Key

    from .queue import config_keys as hybrid_keys

    table = Key(
        "label_studio",
        (dict,),
        "a table",
        "The Label Studio ML backend and campaign driver (docs/label_studio.md).",
    )
    return [table, *_backend_keys(), *hybrid_keys(), *_limit_keys()]  # hybrid_keys: the driver's hybrid mode


def _backend_keys() -> list:
    """The backend's model: cold-start keywords, text field, state folder, strategy, detector, weak model."""
    from w2s_plugin.config import Key

    table, text, num = (dict,), (str,), (int, float)
    return [
        Key(
            "label_studio.keywords",
            table,
            "a table of choice = [words or phrases]",
            "Cold-start keywords of the weak keyword voter, per choice of the labeling config.",
            check=_keywords,
        ),
        Key(
            "label_studio.text_column",
            text,
            "a column name",
            "Field of a source record holding the text (default: the labeling config's ``$variable``).",
        ),
        Key(
            "label_studio.model_dir",
            text,
            "a directory path",
            "Backend state directory (``MODEL_DIR`` overrides it; driver default: ``state_dir/model``).",
        ),
        Key(
            "label_studio.strategy",
            text,
            "a registered acquisition strategy",
            "Strategy behind the prediction score (default: ``acquisition.strategy``).",
        ),
        Key(
            "label_studio.detector",
            table,
            "a table",
            "OverlapDetector parameters of the backend (default: [detector]).",
        ),
        Key(
            "label_studio.pool_size",
            (int,),
            "an integer >= 2",
            "Texts kept per project to fit detection on.",
            default=2000,
            check=lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2,
        ),
        Key(
            "label_studio.C",
            num,
            "a positive number",
            "Inverse L2 strength of the retrained weak model.",
            default=1.0,
            check=lambda v: not isinstance(v, bool) and v > 0,
        ),
        Key(
            "label_studio.embedder",
            table,
            "a model table with a type",
            'The strong text representation (default ``{ type = "text_hashing" }``).',
            check=lambda v: "type" in v,
        ),
        Key("label_studio.random_state", (int,), "an integer", "Seed of the backend (default: ``seed``)."),
    ]


def _limit_keys() -> list:
    """The bounds on what the backend keeps and accepts."""
    from w2s_plugin.config import Key

    return [
        Key(
            "label_studio.max_text_chars",
            (int,),
            "a positive integer",
            "Longest text kept in the backend's state (pool and annotations); longer ones are scored "
            "whole but stored as their beginning, so state.json stays bounded.",
            default=20_000,
            check=lambda v: not isinstance(v, bool) and v >= 1,
        ),
        Key(
            "label_studio.max_request_mb",
            (int, float),
            "a number of MB > 0",
            "Largest request body ``w2s serve`` accepts (413 above it; ``W2S_MAX_REQUEST_MB`` overrides it).",
            default=32,
            check=lambda v: not isinstance(v, bool) and 0 < v < 1e6,
        ),
    ]


def validate_table(cfg, table: dict) -> None:
    """What the key checks cannot see: the strategy must be registered (keywords are checked against
    the labeling config once the project is known)."""
    if "strategy" in table:
        cfg.check_name(
            "acquisition_strategies", table["strategy"], "label_studio.strategy", "acquisition strategy"
        )


@hookimpl
def register_config_tables(register):
    register("label_studio", config_keys(), validate=validate_table, path_keys=("model_dir",))


@hookimpl
def register_state_kinds(register):
    from .state import KIND

    register("label_studio", KIND)
