# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi bench --executor ray`: the runs as Ray tasks, on a local instance or a cluster.

Ray is optional: only this module imports it, and only when asked for. A CPU-bound run is a
task of one CPU; a run of an LLM method is a task of no CPU (it waits on the network), so
`run_grid`'s `llm_concurrency` alone bounds how many run at once. Without an address a local
instance is started (every core, on 127.0.0.1, no dashboard, quiet logs) and stopped at the
end; with one (`ray start --head` prints it) the driver joins that cluster, whose nodes must
have this repository and its environment at the same path (README, "Benchmark sweeps on
Ray").
"""

import logging
import os
from collections.abc import Hashable, Sequence

from icpi_ros.core.bench.harness import RunSpec, run_one
from icpi_ros.core.bench.pool import Executor
from icpi_ros.core.validation import InvalidInput

# The local instance listens on the loopback interface only (not the machine's address).
LOCAL_IP = '127.0.0.1'
# Ray's switch for a single-machine instance (meant for macOS and Windows): with it off, every
# Ray process, the GCS server and its clients included, uses 127.0.0.1 instead of the address
# it resolves for this machine (seen: the GCS clients connected to the host's own address).
# Read when ray is imported, in this process and in the processes Ray starts.
SINGLE_MACHINE_ENV = {'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER': '0'}
# The local instance's shared-memory object store: records are small (bytes, not arrays).
OBJECT_STORE_BYTES = 128 * 2**20


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput(
            '--executor ray needs the ray package, which is not installed here '
            f'({exc}); `make setup` installs it (requirements.lock), or `pip install ray`'
        ) from None
    return ray


class RayExecutor(Executor):
    """Runs on Ray: a local instance (no address) or the cluster at `address`."""

    name = 'ray'

    def __init__(self, address: str | None = None, cpu_slots: int | None = None) -> None:
        if not address:
            for key, value in SINGLE_MACHINE_ENV.items():
                os.environ.setdefault(key, value)
        ray = self._ray = _import_ray()
        os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')
        quiet = {'include_dashboard': False, 'logging_level': logging.WARNING}
        if address:
            try:
                ray.init(address=address, log_to_driver=True, **quiet)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InvalidInput(
                    f'--address {address}: cannot join that Ray cluster: {exc}'
                ) from None
        else:
            ray.init(
                num_cpus=os.cpu_count() or 1,
                _node_ip_address=LOCAL_IP,
                object_store_memory=OBJECT_STORE_BYTES,
                log_to_driver=False,
                **quiet,
            )
        self.cpu_slots = cpu_slots or max(1, int(ray.cluster_resources().get('CPU', 1)))
        self._cpu_task = ray.remote(num_cpus=1, max_retries=0)(run_one)
        self._network_task = ray.remote(num_cpus=0, max_retries=0)(run_one)

    def submit(self, spec: RunSpec, network: bool) -> Hashable:
        """Start one run (`Executor.submit`)."""
        return (self._network_task if network else self._cpu_task).remote(spec)

    def ready(self, handles: Sequence[Hashable]) -> list[Hashable]:
        """Return the handles whose runs ended (`Executor.ready`)."""
        done, _ = self._ray.wait(list(handles), num_returns=1, timeout=0.5)
        if done:  # and any others that ended meanwhile
            done, _ = self._ray.wait(list(handles), num_returns=len(handles), timeout=0)
        return done

    def result(self, handle: Hashable) -> dict:
        """Return a run's record (`Executor.result`)."""
        return self._ray.get(handle)

    def close(self) -> None:
        """Release the workers (`Executor.close`)."""
        self._ray.shutdown()
