"""Progress of a run on stderr, and durations as people read them."""
import sys


def format_duration(seconds):
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """One line per item on stderr: rewritten in place on a terminal, plain
    lines otherwise (CI logs). The ETA scales the remaining estimates by how
    far the finished items were off theirs."""

    def __init__(self, estimates, stream=None):
        self.estimates = estimates
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.spent = 0.0
        self.estimated_done = 0.0
        self.label = ""

    def eta(self, index):
        remaining = sum(self.estimates[index:])
        if self.estimated_done > 0:
            remaining *= min(3.0, max(0.3, self.spent / self.estimated_done))
        return remaining

    def start(self, index, label):
        self.label = label
        line = f"[{index + 1}/{len(self.estimates)}] {label} \u2014 ETA {format_duration(self.eta(index))}"
        if self.live:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, index, elapsed, failure=None):
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
