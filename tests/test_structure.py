"""The structure issue 13 asks for: the import boundary, the error hierarchy as the CLI shows it, one
parameter rule, the registry cache, hook docs that match the registries, and the plugin hooks that
replaced the core's imports of the integrations."""

import ast
import contextlib
import re
import types
from pathlib import Path

import numpy as np
import pytest

from w2s_plugin import OverlapDetector, detect_overlap, hookimpl, hookspecs, plugins, protocols
from w2s_plugin.cli import main
from w2s_plugin.config import ConfigError, loads_config
from w2s_plugin.errors import ConfigError as BaseConfigError
from w2s_plugin.errors import DataError, W2SError
from w2s_plugin.params import UnknownParameterError, accepts, check_params, supported

ROOT = Path(__file__).resolve().parents[1]


# --- the one-way boundary -------------------------------------------------------------------------

INTEGRATION = re.compile(r"^(w2s_plugin\.integrations|integrations|\.+integrations)(\.|$)")


def _integration_imports(source: str, filename: str):
    """(line, name) of every import of an integration module, and of every string naming one
    (``importlib.import_module("w2s_plugin.integrations.dask")``)."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names = [base] + [base + a.name if base.endswith(".") else f"{base}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"w2s_plugin\.integrations(\.\w+)*", node.value)
        ):
            names = [node.value]
        for n in names:
            if INTEGRATION.match(n):
                yield node.lineno, n


def test_core_and_builtins_never_import_an_integration():
    offenders = []
    for folder in ("w2s_plugin", "hooks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for lineno, name in _integration_imports(path.read_text(encoding="utf-8"), str(path)):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    assert not offenders, "dispatch through a hook instead:\n" + "\n".join(offenders)


def _front_end_state_names() -> set[str]:
    """Kind names, display names and 0.1.0 file names of the state kinds the integrations register."""
    out = set()
    for name, e in plugins.get_registry("state_kinds").items():
        if e.plugin not in plugins.BUILTIN_PLUGINS:
            out |= {name, e.obj.display} | ({e.obj.legacy_file} if e.obj.legacy_file else set())
    return out


def _state_kind_mentions(source: str, filename: str, names: set[str]):
    """(line, text) of every string constant of the core that names a front-end's state kind."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            yield node.lineno, node.value


def test_core_names_no_front_end_state_kind():
    """Front-ends register their state kinds and migrations (register_state_kinds); the core and
    the built-ins never name one, so a new integration that saves state needs no core edit."""
    names = _front_end_state_names()
    assert {"modal", "label_studio", "learner_state.json", "label_studio_campaign.json"} <= names
    offenders = []
    for folder in ("w2s_plugin", "hooks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for lineno, text in _state_kind_mentions(path.read_text(encoding="utf-8"), str(path), names):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} names {text!r}")
    assert not offenders, "register the kind from the front-end's package instead:\n" + "\n".join(offenders)
    bad = 'KINDS = {"modal": "learner_state.json"}\nowner = "Label Studio CampaignDriver"\n'
    assert {t for _, t in _state_kind_mentions(bad, "x.py", names)} == {
        "modal",
        "learner_state.json",
        "Label Studio CampaignDriver",
    }


def test_the_boundary_check_catches_every_form():
    src = (
        "from w2s_plugin.integrations.dask import detect\nfrom .integrations.dask.detect import fit\n"
        "import w2s_plugin.integrations.label_studio.driver\nfrom w2s_plugin import integrations\n"
        "from . import integrations\nimportlib.import_module('w2s_plugin.integrations.dask')\n"
        "from . import plugins\nx = 'the integrations'\n"
    )
    assert sorted({ln for ln, _ in _integration_imports(src, "fake.py")}) == [1, 2, 3, 4, 5, 6]


# --- errors: one line for a user mistake, a traceback for a bug ------------------------------------


class Raiser:
    """A plugin command that raises what it is told to."""

    def __init__(self):
        self.exc = None

    @hookimpl
    def register_commands(self, subparsers):
        p = subparsers.add_parser("boom")
        p.set_defaults(func=self.run)

    def run(self, args):
        raise self.exc


@pytest.fixture
def boom(plugin_env):
    r = Raiser()
    plugins.register(r, name="raiser")
    return r


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "exc",
    [
        ZeroDivisionError("division by zero"),
        KeyError("k"),
        TypeError("t"),
        ValueError("a plain ValueError from a plugin is a bug too"),
    ],
)
def test_an_internal_bug_shows_its_traceback(boom, capsys, exc):
    boom.exc = exc
    code, err = _run(capsys, "boom")
    assert code == 1
    assert err.startswith("Traceback (most recent call last):") and type(exc).__name__ in err
    assert err.rstrip().splitlines()[-1].startswith("w2s boom: internal error (a bug;")


