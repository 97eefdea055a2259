"""Executors run NodeTasks: ``local`` (thread pool, default) and ``ray`` (Ray remote tasks)."""
from __future__ import annotations


def make_executor(kind: str, workers: int | None, address: str | None = None):
    """An executor instance for ``kind`` ("local" or "ray"); Ray is imported only for "ray"."""
    from headgen.pipeline.spec import PipelineError
    if kind == "local":
        from headgen.pipeline.executors.local import LocalExecutor
        return LocalExecutor(workers or 1)
    if kind == "ray":
        from headgen.pipeline.executors.ray import RayExecutor
        return RayExecutor(address=address, workers=workers)
    raise PipelineError(f"--executor {kind}: unknown executor (use 'local' or 'ray')")
