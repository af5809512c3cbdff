"""The plugin registry: built-ins and third-party plugins load the same way.

Every plugin, built-in or not, is a module listed in the ``vlmfer`` entry-point
group. ``VLMFER_LOAD_PLUGINS=a,b`` loads only the named entry points.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from pydantic import BaseModel, ValidationError

from vlmfer import hookspecs
from vlmfer.errors import (
    ConfigError,
    UnknownDatasetError,
    UnknownMetricError,
    UnknownNameError,
    UnknownPredictorError,
    UnknownStrategyError,
    option_problems,
)
from vlmfer.hookspecs import DatasetFactory, PredictorFactory

if TYPE_CHECKING:  # type-only: metrics sit above the registry in the pipeline
    from vlmfer.datasets.base import Dataset
    from vlmfer.metrics.base import Metric
    from vlmfer.predictors.base import Predictor
    from vlmfer.strategies.base import Strategy

Kind = Literal["predictor", "strategy", "dataset", "metric"]
KINDS: tuple[Kind, ...] = ("predictor", "strategy", "dataset", "metric")
_HOOKS: dict[Kind, str] = {
    "predictor": "register_predictors",
    "strategy": "register_strategies",
    "dataset": "register_datasets",
    "metric": "register_metrics",
}
_UNKNOWN: dict[Kind, type[UnknownNameError]] = {
    "predictor": UnknownPredictorError,
    "strategy": UnknownStrategyError,
    "dataset": UnknownDatasetError,
    "metric": UnknownMetricError,
}


@dataclass(frozen=True)
class Entry:
    """One registered name and where it came from."""

    name: str
    kind: Kind
    obj: Any
    plugin: str
    distribution: str | None
    version: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
        }


class DuplicateNameError(ConfigError):
    pass


class Registry:
    """A plugin manager plus the names its plugins registered."""

    def __init__(self, *, load_entrypoints: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._entries: dict[Kind, dict[str, Entry]] = {}
        if load_entrypoints:
            self._load_entrypoints()

    def _load_entrypoints(self) -> None:
        wanted_env = os.environ.get("VLMFER_LOAD_PLUGINS")
        wanted = None
        if wanted_env is not None:
            wanted = {w.strip() for w in wanted_env.split(",") if w.strip()}
        for ep in metadata.entry_points(group=hookspecs.PROJECT):
            if wanted is not None and ep.name not in wanted:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            module = ep.load()
            dist = ep.dist
            self.register(
                module,
                name=ep.name,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )
        # A misspelt hookimpl must fail loudly, not be ignored.
        self.pm.check_pending()

    def register(
        self,
        plugin: object,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> str:
        """Register a plugin object (a module or an instance with hookimpls)."""
        plugin_name = self.pm.register(plugin, name=name)
        if plugin_name is None:
            raise ConfigError(f"plugin {name!r} is already registered")
        self._dists[plugin_name] = (distribution, version)
        self.pm.check_pending()
        self._entries = {}
        return plugin_name

    def plugins(self) -> list[tuple[str, str | None, str | None]]:
        """Every loaded plugin as ``(name, distribution, version)``, without asking any hook."""
        return [(name, dist, version) for name, (dist, version) in self._dists.items()]

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._dists.pop(name, None)
        self._entries = {}

    def entries(self, kind: Kind) -> dict[str, Entry]:
        # Collected one kind at a time: a broken strategy plugin must not hide the metrics.
        if kind not in self._entries:
            self._entries[kind] = self._collect(kind)
        return self._entries[kind]

    def all_entries(self) -> list[Entry]:
        return [e for kind in KINDS for e in self.entries(kind).values()]

    def _collect(self, kind: Kind) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        caller = getattr(self.pm.hook, _HOOKS[kind])
        # Call each implementation ourselves so every name knows its plugin.
        for impl in reversed(caller.get_hookimpls()):
            dist, version = self._dists.get(impl.plugin_name, (None, None))

            def register(
                name: str,
                obj: Any,
                *,
                _plugin: str = impl.plugin_name,
                _dist: str | None = dist,
                _version: str | None = version,
            ) -> None:
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"plugin {_plugin!r} registered a {kind} with no name")
                if name in found:
                    other = found[name].plugin
                    raise DuplicateNameError(
                        f"{kind} {name!r} is registered by both {other!r} and {_plugin!r}; "
                        "uninstall one, or restrict loading with VLMFER_LOAD_PLUGINS"
                    )
                found[name] = Entry(name, kind, obj, _plugin, _dist, _version)

            impl.function(register=register)
        return found

    def entry(self, kind: Kind, name: str) -> Entry:
        """The registered entry, or the kind's ``Unknown*Error`` listing the valid names."""
        table = self.entries(kind)
        if name not in table:
            raise _UNKNOWN[kind](name, table)
        return table[name]

    def lookup(self, kind: Kind, name: str) -> Any:
        return self.entry(kind, name).obj

    def origin(self, kind: Kind, name: str) -> dict[str, str] | None:
        """``{"name": distribution, "version": version}`` of what registered ``name``.

        None for a plugin registered directly (``Registry.register`` in a test),
        which comes from no installed distribution.
        """
        e = self.entry(kind, name)
        if e.distribution is None:
            return None
        return {"name": e.distribution, "version": e.version or "unknown"}