@pytest.mark.parametrize(
    "exc",
    [
        W2SError("bad input"),
        DataError("bad input"),
        BaseConfigError("bad input"),
        ConfigError("c.toml", "seed", "an integer", "x"),
        FileNotFoundError("no such file: x.npy"),
        plugins.PluginError("plugin 'p' broke"),
    ],
)
def test_a_user_mistake_is_one_line(boom, capsys, exc):
    boom.exc = exc
    code, err = _run(capsys, "boom")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("w2s boom: error: ") and str(exc) in err
    code, err = _run(capsys, "--debug", "boom")  # --debug: the traceback too
    assert code == 2 and err.startswith("Traceback") and err.rstrip().endswith(f"w2s boom: error: {exc}")


def test_debug_shows_a_bugs_traceback_too(boom, capsys):
    boom.exc = ZeroDivisionError("x")
    code, err = _run(capsys, "--debug", "boom")
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err


def test_a_plain_valueerror_is_a_bug_with_a_traceback(boom, capsys):
    """No module is let off: a plain ValueError reaching the CLI is a bug, shown with its traceback."""

    def run(args):
        raise ValueError("an internal invariant broke")

    boom.run = run
    code, err = _run(capsys, "boom")
    assert code == 1 and "Traceback" in err and "internal error" in err


def test_a_library_user_mistake_is_one_line(boom, capsys):
    """What was a plain ValueError inside w2s_plugin.overlap is a DataError now: one line."""
    from w2s_plugin import overlap

    def run(args):
        overlap.change_point_threshold([0.1, float("nan")])

    boom.run = run
    code, err = _run(capsys, "boom")
    assert code == 2 and err.count("\n") == 1 and err.startswith("w2s boom: error: ")


def test_swept_modules_raise_w2s_errors_for_user_mistakes():
    """The modules swept for issue 13 are out of the transitional list: their user mistakes are W2SErrors."""
    from w2s_plugin import Source, SourceBandit
    from w2s_plugin.errors import StateError
    from w2s_plugin.rewards import make_reward

    with pytest.raises(W2SError, match="at least one source"):
        SourceBandit([])
    with pytest.raises(W2SError, match="unknown source 'c'"):
        SourceBandit(["a"]).update("c", 1, 0)
    with pytest.raises(DataError, match="is empty"):
        Source("a", np.empty((0, 2)))
    with pytest.raises(StateError, match="different order"):
        Source("a", np.ones((5, 2)), random_state=1).load_state(
            Source("a", np.ones((5, 2)), random_state=2).state()
        )
    with pytest.raises(W2SError, match="unknown reward"):
        make_reward("nope")


def test_library_errors_are_w2s_errors_and_still_valueerrors(weak_mixture):
    m, P, _ = weak_mixture(20, None, seed=0, max_iter=500)
    with pytest.raises(DataError) as ei:
        detect_overlap(P, m.X[:59])
    assert isinstance(ei.value, ValueError)
    with pytest.raises(W2SError, match="unknown overlap scorer 'nope'"):
        detect_overlap(P, m.X, scorer="nope")
    with pytest.raises(BaseConfigError):
        loads_config("seed = 'x'\n")


# --- one parameter rule ------------------------------------------------------------------------------


def test_one_rule_for_unknown_missing_and_unreadable_signatures():
    def f(values, *, q=0.5, random_state=None):
        return 0.0

    check_params(f, {"q": 1}, "rule 'f'", skip=1)
    with pytest.raises(
        UnknownParameterError,
        match=r"^rule 'f' got unknown parameter\(s\) qq; it accepts: "
        r"q$",
    ) as ei:
        check_params(f, {"qq": 1}, "rule 'f'", skip=1, supplied=("random_state",))
    assert ei.value.unknown == ["qq"] and isinstance(ei.value, W2SError)
    with pytest.raises(UnknownParameterError, match="it takes no parameters"):
        check_params(lambda values: 0.0, {"q": 1}, "rule 'g'", skip=1)
    check_params(lambda values, **kw: 0.0, {"anything": 1}, "rule 'h'", skip=1)  # **kwargs takes all
    assert supported(f, {"random_state": 3, "chunk_size": 9}, skip=1) == {"random_state": 3}
    assert supported(lambda v, **kw: 0, {"random_state": 3}, skip=1) == {"random_state": 3}
    # an unreadable signature: the user's parameters go through (the call decides), nothing is added
    assert accepts(max, "key") is False and supported(max, {"key": abs}) == {}
    check_params(max, {"whatever": 1}, "builtin")


