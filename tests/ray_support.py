"""A real local Ray cluster for a test module, and the checks that a run leaves nothing behind: no process of
the cluster, no Postgres connection of its actors.

A plain module (not a conftest name) so test modules in several folders share it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlsplit

from graphwright.evals._ray import APPLICATION_NAME


@contextmanager
def local_cluster(env: dict[str, str]) -> Iterator[str]:
    """Start a 2-CPU local Ray cluster whose workers see `env` and this process's `sys.path`; yield its temp
    folder; shut it down and assert that none of its processes is left.

    `env` and the path are the cluster's own environment too, so the workers of a driver that joins it (a
    `graphwright` subprocess given its address) see them as well.
    """
    import ray

    temp_dir = tempfile.mkdtemp(prefix="gwr", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    given = {"PYTHONPATH": path, **env}
    before = {name: os.environ.get(name) for name in given}
    os.environ.update(given)  # inherited by the cluster's processes as they start
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="graphwright-test",
                 _temp_dir=temp_dir, runtime_env={"env_vars": given})
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    try:
        yield temp_dir
    finally:
        ray.shutdown()
    assert no_ray_processes(temp_dir) == []


def ray_processes(temp_dir: str) -> list[str]:
    """Command lines of live processes of the Ray cluster whose temp folder is `temp_dir`."""
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout  # whole lines
    return [line for line in ps.splitlines() if temp_dir in line and not line.startswith("ps ")]


def no_ray_processes(temp_dir: str, wait_s: float = 15) -> list[str]:
    """`ray_processes(temp_dir)` once they are gone, or after `wait_s` seconds (what is left then)."""
    deadline = time.monotonic() + wait_s
    while ray_processes(temp_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    return ray_processes(temp_dir)


def tagged(url: str) -> str:
    """`url` with an application name of its own, so `actor_connections` counts this test's actors only (other
    runs may share the database)."""
    return f"{url}{'&' if '?' in url else '?'}application_name={APPLICATION_NAME}-{uuid.uuid4().hex[:8]}"


def actor_connections(url: str) -> int:
    """Open Postgres connections of the Ray actors that were given `url` (after up to 10 s for the server to
    notice closed sockets): those with its `application_name`, else with the actors' default one."""
    import psycopg

    name = dict(parse_qsl(urlsplit(url).query)).get("application_name", APPLICATION_NAME)
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(url, application_name="graphwright-test-check") as conn:
            count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                 (name,)).fetchone()[0]
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.2)
