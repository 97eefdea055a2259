"""Ray executor: every node is a Ray remote task requesting its stage's ``resources``
(``num_cpus``, ``num_gpus``; other keys are passed as custom resources).

The driver computes cache keys and writes manifests exactly as the local executor does; workers run
:func:`headgen.pipeline.task.execute_node` and commit into the same store, so the store (``--cache``) and
``OUT`` must be on a file system shared by every Ray node. Ray is imported lazily; without it a
MissingDependencyError says what to install. Per-stage progress bars are not forwarded from remote
workers (the overall bar still advances); stage logs appear through Ray's log forwarding.
"""
from __future__ import annotations

import logging
import sys
from concurrent.futures import Future

from headgen.errors import HeadgenError, require
from headgen.pipeline.stage import is_registered_inline
from headgen.pipeline.task import NodeResult, NodeTask, execute_node


def _remote_execute(task: NodeTask) -> NodeResult:
    logging.basicConfig(level=task.log_level, format="%(levelname)s %(name)s: %(message)s")
    return execute_node(task, None)


class RayExecutor:
    """Submits NodeTasks as Ray tasks; ``submit`` returns a concurrent Future[NodeResult]."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.ray = require("ray", "ray", "the Ray executor (--executor ray)")
        self._started = False
        if not self.ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": True, "logging_level": logging.WARNING}
            if address:
                kwargs["address"] = address
            try:
                self.ray.init(**kwargs)
            except Exception as e:  # bad address, cluster down...
                msg = (str(e).strip().splitlines() or [""])[0]
                raise HeadgenError(f"--executor ray{' --address ' + address if address else ''}: "
                                   f"cannot start/connect to Ray: {type(e).__name__}: {msg}") from e
            self._started = True
        self.max_in_flight = int(workers) if workers else 1 << 30
        self._remote = self.ray.remote(_remote_execute)
        self._by_value: set[str] = set()

    def _ship_by_value(self, cls: type) -> None:
        """Stages registered inline (tests, scripts) may live in modules workers cannot import: pickle
        their module by value. Entry-point stages are imported by name on the workers."""
        mod = cls.__module__
        if mod in self._by_value or mod == "__main__" or not is_registered_inline(cls):
            return
        module = sys.modules.get(mod)
        if module is None or mod.startswith("headgen."):
            return
        try:
            from ray import cloudpickle   # Ray pickles tasks with its vendored cloudpickle
            cloudpickle.register_pickle_by_value(module)
        except Exception:  # pragma: no cover - e.g. a builtin module
            return
        self._by_value.add(mod)

    def submit(self, task: NodeTask, progress_cb=None) -> "Future[NodeResult]":
        """Launch one node as a Ray task with its stage's resource request."""
        cls = task.stage_cls
        self._ship_by_value(cls)
        res = dict(cls.resources_for(task.params))
        opts = {"num_cpus": float(res.pop("num_cpus", 1)), "num_gpus": float(res.pop("num_gpus", 0)),
                "max_retries": 0}
        if res:
            opts["resources"] = {k: float(v) for k, v in res.items()}
        ref = self._remote.options(**opts).remote(task)
        return ref.future()

    def close(self, cancel: bool = False) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            self.ray.shutdown()
            self._started = False
