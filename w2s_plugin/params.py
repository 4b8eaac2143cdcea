"""Parameters (public, for plugin authors): reading what a callable accepts, rejecting what it
does not, and scikit-learn's parameter protocol derived from ``__init__``.

Every place that hands user parameters to a plugin's factory or function (scorers, threshold
rules, strategies, policies, source loaders, model types, config validation) goes through
:func:`check_params` and :func:`supported`, so they agree on one rule:

* a typo is an error naming the accepted parameters (never silently ignored);
* a ``**kwargs`` callable accepts everything, including the keywords the library supplies itself;
* a callable whose signature cannot be read (a builtin, some C extensions) gets the user's
  parameters as given (the call decides) and none of the optional keywords the library supplies.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from .errors import W2SError

__all__ = [
    "ParamsMixin",
    "UnknownParameterError",
    "accepts",
    "check_call",
    "check_params",
    "required_params",
    "signature_params",
    "supported",
]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class UnknownParameterError(W2SError):
    """A parameter the callable does not take; ``unknown`` and ``accepted`` say which."""

    def __init__(self, message: str, unknown: list[str], accepted: list[str]):
        super().__init__(message)
        self.unknown = unknown
        self.accepted = accepted


def signature_params(func: Callable, skip: int = 0) -> tuple[list[str], bool] | None:
    """``(names, takes_var_keyword)`` of ``func``'s keyword-passable parameters after its first
    ``skip`` parameters, or ``None`` when the signature cannot be read."""
    try:
        params = list(inspect.signature(func).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    return [p.name for p in params if p.kind in _NAMED], any(p.kind is p.VAR_KEYWORD for p in params)


def accepts(func: Callable, name: str, skip: int = 0) -> bool:
    """Whether ``func`` surely takes keyword ``name`` (``False`` when the signature is unreadable)."""
    sig = signature_params(func, skip)
    return sig is not None and (name in sig[0] or sig[1])


def supported(func: Callable, supplied: dict, skip: int = 0) -> dict:
    """The keywords of ``supplied`` (values the library provides, e.g. ``random_state``) that
    ``func`` takes: all of them for ``**kwargs``, none when the signature is unreadable."""
    return {k: v for k, v in supplied.items() if accepts(func, k, skip)}


def required_params(func: Callable, skip: int = 0) -> list[str]:
    """Keyword-passable parameters of ``func`` (after ``skip``) without a default."""
    try:
        params = list(inspect.signature(func).parameters.values())[skip:]
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in _NAMED and p.default is p.empty]


def check_params(
    func: Callable, params, what: str, *, skip: int = 0, supplied=(), suggest: bool = False
) -> None:
    """Raise :class:`UnknownParameterError` when ``params`` holds a name ``func`` does not take.

    ``what`` names the thing in the message ("overlap scorer 'subspace'"); ``skip`` leading
    positional parameters are the library's (``location``, ``values``, ...); names in
    ``supplied`` are keywords the library passes itself, left out of the "it accepts" list;
    ``suggest`` adds a "did you mean" hint for a near miss.
    """
    sig = signature_params(func, skip)
    if sig is None or sig[1]:
        return
    names = sig[0]
    unknown = [str(k) for k in params if k not in names]
    if unknown:
        user = [n for n in names if n not in supplied]
        hints = ""
        if suggest:
            hints = "".join(
                f" (did you mean {m[0]!r} for {k!r}?)"
                for k in unknown
                for m in [difflib.get_close_matches(k, user, 1)]
                if m
            )
        raise UnknownParameterError(
            f"{what} got unknown parameter(s) {', '.join(unknown)}{hints}; "
            + (f"it accepts: {', '.join(user)}" if user else "it takes no parameters"),
            unknown,
            user,
        )


def check_call(
    func: Callable, params, what: str, *, skip: int = 0, supplied=(), suggest: bool = False
) -> None:
    """:func:`check_params`, and every parameter ``func`` requires is in ``params`` or ``supplied``:
    what to run before ``func(*library_args, **params)`` so a user's mistake is one clear line."""
    check_params(func, params, what, skip=skip, supplied=supplied, suggest=suggest)
    missing = [n for n in required_params(func, skip) if n not in params and n not in supplied]
    if missing:
        raise W2SError(f"{what} needs parameter(s) {', '.join(missing)}; give them a value")


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``__repr__`` for estimators that store every ``__init__``
    argument under its own name (so ``sklearn.base.clone`` works), with a clear error on a typo."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items() if n != "self" and p.kind is not p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise W2SError(f"{type(self).__name__} has no parameter {k!r}; valid: {', '.join(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = {n: p.default for n, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = {
            k: v for k, v in self.get_params().items() if v is not defaults.get(k) and v != defaults.get(k)
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
