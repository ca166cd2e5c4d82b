"""From a run's records to what the report says about them, one concern per module:

    notes      the flags and notes on a cell's repetitions (saturation, slow service, busy machine, ...)
    cells      records -> cells (point x server x variant) with their estimates; load_cells
    rankings   the verdicts between servers at each point, per workload and overall
    options    one server's option sets compared at one setting
    microsoft  agreement of a ranking with Microsoft's order (Kendall's tau)

Below it: harness.records (reading one record) and harness.verdicts (the
verdicts between samples, shared with the run's adaptive rounds). Callers
import from the module that owns a name."""
# compare.py and sensitivity.py still say analysis.load_cells, analysis.METRICS and
# analysis.metric_estimate: they are being edited elsewhere at the same time, so
# only their import lines change here. Move them to the owning modules, then drop these.
from harness.analysis.cells import load_cells, metric_estimate
from harness.verdicts import METRICS

__all__ = ["load_cells", "metric_estimate", "METRICS"]
