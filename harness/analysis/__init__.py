"""From a run's records to what the report says about them, one concern per module:

    notes      the flags and notes on a cell's repetitions (saturation, slow service, busy machine, ...)
    cells      records -> cells (point x server x variant) with their estimates; load_cells
    rankings   the verdicts between servers at each point, per workload and overall
    options    one server's option sets compared at one setting
    microsoft  agreement of a ranking with Microsoft's order (Kendall's tau)

Below it: harness.records (reading one record) and harness.verdicts (the
verdicts between samples, shared with the run's adaptive rounds). Callers
import from the module that owns a name."""