def test_threshold_params_a_rule_does_not_take_are_one_clear_error(weak_mixture):
    m, P, _ = weak_mixture(30, None, seed=0, max_iter=500)
    msg = r"^threshold rule 'change_point' got unknown parameter\(s\) q; it accepts: min_size$"
    with pytest.raises(UnknownParameterError, match=msg):
        detect_overlap(P, m.X, threshold_params={"q": 0.3})


def test_a_source_loader_written_to_the_hookspec_loads_from_a_config_file(plugin_env, tmp_path):
    """``loader(location, name, **params)`` with no shuffle/random_state works from a config file."""
    from w2s_plugin import Source

    seen = {}

    class Minimal:
        @hookimpl
        def register_sources(self, register):
            def load(location, name, scale=1.0):
                seen["scale"] = scale
                return Source(name, np.arange(12, dtype=float).reshape(6, 2) * scale)

            register("minimal", load)

    plugins.register(Minimal(), name="minimal")
    cfg = loads_config(
        '[[sources]]\ntype = "minimal"\nname = "m"\nparams = { scale = 2.0 }\n', base_dir=tmp_path
    )
    (src,) = cfg.build_sources()
    assert seen == {"scale": 2.0} and src.name == "m" and len(src) == 6
    with pytest.raises(ConfigError, match=r"sources\[0\]\.params\.scal: expected a parameter of source type"):
        loads_config('[[sources]]\ntype = "minimal"\nparams = { scal = 2.0 }\n', base_dir=tmp_path)


# --- the registry cache ------------------------------------------------------------------------------


def test_registries_are_built_once_per_plugin_set(plugin_env, weak_mixture):
    calls = {"scorers": 0, "thresholds": 0}

    class Counting:
        @hookimpl
        def register_overlap_scorers(self, register):
            calls["scorers"] += 1

        @hookimpl
        def register_thresholds(self, register):
            calls["thresholds"] += 1

    counting = Counting()
    plugins.register(counting, name="counting")
    assert calls == {"scorers": 1, "thresholds": 1}  # register() builds the kinds it adds to, once
    m, P, _ = weak_mixture(30, None, seed=0, max_iter=500)
    for _ in range(10):  # scorers and thresholds alternate inside each call
        detect_overlap(P, m.X, random_state=0)
    assert calls == {"scorers": 1, "thresholds": 1}
    other = types.SimpleNamespace()  # a plugin with no hooks still changes the set: rebuilt once
    plugins.register(other, name="other")
    detect_overlap(P, m.X, random_state=0)
    detect_overlap(P, m.X, random_state=0)
    assert calls == {"scorers": 2, "thresholds": 2}
    plugins.unregister(name="other")
    detect_overlap(P, m.X, random_state=0)
    assert calls == {"scorers": 3, "thresholds": 3}


# --- hook docs and contracts --------------------------------------------------------------------------


def _documented_builtins(hook: str) -> set[str]:
    doc = " ".join(getattr(hookspecs, hook).__doc__.split())
    m = re.search(r"Built-in:(.*?)(?:\.\s|\.$|$)", doc)
    assert m, f"hookspecs.{hook} needs a 'Built-in:' list"
    return set(re.findall(r"``(\w+)``", m.group(1)))


@pytest.mark.parametrize("kind", sorted(plugins.KINDS))
def test_hookspec_builtin_lists_match_the_registries(kind):
    registered = {
        name for name, e in plugins.get_registry(kind).items() if e.plugin in plugins.BUILTIN_PLUGINS
    }
    assert _documented_builtins(plugins.KINDS[kind]) == registered


def test_builtins_satisfy_their_protocols():
    for name, e in plugins.get_registry("overlap_scorers").items():
        assert isinstance(e.obj(), protocols.OverlapScorer), name
    for name, e in plugins.get_registry("bandit_policies").items():
        obj = e.obj(densities=[0.5]) if name == "oracle" else e.obj()
        assert isinstance(obj, protocols.BanditPolicy), name
    backend = plugins.pm.hook.w2s_array_backend(data=type("X", (), {"__module__": "dask.array.core"})())
    assert isinstance(backend, protocols.ArrayBackend)
    assert "protocols.py" in hookspecs.__doc__


# --- the hooks that replaced the core's imports -------------------------------------------------------