_default: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = Registry()
        return _default


def reset_registry() -> None:
    """Forget the process-wide registry (it reloads on next use)."""
    global _default
    with _lock:
        _default = None


def _registry(registry: Registry | None) -> Registry:
    return registry if registry is not None else get_registry()


def _options_error(kind: str, name: str, err: ValidationError, built: object) -> ConfigError:
    """A factory's pydantic error, said as an error about ``kind`` ``name``'s options.

    The valid names are listed when the factory (or class) carries its options
    model as ``Options``, as strategies do.
    """
    model = getattr(built, "Options", None)
    valid = sorted(model.model_fields) if isinstance(model, type) and issubclass(
        model, BaseModel) else []
    listing = (f"Valid options: {', '.join(valid)}" if valid
               else f"See `vlmfer plugins` and docs/ for the options of each {kind}")
    return ConfigError(f"{kind} {name!r}: {option_problems(err.errors(), valid)}. {listing}")


def get_metric(name: str, *, registry: Registry | None = None) -> Metric:
    """Look up a metric: ``get_metric("uar")(y_true, y_pred, labels=...)``."""
    fn: Metric = _registry(registry).lookup("metric", name)
    return fn


def get_dataset(
    name: str, *, root: Any = None, split: str | None = None, registry: Registry | None = None,
    **options: Any,
) -> Dataset:
    """Build a dataset: ``get_dataset("caer-s", root="data/CAER-S", split="test")``."""
    factory: DatasetFactory = _registry(registry).lookup("dataset", name)
    try:
        return factory(root=root, split=split, **options)
    except ValidationError as e:
        raise _options_error("dataset", name, e, factory) from e


def get_strategy(name: str, *, registry: Registry | None = None, **options: Any) -> Strategy:
    """Build a strategy: ``get_strategy("two-stage", labels=CAER_LABELS)``."""
    cls: type[Strategy] = _registry(registry).lookup("strategy", name)
    try:
        return cls(**options)
    except ValidationError as e:
        raise _options_error("strategy", name, e, cls) from e


def get_predictor(spec: str, *, registry: Registry | None = None, **options: Any) -> Predictor:
    """Build a predictor from ``"provider/model"``: ``get_predictor("openai/gpt-5.1")``.

    The predictor's ``distribution`` is set to the distribution and version that
    registered its provider: it is provenance, and part of the cache key (see
    ``vlmfer.predictors.base.cache_identity_of``).
    """
    reg = _registry(registry)
    provider, sep, model = spec.partition("/")
    if not sep or not model:
        valid = sorted(reg.entries("predictor"))
        raise ConfigError(
            f"predictor {spec!r} must be written as provider/model, e.g. "
            f"'openai/gpt-5.1' or 'gemini/gemini-3.5-flash'. Providers: {', '.join(valid)}"
        )
    factory: PredictorFactory = reg.lookup("predictor", provider)
    try:
        predictor = factory(model, **options)
    except ValidationError as e:
        raise _options_error("predictor", spec, e, factory) from e
    predictor.distribution = reg.origin("predictor", provider)
    return predictor


def predictor_factories(*, registry: Registry | None = None) -> list[PredictorFactory]:
    """Every registered predictor factory (what ``vlmfer models`` reads ``known_models`` from)."""
    return [e.obj for e in _registry(registry).entries("predictor").values()]
