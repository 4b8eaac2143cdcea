"""The Label Studio integration as a w2s plugin (entry point ``label_studio``).

Adds ``w2s serve`` (the ML backend over HTTP), the ``text_hashing`` model type (the default text
representation, usable in any config) and the ``label-studio://<project id>`` source scheme.
Flask, gunicorn and the SDK are imported only when used, so ``w2s`` works without the extra.
"""

from __future__ import annotations

import os

from w2s_plugin.hookspecs import hookimpl

INSTALL = "pip install 'w2s-plugin[label-studio]'"


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
            raise CLIError(f"port {port} on {host} is already in use (another w2s serve or Label Studio?); "
                           "stop it or pick another with --port") from None
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
    app = create_app(backend)  # loads the models (the embedding model takes a few seconds)
    where = "memory only (set MODEL_DIR or --model-dir to keep state)" if backend.model_dir is None else backend.model_dir
    port = sock.getsockname()[1]
    print(f"w2s ML backend on http://{args.host}:{port} (state: {where}; text representation: "
          f"{type(backend.embedder).__name__}); connect it in Label Studio: Settings > Model > Connect model",
          flush=True)
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
            settings = {"bind": f"fd://{sock.fileno()}", "workers": args.workers, "threads": args.threads,
                        "timeout": 120, "accesslog": "-" if args.access_log else None,
                        "control_socket_disable": True}
            for k, v in settings.items():
                if k in self.cfg.settings:
                    self.cfg.set(k, v)

        def load(self):
            return app

    _Gunicorn().run()
    return 0


@hookimpl
def register_commands(subparsers):
    p = subparsers.add_parser("serve", help="serve the Label Studio ML backend (weak labels scored by overlap density)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    p.add_argument("--config", default=None, help="TOML file with a [label_studio] table (docs/label_studio.md)")
    p.add_argument("--model-dir", default=None, help="per-project state directory (default: $MODEL_DIR)")
    p.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    p.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--dev", action="store_true", help="use Flask's development server instead of gunicorn")
    p.set_defaults(func=_serve)


def text_hashing_model(n_features: int = 512, ngram_range=(1, 1)):
    """Hashed word counts of a text, unit-normalised: a stateless text representation."""
    from .text import HashingTextEmbedder

    return HashingTextEmbedder(n_features=n_features, ngram_range=tuple(ngram_range))


def sentence_embedding_model(model_dir: str | None = None, batch_size: int = 64, torch_threads: int | None = None):
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
        raise ValueError(f"a Label Studio source is label-studio://<project id>; got {location!r}")
    client = make_client(url or os.environ.get("LABEL_STUDIO_URL"), api_key or os.environ.get("LABEL_STUDIO_API_KEY"))
    return project_source(client, int(pid), name=name if name and name != pid else None,
                          shuffle=shuffle, random_state=random_state)


@hookimpl
def register_sources(register):
    register("label_studio", load_label_studio_source, schemes=("label-studio",))
