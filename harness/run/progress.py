"""Progress of a run on stderr, and durations and rates as people read them."""
import math
import sys
import time


def format_duration(seconds):
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def format_rate(per_second):
    """12345.6 -> "12.3k", 1234567 -> "1.23M": three significant digits and an SI prefix."""
    if per_second is None or not math.isfinite(per_second):
        return "?"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(per_second) >= factor * 0.9995:
            return f"{per_second / factor:.3g}{prefix}"
    return f"{per_second:.3g}"


class Progress:
    """One line per item on stderr: rewritten in place on a terminal, plain
    lines otherwise (CI logs). The line shows the figures of the cell's last
    finished repetition (what the item about to run should come close to), the
    time elapsed and the ETA, which scales the remaining estimates by how far
    the finished items were off theirs."""

    def __init__(self, estimates, stream=None, clock=time.monotonic):
        self.estimates = estimates
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.spent = 0.0
        self.estimated_done = 0.0
        self.label = ""
        self.clock = clock
        self.began = clock()
        self.last_figures = {}  # cell -> (messages/s, p99 us) of its last finished repetition

    def eta(self, index):
        remaining = sum(self.estimates[index:])
        if self.estimated_done > 0:
            remaining *= min(3.0, max(0.3, self.spent / self.estimated_done))
        return remaining

    def start(self, index, label, cell=None):
        self.label = label
        figures = self.last_figures.get(cell)
        last = "" if figures is None else \
            f" \u2014 last rep: {format_rate(figures[0])} msg/s, p99 {_latency_text(figures[1])}"
        line = (f"[{index + 1}/{len(self.estimates)}] {label}{last} \u2014 elapsed "
                f"{format_duration(self.clock() - self.began)}, ETA {format_duration(self.eta(index))}")
        if self.live:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, index, elapsed, failure=None, cell=None, figures=None):
        """figures: (messages/s, p99 us) of the item's repetition, None when it failed."""
        if cell is not None and figures is not None:
            self.last_figures[cell] = figures
        self.spent += elapsed
        self.estimated_done += self.estimates[index]
        if failure:
            self.note(f"  {self.label} failed: {failure}")

    def note(self, text):
        self.stream.write(("\r\033[K" if self.live else "") + text + "\n")
        self.stream.flush()

    def close(self):
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _latency_text(microseconds):
    if microseconds is None or not math.isfinite(microseconds):
        return "?"
    if microseconds >= 1000:
        return f"{microseconds / 1000:.3g} ms"
    return f"{microseconds:.3g} \u00b5s"
