"""harness/agree.py on synthetic run folders (no network)."""
import io
import random

import pytest

import synthetic
from harness import agree
from harness.analysis.cells import load_cells

SERVERS = ("iocp", "overlapped", "wsapoll", "select")
POINTS = ("pingpong-c1", "pingpong-c16")
REPS = 6


def write(path, throughput, seed=1):
    """A run where each server's throughput at each point is throughput[(point, server)]
    (messages/s) with 2% noise between repetitions; latency follows from it."""
    rng = random.Random(seed)
    cells, rates = {}, {}
    for point in POINTS:
        for server in SERVERS:
            typical = throughput[(point, server)]
            reps = [typical * rng.lognormvariate(0, 0.02) for _ in range(REPS)]
            rates[(point, server)] = reps
            cells[(point, server)] = [[1e6 / rate * rng.lognormvariate(0, 0.01) for _ in range(20)] for rate in reps]
    return synthetic.write_run(path, cells, throughput=rates)


ORDERED = {(point, server): 10000 / 1.25 ** index for point in POINTS for index, server in enumerate(SERVERS)}


def run_main(a, b):
    out, err = io.StringIO(), io.StringIO()
    code = agree.main(a, b, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_two_copies_of_one_run_agree(tmp_path):
    run = write(tmp_path / "a", ORDERED)
    code, out, err = run_main(run, run)
    assert (code, err) == (0, "")
    assert "CONTRADICTION" not in out
    assert " 0 contradict" in out.splitlines()[-1]
    agreements = agree.agree_cells(*(load_cells(run)[1] for _ in range(2)))
    assert agreements and all(a.counts["contradict"] == a.counts["only A"] == a.counts["only B"] == 0
                              for a in agreements)
    overall = next(a for a in agreements if (a.scope, a.metric) == ("overall", "throughput"))
    assert overall.counts["agree"] == 6  # 4 servers, 6 pairs, every one resolved alike


def test_two_runs_of_the_same_machine_state_agree(tmp_path):
    code, out, _ = run_main(write(tmp_path / "a", ORDERED, seed=1), write(tmp_path / "b", ORDERED, seed=2))
    assert code == 0 and "CONTRADICTION" not in out


def test_a_planted_contradiction_is_found_and_exits_1(tmp_path):
    swapped = dict(ORDERED)
    for point in POINTS:  # overlapped ahead of iocp in B, behind it in A
        swapped[(point, "iocp")] = ORDERED[(point, "overlapped")]
        swapped[(point, "overlapped")] = ORDERED[(point, "iocp")]
    code, out, err = run_main(write(tmp_path / "a", ORDERED), write(tmp_path / "b", swapped, seed=2))
    assert code == 1 and err == ""
    assert "CONTRADICTION overall throughput: iocp ahead of overlapped in A, overlapped ahead of iocp in B" in out
    assert "CONTRADICTION point pingpong-c1 throughput: iocp ahead of overlapped in A" in out
    contradictions = [line for line in out.splitlines() if line.startswith("CONTRADICTION")]
    assert all("iocp" in line and "overlapped" in line for line in contradictions)  # nothing else contradicts


def test_a_pair_only_one_run_resolves_is_counted_as_such(tmp_path):
    tied = dict(ORDERED)
    for point in POINTS:  # in B, iocp and overlapped are the same server
        tied[(point, "overlapped")] = ORDERED[(point, "iocp")]
    run_a, run_b = write(tmp_path / "a", ORDERED), write(tmp_path / "b", tied, seed=2)
    cells = [load_cells(run)[1] for run in (run_a, run_b)]
    point = next(a for a in agree.agree_cells(*cells) if (a.scope, a.metric) == ("point pingpong-c1", "throughput"))
    assert point.counts == {"agree": 5, "contradict": 0, "only A": 1, "only B": 0, "neither": 0}
    assert run_main(run_a, run_b)[0] == 0


def test_unusable_input_exits_2_with_one_line(tmp_path):
    run = write(tmp_path / "a", ORDERED)
    (tmp_path / "empty").mkdir()
    code, out, err = run_main(run, tmp_path / "empty")
    assert code == 2 and out == "" and err.startswith("agree: ") and err.count("\n") == 1
    other = synthetic.write_run(tmp_path / "other", {("churn-k1", "iocp"): [[50.0] * 5] * 6})
    code, _, err = run_main(run, other)
    assert code == 2 and "no ranking in common" in err


def test_the_command_line_runs_agree(tmp_path):
    from harness.__main__ import main
    run = write(tmp_path / "a", ORDERED)
    assert main(["agree", str(run), str(run)]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["agree", str(run)])
    assert exit_info.value.code == 2


def test_agree_has_help(capsys):
    from harness.__main__ import main
    with pytest.raises(SystemExit) as exit_info:
        main(["agree", "--help"])
    assert exit_info.value.code == 0
    assert "contradiction" in capsys.readouterr().out
