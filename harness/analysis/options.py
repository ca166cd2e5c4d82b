"""Option comparisons: one server at one setting of a workload, run with
different options (a suite's points that differ only in server_args, as
iocp-variants has), the option sets compared the way servers are at a point."""
from dataclasses import dataclass, field

from harness.analysis.cells import Cell, ranked_values
from harness.verdicts import METRICS, Verdicts, compare_samples, options_label, setting_key


@dataclass
class OptionComparison(Verdicts):
    """One server at one setting of a workload, run with different options (a
    suite's points that differ only in server_args, as iocp-variants has): the
    option sets compared the way servers are at a point."""
    server: str = ""
    variant: str = ""
    setting: str = ""            # the workload and its load generator settings, in words
    points: dict = field(default_factory=dict)  # option set -> the point it was measured at


def setting_text(workload, loadgen_args):
    """"pingpong: connections 64, size 64": what the load generator did, without its timing."""
    shown = [f"{key} {value}" for key, value in loadgen_args.items() if key not in ("duration", "warmup")]
    return f"{workload}: {', '.join(shown)}" if shown else workload


def setting_groups(cells):
    """{(server, variant, workload, loadgen args): {option set: cell}}: the cells of one server
    at one setting, by their options."""
    groups = {}
    for cell in cells:
        key = setting_key(cell.server, cell.variant, cell.workload, cell.loadgen_args)
        groups.setdefault(key, {})[options_label(cell.server_args)] = cell
    return groups


def option_comparisons(cells: list[Cell]) -> list[OptionComparison]:
    """Every setting at which one server ran with two or more option sets, per
    variant and metric, in the cells' order."""
    found = []
    for (server, variant, workload, _), by_options in setting_groups(cells).items():
        if len(by_options) < 2:
            continue
        setting = setting_text(workload, next(iter(by_options.values())).loadgen_args)
        for metric, _ in METRICS:
            samples = {label: values for label, cell in by_options.items()
                       if (values := None if cell.lower_bound else ranked_values(cell, metric))}
            if len(samples) < 2:
                continue
            found.append(OptionComparison(**vars(compare_samples(samples, metric)), server=server, variant=variant,
                                          setting=setting,
                                          points={label: cell.point_id for label, cell in by_options.items()}))
    return found

