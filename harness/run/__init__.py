"""`run` and `run --resume` (harness/README.md, "Running"), one concern per module:

    registry   the servers a run can start (variants, built or stand-in servers)
    plan       the plan: interleaved seeded rounds, what has no record yet
    facts      the machine and git facts the manifest records; --pin
    item       one plan item: server, load generator, record
    noise      the machine's other CPU use during an item; --wait-idle
    rounds     adaptive repetitions: which cells get another round
    progress   the progress line and its ETA
    execute    a whole run: new_run, resume_run, extend_run, the summary

The run folder itself (layout, schemas, atomic writes) is harness.store."""
from harness.run.errors import RunError
from harness.run.execute import DEFAULT_SEED, RUNS_DIR, extend_run, new_run, plan_summary, resume_run
from harness.run.progress import format_duration
from harness.run.registry import BuiltServers, Variant, current_variant

__all__ = ["RunError", "DEFAULT_SEED", "RUNS_DIR", "extend_run", "new_run", "plan_summary", "resume_run",
           "format_duration", "BuiltServers", "Variant", "current_variant"]
