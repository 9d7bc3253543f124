"""Fan-out to a Dask cluster through a standard :class:`concurrent.futures.Executor`.

``--scheduler ADDRESS`` connects to a running Dask scheduler (``tcp://host:8786``);
``--cluster local:N`` starts a ``LocalCluster`` of N worker processes for the run. Both
give ``Client.get_executor()``, so the code that fans out (the firm workbooks, see
:func:`stressmodel.report.write_workbooks`) only sees an executor. Dask is the optional
extra ``stressmodel[cluster]``; without it these options fail with a clear message.
Workers of a remote scheduler must see the output folder (a shared file system) and
have the same stressmodel installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from stressmodel.errors import UsageError

_LOCAL = re.compile(r"local:([1-9][0-9]{0,2})")


def parse_cluster(text: str) -> int:
    """``local:N`` -> N (1..999)."""
    m = _LOCAL.fullmatch(text.strip())
    if not m:
        raise UsageError(f"--cluster must look like local:N (N workers, 1-999), got {text!r}")
    return int(m.group(1))


@contextmanager
def cluster_executor(scheduler: str | None, cluster: str | None) -> Iterator[Executor | None]:
    """The executor of a Dask cluster for the duration of the block (None without one)."""
    if scheduler and cluster:
        raise UsageError("--scheduler and --cluster exclude each other")
    if not scheduler and not cluster:
        yield None
        return
    n = parse_cluster(cluster) if cluster else 0
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "--scheduler/--cluster need Dask: pip install 'stressmodel[cluster]'"
        ) from None
    local: Any = None
    try:
        if cluster:
            # ":0": the scheduler's HTTP server (dashboard, metrics) on a free port; with
            # None it still takes 8787, and a run failed when another Dask process had it
            local = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            client = Client(local)
        else:
            client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        if local is not None:
            local.close()
        raise UsageError(f"cannot reach the Dask scheduler {scheduler or cluster}: {exc}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if local is not None:
            local.close()