def test_a_plugin_answers_array_backend_for_its_own_array_type(plugin_env, weak_mixture):
    class Wrapped:
        def __init__(self, a):
            self.a = a

    calls = []

    class Backend:
        def fit_detector(self, detector, proba, embeddings):
            calls.append("fit")
            return detector.fit(proba.a, embeddings.a)

        def predict_report(self, detector, proba, embeddings):
            calls.append("predict")
            return detector.predict_report(proba.a, embeddings.a)

    class Plugin:
        @hookimpl
        def w2s_array_backend(self, data):
            return Backend() if isinstance(data, Wrapped) else None

    plugins.register(Plugin(), name="wrapped")
    m, P, _ = weak_mixture(60, None, seed=1, max_iter=500)
    plain = OverlapDetector(random_state=0).fit(P, m.X).report_
    det = OverlapDetector(random_state=0).fit(Wrapped(P), Wrapped(m.X))
    assert np.array_equal(det.report_.regions, plain.regions)
    assert np.array_equal(det.predict_report(Wrapped(P), Wrapped(m.X)).regions, plain.regions)
    assert calls == ["fit", "predict"]
    assert plugins.array_backend(P, m.X) is None  # numpy never reaches the hook


def test_a_plugin_adds_a_config_table(plugin_env, tmp_path):
    from w2s_plugin.config import Key

    checked = []

    class Table:
        @hookimpl
        def register_config_tables(self, register):
            def validate(cfg, table):
                checked.append(dict(table))
                if table.get("level", 0) > 3:
                    raise cfg.error("audit.level", "a level <= 3", table["level"])

            register(
                "audit",
                [
                    Key("audit", (dict,), "a table", "Audit settings."),
                    Key("audit.level", (int,), "an integer", "How much to log.", default=1),
                    Key("audit.log_dir", (str,), "a directory", "Where logs go."),
                ],
                validate=validate,
                path_keys=("log_dir",),
            )

    plugins.register(Table(), name="audit")
    cfg = loads_config('[audit]\nlevel = 2\nlog_dir = "logs"\n', base_dir=tmp_path)
    assert cfg.get("audit.level") == 2 and cfg.get("audit.log_dir") == str((tmp_path / "logs").resolve())
    assert loads_config("[audit]\n").get("audit.level") == 1  # the plugin's default
    for text, key in (
        ("levl = 2", "audit.levl"),
        ('level = "x"', "audit.level"),
        ("level = 9", "audit.level"),
    ):
        with pytest.raises(ConfigError) as ei:
            loads_config("[audit]\n" + text + "\n")
        assert ei.value.key == key
    plugins.unregister(name="audit")
    with pytest.raises(ConfigError, match="a known top-level key"):
        loads_config("[audit]\nlevel = 2\n")


def test_a_plugin_adds_options_to_a_builtin_command(plugin_env, capsys, tmp_path):
    ran = []

    @contextlib.contextmanager
    def traced():
        ran.append("enter")
        yield
        ran.append("exit")

    class Opt:
        @hookimpl
        def add_command_options(self, command, parser):
            if command == "detect":
                parser.add_argument("--remote", default=None)

        @hookimpl
        def command_context(self, command, args):
            if command == "detect" and args.remote == "bad":
                raise W2SError("--remote bad: no such host")
            if command == "detect" and args.remote is None:
                return traced()
            return None

        @hookimpl
        def w2s_run_command(self, command, args, config):
            if command == "detect" and args.remote:
                ran.append(args.remote)
                return 0
            return None

    plugins.register(Opt(), name="opt")
    np.save(tmp_path / "p.npy", np.full((4, 2), 0.5))
    np.save(tmp_path / "e.npy", np.eye(4))
    files = ["--proba", str(tmp_path / "p.npy"), "--embeddings", str(tmp_path / "e.npy")]
    assert main(["detect", *files, "--remote", "gpu-box"]) == 0 and ran == ["gpu-box"]
    assert main(["detect", *files, "--remote", "bad"]) == 2
    assert capsys.readouterr().err == "w2s detect: error: --remote bad: no such host\n"
    assert ran == ["gpu-box"]  # rejected before the work
    assert main(["detect", *files]) == 0  # the built-in runs, inside the plugin's context
    assert ran == ["gpu-box", "enter", "exit"] and "overlap density" in capsys.readouterr().out


# --- docs stand alone -----------------------------------------------------------------------------

PAPER_MD_LEFT: set = set()


def test_nothing_cites_a_paper_file_outside_the_repository():
    cited = set()
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    folders = ("w2s_plugin", "hooks", "integrations", "docs", "tests", "benchmarks", "examples", "scripts")
    for folder in folders:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml", ".sh")]
    for path in files:
        if "PAPER" + ".md" in path.read_text(encoding="utf-8", errors="replace"):
            cited.add(path.relative_to(ROOT).as_posix())
    assert cited <= PAPER_MD_LEFT, f"cite docs/method.md instead: {sorted(cited - PAPER_MD_LEFT)}"
    method = (ROOT / "docs" / "method.md").read_text(encoding="utf-8")
    assert "2412.03881" in method and "rms_cosine" in method and "max_cosine" in method
