"""On-disk cache of the trade forecast (the run's only statsmodels fit).

The ETS fit of the monthly export index is the same for every run on the same trade data
as of the same quarter, and importing statsmodels and fitting costs about a second — a
fifth of a run on the shipped inputs. :func:`cached_forecaster` wraps
:func:`stressmodel.model.forecast.forecast_export_index` so that a second run on the same
inputs reads the fitted path from a small JSON file instead.

The key is the SHA-256 of everything the result depends on: the exact series fitted (the
months and index values derived from ``trade.csv`` up to the as-of month — a finer key
than the file's checksum and the as-of quarter, which determine it), the horizon and
interval, the source of the forecast module, and the versions of stressmodel,
statsmodels, scipy and numpy. A hit returns the same floats (JSON keeps a float's
shortest repr, which round-trips exactly), so a cached run writes the same files as an
uncached one.

Location: ``$STRESSMODEL_CACHE`` if set (``off`` disables the cache), else
``$XDG_CACHE_HOME/stressmodel`` or ``~/.cache/stressmodel``. A cache that cannot be read
or written is ignored (the forecast is fitted as before); a damaged entry is refitted
and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stressmodel.model import forecast as forecast_module
from stressmodel.model.forecast import ExportForecast, forecast_export_index

CACHE_FORMAT = 1
ENV = "STRESSMODEL_CACHE"

Forecaster = Callable[..., ExportForecast]


def default_cache_dir() -> Path | None:
    """Where the cache lives, or None when it is switched off."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stressmodel"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def _plain(v: Any) -> Any:
    """An argument as JSON that tells apart every float (hex) and keeps sequences."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v.hex()
    if isinstance(v, (list, tuple, range)) or hasattr(v, "__iter__"):
        return [_plain(x) for x in v]
    return float(v).hex()


@functools.cache
def _environment() -> tuple[str, tuple[str, ...]]:
    """The forecast module's source digest and the library versions: fixed for a process,
    so looked up once (a run asks for a key per back-test as-of; each version lookup
    scans the installed distributions)."""
    source = Path(forecast_module.__file__).read_bytes()
    versions = tuple(_version(d) for d in ("stressmodel", "statsmodels", "scipy", "numpy"))
    return hashlib.sha256(source).hexdigest(), versions


def forecast_key(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """SHA-256 of everything a forecast depends on: the function, its arguments (the exact
    series fitted, horizon, interval, bounds), the forecast module's source and the
    library versions."""
    module, versions = _environment()
    payload = {
        "format": CACHE_FORMAT,
        "function": name,
        "args": [_plain(a) for a in args],
        "kwargs": {k: _plain(v) for k, v in sorted(kwargs.items())},
        "module": module,
        "versions": list(versions),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _to_json(fc: ExportForecast) -> dict[str, Any]:
    return {
        "months": list(fc.months),
        "mean": list(fc.mean),
        "lower": None if fc.lower is None else list(fc.lower),
        "upper": None if fc.upper is None else list(fc.upper),
        "status": fc.status,
        "fitted": fc.fitted,
        "alpha": fc.alpha,
        "last_observed": fc.last_observed,
        "plateau": fc.plateau,
        "params": None if fc.params is None else dict(fc.params),
    }


def _from_json(d: dict[str, Any]) -> ExportForecast:
    def floats(v: Any) -> tuple[float, ...] | None:
        return None if v is None else tuple(float(x) for x in v)

    mean = floats(d["mean"])
    return ExportForecast(
        tuple(int(m) for m in d["months"]),
        () if mean is None else mean,
        floats(d["lower"]),
        floats(d["upper"]),
        str(d["status"]),
        bool(d["fitted"]),
        float(d["alpha"]),
        None if d["last_observed"] is None else float(d["last_observed"]),
        None if d["plateau"] is None else float(d["plateau"]),
        None
        if d["params"] is None
        else MappingProxyType({str(k): float(v) for k, v in d["params"].items()}),
    )


def cached_forecaster(cache_dir: Path | None, fn: Forecaster | None = None) -> Forecaster:
    """A forecast function behind the on-disk cache in ``cache_dir`` (None: the plain
    function). ``fn`` defaults to :func:`forecast_export_index`; the run passes
    :func:`~stressmodel.model.forecast.forecast_bounded_index`."""

    def plain(*args: Any, **kwargs: Any) -> ExportForecast:
        f = fn if fn is not None else forecast_export_index
        return f(*args, **kwargs)

    if cache_dir is None:
        return fn if fn is not None else forecast_export_index

    def forecaster(*args: Any, **kwargs: Any) -> ExportForecast:
        name = fn.__name__ if fn is not None else "forecast_export_index"
        try:
            key = forecast_key(name, args, kwargs)
        except (TypeError, ValueError, OverflowError):  # a series the function will reject
            return plain(*args, **kwargs)
        path = cache_dir / f"trade_forecast-{key}.json"
        try:
            return _from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no entry, or a damaged one: fit and (re)write
        fc = plain(*args, **kwargs)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(_to_json(fc), fh)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs the next run the fit
        return fc

    return forecaster


def fused_object_cache(
    cache_dir: Path | None,
) -> tuple[Callable[[str], bytes | None], Callable[[str, bytes], None]] | None:
    """Where the fused kernel's machine code is kept between processes
    (:func:`stressmodel.model.fused.set_object_cache`): ``cache_dir/kernels/fused-<key>.o``,
    the key naming the generated IR, the CPU, its features and llvmlite's version (so a
    changed model or another machine never loads stale code), the file checked against
    its SHA-256 before use. A missing, unreadable or
    unwritable cache (a read-only install, a full disk) is ignored: the kernel is compiled
    in memory, about 0.3 s."""
    if cache_dir is None:
        return None
    folder = cache_dir / "kernels"

    def get(key: str) -> bytes | None:
        # the file is the object's SHA-256 then the object: a truncated or damaged entry
        # is never handed to the linker (it would not raise but crash)
        try:
            data = (folder / f"fused-{key}.o").read_bytes()
        except OSError:
            return None
        digest, obj = data[:32], data[32:]
        return obj if obj and hashlib.sha256(obj).digest() == digest else None

    def put(key: str, obj: bytes) -> None:
        tmp = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".o")
            with os.fdopen(fd, "wb") as fh:
                fh.write(hashlib.sha256(obj).digest() + obj)
            os.replace(tmp, folder / f"fused-{key}.o")
        except OSError:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    return get, put
