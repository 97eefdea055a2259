"""The DAG pipeline runner: stages (headgen.pipeline.stage), YAML pipelines (spec), the content-addressed
store (store), the scheduler (runner), executors (local threads, Ray) and the ``headgen run`` CLI.

The runner knows no stage: stages come from the ``headgen.stages`` entry points or ``register_stage``.
"""
