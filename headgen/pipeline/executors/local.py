"""Local executor: a bounded thread pool in this process.

Threads (not processes) because stages spend their time in torch/numpy/ffmpeg code that releases the GIL,
stage classes registered inline need no pickling, and per-node overhead stays ~1 ms. With several workers
torch's intra-op threads are capped to ``cpu_count // workers`` (unless OMP_NUM_THREADS is set) so
parallel stages do not oversubscribe the CPU.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from headgen.pipeline.task import NodeResult, NodeTask, execute_node


class LocalExecutor:
    """Runs NodeTasks on ``workers`` threads; ``submit`` returns a Future[NodeResult]."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.max_in_flight = self.workers
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="headgen-node")
        self._torch_threads_set = False

    def _cap_torch_threads(self) -> None:
        if self._torch_threads_set or self.workers <= 1 or "OMP_NUM_THREADS" in os.environ:
            return
        torch = sys.modules.get("torch")
        if torch is not None:
            try:
                torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.workers))
            except Exception:  # pragma: no cover
                pass
            self._torch_threads_set = True

    def submit(self, task: NodeTask, progress_cb: Callable | None = None) -> "Future[NodeResult]":
        """Queue one node; the future resolves to its NodeResult."""
        self._cap_torch_threads()
        return self._pool.submit(execute_node, task, progress_cb)

    def close(self, cancel: bool = False) -> None:
        """Stop accepting work; with ``cancel`` drop queued tasks and do not wait for running ones."""
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
