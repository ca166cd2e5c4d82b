"""harness/report/ (its charts.py included) on synthetic run folders (tests/harness/synthetic.py):
no server, no load generator, no network."""
import base64
import html
import random
import re
import struct
from html.parser import HTMLParser

import pytest
import synthetic  # tests/harness/synthetic.py (conftest.py puts it on the path)

from harness import models, report, stats, store
from harness.analysis import microsoft
from harness.analysis.cells import summarize
from harness.analysis.rankings import Ranking, rankings
from harness.report import charts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_ID = '<img src=x onerror="alert(1)">&$\\frac{'


def png_size(data):
    """(width, height) of a PNG, after checking its signature and header chunk."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_plausible_chart(data):
    width, height = png_size(data)
    assert 600 <= width <= 1200, width          # drawn for a 900 px column
    assert 200 <= height <= 1600, height
    assert len(data) > 5000                     # axes, lines and text, not a blank image


class ImageSources(HTMLParser):
    """Every <img src> and every external reference (src/href) of an HTML document."""

    def __init__(self):
        super().__init__()
        self.images, self.references = [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src", ""))
        for name in ("src", "href"):
            if name in attributes and not attributes[name].startswith("data:"):
                self.references.append(attributes[name])


def parse_images(text):
    parser = ImageSources()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The ready-made synthetic run, reported once for the tests that only read the result."""
    run_dir = synthetic.example_run(tmp_path_factory.mktemp("example") / "run")
    html_path, md_path = report.write_report(run_dir)
    return run_dir, html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")


def test_report_files_are_written_in_the_run_folder(example):
    run_dir, html_text, md_text = example
    assert (run_dir / "report.html").is_file() and (run_dir / "report.md").is_file()
    assert html_text.startswith("<!DOCTYPE html>") and "</html>" in html_text
    assert md_text.startswith("# winsock-bench report: suite example")


def test_every_html_image_is_an_embedded_png_and_nothing_is_external(example):
    run_dir, html_text, _ = example
    parsed = parse_images(html_text)
    charts_on_disk = sorted((run_dir / "charts").glob("*.png"))
    assert parsed.images and len(parsed.images) == len(charts_on_disk)
    for source in parsed.images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert_plausible_chart(base64.b64decode(source[len(prefix):], validate=True))
    for reference in parsed.references:  # in-page links, or files of the run folder: nothing from outside
        if reference.startswith("#"):
            assert f'id="{reference[1:]}"' in html_text, reference
        else:
            assert ":" not in reference and (run_dir / reference).exists(), reference
    assert "<link" not in html_text and "<script" not in html_text


def test_markdown_links_every_chart_and_every_chart_is_a_png(example):
    run_dir, _, md_text = example
    links = re.findall(r"!\[[^\]]*\]\((charts/[^)]+\.png)\)", md_text)
    on_disk = sorted(p.relative_to(run_dir).as_posix() for p in (run_dir / "charts").glob("*.png"))
    assert sorted(links) == on_disk
    for link in links:
        assert_plausible_chart((run_dir / link).read_bytes())


def test_the_charts_cover_each_kind_of_data_in_the_run(example):
    run_dir, _, _ = example
    names = [p.name for p in (run_dir / "charts").glob("*.png")]
    # example_run: a connections sweep, a rate sweep, churn and an idle sweep.
    for kind in ("throughput", "knee", "uncorrected", "churn", "idle", "spectrum", "cost", "timeseries",
                 "verdicts-throughput", "verdicts-p99"):
        assert any(name.endswith(f"-{kind}.png") for name in names), kind


def test_every_server_and_point_appears_in_both_reports(example):
    run_dir, html_text, md_text = example
    run = store.load_run(run_dir)
    for server in run.manifest["servers"]:
        assert f'<td class="nowrap">{server}</td>' in html_text
        assert f"| {report.md_escape(server)} |" in md_text
    for point in run.manifest["points"]:
        assert f'<td class="nowrap">{point["id"]}</td>' in html_text


def test_rankings_and_the_tau_sentence_match_the_analysis(example):
    run_dir, html_text, md_text = example
    cells = summarize(store.load_run(run_dir))
    overall = [r for r in rankings(cells) if r.scope == "overall" and r.order]
    assert overall
    for ranking in overall:
        assert html.escape(report.ranking_text(ranking.order, ranking.letters, ranking.metric)) in html_text
        assert html.escape(report.format_family(ranking.order, ranking.letters)) in html_text
    sentence = report.agreement_sentence(overall)
    assert html.escape(sentence) in html_text and report.md_escape(sentence) in md_text
    assert re.search(r"Kendall&#x27;s tau = -?\d\.\d\d by throughput over the \d+ pairs both resolve "
                     r"\((strong|partial|no clear|largely)", html_text)
    assert "within each family" in html_text and "within each family" in md_text


def test_a_ranking_within_each_family_keeps_the_order_and_the_letters():
    order = ["iocp", "select", "overlapped", "thread", "wsapoll", "reference-epoll", "stand-in"]
    letters = {"iocp": "a", "select": "a", "overlapped": "b", "thread": "c", "wsapoll": "c", "reference-epoll": "d",
               "stand-in": "d"}
    assert report.format_family(order, letters) == \
        "completion: iocp (a), overlapped (b); readiness: select (a), wsapoll (c), reference-epoll (d)"
    assert report.format_family(["select", "wsapoll", "thread"], {"select": "a", "wsapoll": "a", "thread": "b"}) == \
        "readiness: select (a), wsapoll (a)"
    assert report.format_family(["iocp", "select", "thread"], dict.fromkeys(["iocp", "select", "thread"], "a")) == \
        "–"  # no family has two


def test_failures_are_listed_with_their_record(example):
    _, html_text, md_text = example
    assert "3 connections reset by the server" in html_text
    assert f"points/pingpong-c128/select.current.r{synthetic.EXAMPLE_REPS - 1}.json" in html_text
    assert "1 of " in html_text and "records failed" in html_text
    assert "3 connections reset by the server" in md_text


def test_platform_line_says_wine_is_not_windows(example):
    _, html_text, _ = example
    assert "wine-8.0" in html_text and "not Windows" in html_text
    assert "Synthetic CPU" in html_text and "2 logical CPUs" in html_text
    assert "placement free: nothing pinned" in html_text and "commit 000000000000" in html_text


def test_saturation_flags_reach_the_table(example):
    run_dir, html_text, _ = example
    cells = summarize(store.load_run(run_dir))
    flagged = [cell for cell in cells if cell.saturation]
    assert flagged
    for cell in flagged:
        for reason in cell.saturation:
            assert html.escape(reason) in html_text


def test_footer_reproduces_the_run_from_the_manifest(example):
    _, html_text, md_text = example
    command = ("python3 -m harness run --suite example --seed 7 "
               "--servers iocp,overlapped,wsapoll,select,reference-epoll --reps 6")
    assert command in html_text and command in md_text


def hostile_run(path):
    samples = [[50.0, 60.0, 70.0, 80.0]] * 2
    cells = {(HOSTILE_ID, "iocp"): samples, (HOSTILE_ID, "select"): samples}
    points = {HOSTILE_ID: {"workload": "pingpong", "sweep": None}}
    failures = [(HOSTILE_ID, "iocp", "current", 5, "<b>boom</b> | `x` *y*")]
    return synthetic.write_run(path, cells, points=points, failures=failures)


def test_data_is_escaped_in_html_and_markdown(tmp_path):
    html_path, md_path = report.write_report(hostile_run(tmp_path / "run"))
    html_text, md_text = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert HOSTILE_ID not in html_text and "<b>boom</b>" not in html_text
    assert html.escape(HOSTILE_ID) in html_text and html.escape("<b>boom</b>") in html_text
    assert parse_images(html_text).images  # the '$' in the id did not stop the charts
    assert "<img src=x" not in md_text and "<b>boom</b>" not in md_text
    failure_rows = [line for line in md_text.splitlines() if "boom" in line]
    assert failure_rows and all(line.count(" | ") == 5 for line in failure_rows)  # the '|' stayed in its cell


def test_a_run_with_one_workload_renders(tmp_path):
    samples = [[100.0, 120.0, 150.0, 400.0]] * 3
    cells = {("churn-k4", server): samples for server in ("iocp", "reference-epoll")}
    run_dir = synthetic.write_run(tmp_path / "run", cells, points={"churn-k4": {"workload": "churn"}})
    html_path, md_path = report.write_report(run_dir)
    names = sorted(p.name for p in (run_dir / "charts").glob("*.png"))
    assert names and all("churn" in name for name in names)
    assert not any(name.endswith(("-knee.png", "-idle.png", "-throughput.png")) for name in names)
    text = html_path.read_text(encoding="utf-8")
    assert "Workload: churn" in text and "Workload: pingpong" not in text
    assert "connections/s" in text
    assert "No failures" in md_path.read_text(encoding="utf-8")


def test_a_run_where_every_record_failed_says_so(tmp_path):
    failures = [("pingpong-c1", server, "current", rep, f"server {server} did not start")
                for server in ("iocp", "select") for rep in range(2)]
    run_dir = synthetic.write_run(tmp_path / "run", {}, failures=failures)
    html_path, md_path = report.write_report(run_dir)
    text = html_path.read_text(encoding="utf-8")
    assert "Every record of this run failed (4 of 4)" in text
    assert "server select did not start" in text and "server iocp did not start" in text
    assert parse_images(text).images == []
    assert "Every record of this run failed" in md_path.read_text(encoding="utf-8")


def test_ab_runs_label_both_variants(tmp_path):
    samples = [[80.0, 90.0, 100.0]] * 2
    cells = {("pingpong-c1", server, variant): samples
             for server in ("iocp", "select") for variant in ("base", "current")}
    run_dir = synthetic.write_run(tmp_path / "run", cells)
    text = report.write_report(run_dir)[0].read_text(encoding="utf-8")
    assert "<th>variant</th>" in text
    assert "<td>base</td>" in text and "<td>current</td>" in text
    assert "python3 -m harness ab --base" in text


def test_reporting_again_replaces_the_old_charts(tmp_path):
    run_dir = hostile_run(tmp_path / "run")
    report.write_report(run_dir)
    stale = run_dir / "charts" / "99-from-an-older-report.png"
    stale.write_bytes(PNG_SIGNATURE)
    report.write_report(run_dir)
    assert not stale.exists()
    assert list((run_dir / "charts").glob("*.png"))


def test_a_folder_that_is_not_a_run_is_refused_and_left_alone(tmp_path):
    with pytest.raises(ValueError):
        report.write_report(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value, text", [(123456, "123,000"), (1234.5, "1,230"), (12.345, "12.3"),
                                         (0.01234, "0.0123"), (99.96, "100"), (0, "0"), (-2500, "-2,500"),
                                         (None, "–"), (float("nan"), "–")])
def test_numbers_are_formatted_for_humans(value, text):
    assert report.number(value) == text


@pytest.mark.parametrize("tau, verdict", [(1.0, "strong agreement"), (0.47, "partial agreement"),
                                          (0.0, "no clear agreement"), (-0.8, "largely the reverse order")])
def test_the_agreement_sentence_states_the_verdict(tau, verdict, monkeypatch):
    ranking = Ranking("overall", "throughput", "current", ["iocp", "select"], [], {}, ["p"])
    monkeypatch.setattr(microsoft, "agreement_with_microsoft", lambda r: tau)
    monkeypatch.setattr(microsoft, "microsoft_pairs", lambda r: (tau, 7))
    sentence = report.agreement_sentence([ranking])
    assert f"tau = {tau:.2f} by throughput over the 7 pairs both resolve ({verdict})." in sentence
    assert "\n" not in sentence


def test_the_agreement_sentence_without_a_tau_says_why(monkeypatch):
    ranking = Ranking("overall", "p99", "current", ["iocp", "select"], [], {}, ["p"])
    monkeypatch.setattr(microsoft, "agreement_with_microsoft", lambda r: None)
    monkeypatch.setattr(microsoft, "no_tau_reason", lambda r: "only 2 Winsock model(s) ranked")
    assert report.agreement_sentence([ranking]).endswith(
        "Kendall's no tau by p99 latency (only 2 Winsock model(s) ranked).")


def test_a_ranking_of_two_winsock_models_shows_no_tau_and_says_why(tmp_path):
    samples = [[80.0 + rep, 90.0, 100.0] for rep in range(6)]
    cells = {("pingpong-c1", server): samples for server in ("iocp", "select", "reference-epoll")}
    text = report.write_report(synthetic.write_run(tmp_path / "run", cells))[1].read_text(encoding="utf-8")
    assert "Kendall's tau =" not in text
    assert "only 2 Winsock model(s) ranked, and a rank correlation needs at least 4" in text


def test_the_reproduce_command_follows_the_manifest():
    manifest = {"suite": "mine", "suite_file": "/home/me/mine.toml", "seed": 3, "reps": 5,
                "servers": ["iocp", "thread"], "pin": {"server_cpus": [0], "loadgen_cpus": [1]},
                "variants": {"current": {"commit": "a" * 40}}}
    assert report.reproduce_command(manifest) == \
        "python3 -m harness run --suite /home/me/mine.toml --seed 3 --servers iocp,thread --reps 5 --placement pinned"
    manifest.update(pin=None, placement={"mode": "split", "server_cpus": [0], "wineserver_cpus": [1],
                                         "loadgen_cpus": [1]})
    assert report.reproduce_command(manifest).endswith(" --reps 5 --placement split")
    manifest.update(suite_file="harness/suites/mine.toml", placement={"mode": "colocated"},
                    variants={"base": {"commit": "b" * 40}, "current": {"commit": "a" * 40}})
    assert report.reproduce_command(manifest) == \
        "python3 -m harness ab --base bbbbbbbbbbbb --suite mine --seed 3 --servers iocp,thread --reps 5 --placement colocated"
    # an adaptive run is repeated by its suite's [repetitions], not by its first round's count
    manifest.update(variants={}, repetitions={"adaptive": True, "min": 5, "max": 12, "rounds": 8})
    assert report.reproduce_command(manifest) == \
        "python3 -m harness run --suite mine --seed 3 --servers iocp,thread --placement colocated"


def test_rankings_read_best_first_in_words_with_their_letters():
    letters = {"iocp": "a", "overlapped": "ab", "select": "b"}
    assert report.ranking_text(["iocp", "overlapped", "select"], letters, "throughput") == \
        "iocp (a), overlapped (ab), select (b); highest throughput first"
    assert report.ranking_text(["select", "iocp"], {"select": "a", "iocp": "b"}, "p99") == \
        "select (a), iocp (b); lowest p99 latency first"
    assert ">" not in report.ranking_text(["a", "b", "c"], dict.fromkeys("abc", "a"), "p99")


# ---------------------------------------------------------------- charts on plain data

SERVERS = ["thread", "select", "asyncselect", "wsapoll", "overlapped", "iocp", "reference-epoll", "newmodel"]


def sweep(scale):
    return {s: [(x, scale * (i + 1) * x, scale * (i + 0.9) * x, scale * (i + 1.1) * x) for x in (1, 4, 64, 1024)]
            for i, s in enumerate(SERVERS)}


def categories(scale):
    return {s: {"a": (scale * (i + 1), scale * i, scale * (i + 2)), "b": (scale, scale * 0.5, scale * 2)}
            for i, s in enumerate(SERVERS)}


@pytest.mark.parametrize("draw", [
    lambda path: charts.throughput_vs_param(sweep(1000), sweep(10), path, title="t $x$", param="connections"),
    lambda path: charts.throughput_vs_param(categories(1000), categories(10), path, title="bars"),
    lambda path: charts.latency_vs_idle(sweep(10), sweep(100), path, title="idle"),
    lambda path: charts.latency_vs_rate(sweep(10), sweep(1), path, title="knee"),
    lambda path: charts.cost_chart(categories(3), {}, path, title="cpu only"),
    lambda path: charts.cost_chart(sweep(3), sweep(30), path, title="cost", param="size"),
    lambda path: charts.churn_chart(categories(500), categories(40), path, title="churn"),
    lambda path: charts.latency_spectrum(
        [(f"point {n}", {s: [(p, 10.0 * (i + 1) / (100.01 - p)) for p in (0, 50, 90, 99, 99.9, 99.99, 99.999)]
                         for i, s in enumerate(SERVERS)}) for n in range(12)], path, title="spectrum"),
])
def test_each_chart_writes_a_png(tmp_path, draw):
    path = tmp_path / "chart.png"
    assert draw(path) == path
    assert_plausible_chart(path.read_bytes())


def test_an_ab_sweep_chart_draws(tmp_path):
    data = {(s, v): points for s, points in sweep(1).items() for v in ("base", "current")}
    path = charts.throughput_vs_param(data, data, tmp_path / "ab.png", title="ab", param="depth")
    assert_plausible_chart(path.read_bytes())


def test_charts_with_nothing_to_draw_say_so(tmp_path):
    with pytest.raises(ValueError):
        charts.cost_chart({}, {"iocp": {}}, tmp_path / "empty.png", title="empty")
    with pytest.raises(ValueError):
        charts.latency_spectrum([("p", {"iocp": []})], tmp_path / "empty.png", title="empty")
    assert not (tmp_path / "empty.png").exists()


def test_each_model_keeps_one_distinct_style():
    styles = {name: charts.style_for(name) for name in models.all_models()}
    assert len({style.colour for style in styles.values()}) == len(styles)
    assert len({style.marker for style in styles.values()}) == len(styles)
    assert styles["reference-epoll"].linestyle != "-"
    assert all(styles[name].linestyle == "-" for name in models.winsock_models())
    assert all(style not in charts.FALLBACK_STYLES for style in styles.values())  # each from its model.json
    assert charts.style_for(("iocp", "current")) == styles["iocp"]
    base = charts.style_for(("iocp", "base"))
    assert base.colour == styles["iocp"].colour and base.linestyle != "-"
    assert charts.style_for("newmodel") == charts.style_for("newmodel")  # a fallback, and a stable one
    assert charts.label_for(("iocp", "base")) == "iocp (base)" and charts.label_for("iocp") == "iocp"


# ---------------------------------------------------------------- intervals


def test_a_cell_with_too_few_repetitions_gets_no_interval_and_says_why(tmp_path):
    few = [[100.0 + rep, 120.0, 150.0] for rep in range(3)]
    enough = [[100.0 + rep, 120.0, 150.0] for rep in range(6)]
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): few,
                                                     ("pingpong-c1", "select"): enough})
    text = report.write_report(run_dir)[1].read_text(encoding="utf-8")
    rows = {server: next(line for line in text.splitlines() if line.startswith(f"| pingpong-c1 | {server} |"))
            for server in ("iocp", "select")}
    assert "n=3: no interval" in rows["iocp"]
    assert "iocp at pingpong-c1: too few repetitions for a 95% interval (n=3, 6 needed)" in text
    assert "[" not in rows["iocp"].split("|")[3]  # no bracketed interval for iocp's throughput
    assert "no interval" not in rows["select"] and "[" in rows["select"].split("|")[3]
    assert "Hettmansperger-Sheather" in text and "94-95%" in text  # the method and its coverage are stated


def test_verdicts_at_each_point_show_letters_and_factors_with_intervals(example):
    _, html_text, md_text = example
    assert "Verdicts at each point" in html_text
    assert re.search(r"reference-epoll \d+\.\d\d× \[\d+\.\d\d, \d+\.\d\d\] iocp", html_text)
    assert "rank-sum test" in html_text and "false discovery rate" in html_text and "Brunner-Munzel" in html_text
    assert "reference-epoll (a), iocp (b), overlapped (c), wsapoll (d), select (e); highest throughput first" in md_text


def test_a_noisy_cell_does_not_make_the_report_call_a_separated_pair_tied(tmp_path):
    # a's throughput straddles b's and c's; b and c do not overlap: b beats c, a is told apart from no one
    rates = {"a": [700.0, 800, 1050, 1150, 1300, 1500], "b": [998.0, 999, 1000, 1001, 1002, 1003],
             "c": [898.0, 899, 900, 901, 902, 903]}
    cells = {("pingpong-c1", server): [[100.0 + rep] * 5 for rep in range(6)] for server in rates}
    text = report.write_report(synthetic.write_run(tmp_path / "run", cells, throughput={
        ("pingpong-c1", server): values for server, values in rates.items()}))[1].read_text(encoding="utf-8")
    assert "a (ab), b (a), c (b); highest throughput first" in text
    assert "tied" not in text and " = " not in text.split("## How to read this")[0]
    row = next(line for line in text.splitlines() if line.startswith("| pingpong-c1 | c |"))
    assert "900 \\[" in row and "\\] b |" in row  # the letter beside the median and its interval
    assert "b 1.11× [" in text.replace("\\[", "[")  # the resolved pair's factor


def test_the_table_shows_server_wineserver_and_total_cpu(tmp_path):
    run_dir = synthetic.example_run(tmp_path / "run")
    run = store.load_run(run_dir)
    cells = summarize(run)
    text = report.render_markdown(report.build_blocks(run, cells, []), run_dir)
    assert "wineserver CPU µs/msg" in text and "total CPU µs/msg" in text
    iocp = next(c for c in cells if (c.point_id, c.server) == ("pingpong-c1", "iocp"))
    epoll = next(c for c in cells if (c.point_id, c.server) == ("pingpong-c1", "reference-epoll"))
    assert iocp.total_cpu_us_per_message.median == pytest.approx(3 * iocp.cpu_us_per_message.median, rel=1e-3)
    lines = text.splitlines()
    header = next(line for line in lines if "wineserver CPU" in line)
    row = next(line for line in lines[lines.index(header):] if line.startswith("| pingpong-c1 | reference-epoll |"))
    cells_text = [part.strip() for part in row.split("|")]
    columns = [part.strip() for part in header.split("|")]
    assert epoll.wineserver_cpu_us_per_message is None
    assert cells_text[columns.index("wineserver CPU µs/msg")] == "–"
    assert cells_text[columns.index("total CPU µs/msg")] == report.number(epoll.total_cpu_us_per_message.median)


def test_a_lower_bound_is_visible_and_named_outside_the_rankings(example):
    _, html_text, md_text = example
    row = next(line for line in md_text.splitlines() if line.startswith("| pingpong-c128 | reference-epoll |"))
    assert "| ≥ " in row and "**lower bound**" in row
    assert "reference-epoll at pingpong-c128: LOWER BOUND" in md_text
    assert "Not ranked, because the load generator saturated" in md_text
    assert "reference-epoll at pingpong-c128" in md_text
    assert "Lower bounds (the load generator saturated, so it was measured, not the server): " \
           "reference-epoll at 128." in md_text  # the chart's caption says it too


def test_the_report_says_when_too_few_repetitions_can_separate_no_one(tmp_path):
    cells = {("pingpong-c1", server): [[scale * (90.0 + rep)] * 5 for rep in range(3)]
             for server, scale in (("iocp", 1), ("select", 2), ("thread", 4))}
    text = report.write_report(synthetic.write_run(tmp_path / "run", cells))[1].read_text(encoding="utf-8")
    assert "too few for the test to resolve any pair of servers (as few as 3 per server)" in text
    assert "Resolving any of 3 servers takes at least 4 repetitions each." in text
    example_text = report.render_markdown(report.build_blocks(*synthetic_run_and_cells(tmp_path / "ex"), []),
                                          tmp_path / "ex")
    assert "too few for the test to resolve" not in example_text


def synthetic_run_and_cells(path):
    run = store.load_run(synthetic.example_run(path))
    return run, summarize(run)


def test_the_report_opens_with_the_summary_then_the_contents(example):
    _, html_text, md_text = example
    body = html_text[html_text.index("<body>"):]
    assert body.index("<h1") < body.index('<section id="summary">') < body.index("<nav") < body.index("<h2 id=\"rankings\"")
    summary = body[body.index('<section id="summary">'):body.index("</section>")]
    assert "Overall by throughput:" in summary and "Kendall" in summary and "Platform: Winsock servers under Wine" in summary
    assert "reference-epoll at pingpong-c128" in summary  # the lower-bound warning
    assert re.search(r"\d+\.\d\d× \[\d+\.\d\d, \d+\.\d\d\]", summary)  # factors with intervals
    for anchor in re.findall(r'<a href="#([^"]+)"', body):
        assert f'id="{anchor}"' in body
    assert md_text.index("## Summary") < md_text.index("**Contents:**") < md_text.index("## Rankings")


def test_flags_are_badges_and_no_table_is_wider_than_nine_columns(example):
    _, html_text, _ = example
    assert '<span class="badge severe" title="LOWER BOUND' in html_text
    widths = [len(re.findall(r"<th>", head)) for head in re.findall(r"<thead>(.*?)</thead>", html_text)]
    assert widths and max(widths) <= 10
    assert "<details><summary>Cost and repetitions" in html_text


def test_axis_labels_use_one_si_prefix_per_axis():
    assert [charts.si_text(v, charts._axis_factor(1.2e6)) for v in (0, 500_000, 1_000_000)] == ["0", "0.5M", "1M"]
    assert [charts.si_text(v, charts._axis_factor(40_000)) for v in (5_000, 40_000)] == ["5k", "40k"]
    assert [charts.si_text(v, charts._axis_factor(5_000)) for v in (1_000, 4_500)] == ["1,000", "4,500"]
    assert charts.si_text(1_000_000) == "1M" and charts.si_text(16) == "16" and charts.si_text(2_500) == "2.5k"


def test_log_axes_give_each_decade_its_own_prefix():
    # a p99 axis from 100 µs to 1 s: "100 ... 1M", never "0.0001M" (one prefix for the whole axis)
    figure = charts.plt.figure()
    axes = figure.add_subplot()
    axes.plot([1, 2, 3, 4, 5], [100, 1_000, 10_000, 100_000, 1_000_000])
    charts._log_y(axes)
    figure.canvas.draw()
    labels = [tick.get_text() for tick in axes.get_yticklabels() if tick.get_text()]
    charts.plt.close(figure)
    assert {"100", "1k", "10k", "100k", "1M"} <= set(labels)
    assert not any(label.startswith("0.") for label in labels)


def test_chart_titles_say_each_thing_once(example):
    _, _, md_text = example
    headings = [line for line in md_text.splitlines() if line.startswith("### ")]
    assert "### rate, requested rate swept" in headings and "### pingpong, connections swept" in headings
    assert "### idle connections swept" in headings
    assert not any("rate-rate" in h or "(rate," in h for h in headings)


def test_each_point_gets_a_time_series_with_the_warmup_shaded(example):
    run_dir, html_text, _ = example
    run = store.load_run(run_dir)
    series = sorted((run_dir / "charts").glob("*-timeseries.png"))
    assert len(series) == len(run.manifest["points"])
    for path in series:
        assert_plausible_chart(path.read_bytes())
    assert "Second by second:" in html_text and "<details><summary>Second by second" in html_text


def test_the_time_series_takes_each_seconds_median_and_range_over_repetitions(tmp_path, monkeypatch):
    drawn, real = {}, charts.time_series_chart

    def recorded(throughput, p99, path, **options):
        drawn.update(throughput=throughput, p99=p99, **options)
        return real(throughput, p99, path, **options)
    monkeypatch.setattr(charts, "time_series_chart", recorded)
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[100.0]] * 3},
                                  throughput={("pingpong-c1", "iocp"): [1000.0, 2000.0, 4000.0]})
    report.write_report(run_dir)
    assert drawn["throughput"]["iocp"][0] == (0.5, 2000.0, 1000.0, 4000.0)
    assert drawn["warmup_s"] == 0.5 and drawn["title"] == "pingpong-c1: second by second"


def test_a_server_past_its_contract_is_named_in_the_summary_and_badged_by_what_it_did(tmp_path):
    def edit(record):
        if record["server"] == "select":
            record["server_stats"]["worst_service_delay_ms"] = 1800
        if record["server"] == "overlapped":
            record["server_stats"]["stop_s"] = 2.6
    run_dir = synthetic.write_run(tmp_path / "run", {("idle-i9000", "select"): [[50.0] * 20] * 3,
                                                     ("idle-i9000", "overlapped"): [[40.0] * 20] * 3,
                                                     ("idle-i9000", "iocp"): [[30.0] * 20] * 3}, edit=edit)
    html_path, md_path = report.write_report(run_dir)
    html_text, md_text = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    summary = md_text[md_text.index("## Summary"):md_text.index("**Contents:**")]
    assert ("Past the servers' contract (see the cells' badges): select at idle-i9000 (slow service), "
            "overlapped at idle-i9000 (slow stop).") in summary
    assert '<span class="badge severe" title="slow service: in 3 of 3 repetitions' in html_text
    assert '<span class="badge" title="slow stop: in 3 of 3 repetitions the server took up to 2.6 s' in html_text
    assert "loadgen re-run" not in html_text  # the label it used to give every note that was not "busy machine"


def busy_warnings(tmp_path, busy, reps):
    """The summary's warnings on a run of `reps` repetitions per server, those
    in busy[server] taken on a busy machine."""
    def edit(record):
        if record["rep"] in busy[record["server"]]:
            record["machine"].update(busy=True, other_cpu_cores=0.6)
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", server): [[50.0] * 20] * reps for server in busy},
                                  edit=edit)
    run = store.load_run(run_dir)
    return report.summary.warnings(run, summarize(run))


def test_busy_repetitions_are_warned_about_apart_when_they_are_half_or_more_of_a_cell(tmp_path):
    found = busy_warnings(tmp_path, {"select": {0}, "overlapped": {0, 2}, "iocp": set()}, reps=3)
    assert ("Half or more of the repetitions on a busy machine (other processes used the CPUs), so the median may "
            "be a disturbed one: overlapped at pingpong-c1 (2 of 3).") in found
    assert ("1 cell had fewer than half of their repetitions on a busy machine: each median stays within the range "
            "of its undisturbed repetitions (badged on the cells).") in found


def test_a_minority_of_disturbed_repetitions_keeps_the_median_within_the_undisturbed_ones_range():
    # The claim the busy-machine warning makes, by seeded simulation: any values at all for
    # fewer than half of the repetitions, and the median stays within the others' range.
    rng = random.Random(20261129)
    for _ in range(5000):
        n = rng.randint(3, 12)
        quiet = [rng.gauss(100, 10) for _ in range(n - rng.randint(1, (n - 1) // 2))]
        disturbed = [rng.choice([rng.uniform(0, 1000), -1e9, 1e9]) for _ in range(n - len(quiet))]
        assert min(quiet) <= stats.median(quiet + disturbed) <= max(quiet)


def test_option_sets_get_a_section_of_their_own_and_a_run_without_them_does_not(tmp_path, example):
    _, md_path = report.write_report(synthetic.options_run(tmp_path / "run"))
    md_text = md_path.read_text(encoding="utf-8")
    section = md_text[md_text.index("## Server options compared"):]
    section = section[:section.index("\n## ", 1)]
    row = next(line for line in section.splitlines() if line.startswith("| pingpong:"))
    assert ("| iocp | --batch 16 (a), --skip-on-success (b), no options (b); highest throughput first; "
            "--batch 16 1.6") in row
    assert "Server options compared" in md_text[md_text.index("**Contents:**"):md_text.index("## Rankings")]
    assert "Server options compared" not in example[2]  # the example run's points all differ in their settings


def test_a_verdict_matrix_colours_resolved_pairs_and_labels_each_win(tmp_path):
    names = ["iocp", "select", "thread"]
    factors = {("iocp", "thread"): 2.0, ("thread", "iocp"): 0.5}
    path = charts.verdict_matrices([("pingpong-c1", names, factors), ("alone", ["iocp"], {})], tmp_path / "v.png",
                                   title="verdicts")
    assert_plausible_chart(path.read_bytes())
    figure = charts.plt.figure()
    axes = figure.add_subplot()
    charts._verdict_matrix(axes, "p", names, factors, fontsize=8)
    cells = axes.images[0].get_array()
    assert cells[0][2] == 1.0 and cells[2][0] == -1.0  # log2 of the factor, both ways round
    assert cells.mask[0][1] and cells.mask[1][2]  # unresolved pairs are left grey
    assert [text.get_text() for text in axes.texts] == ["2"]  # only the win is labelled
    charts.plt.close(figure)
    with pytest.raises(ValueError):
        charts.verdict_matrices([("alone", ["iocp"], {})], tmp_path / "none.png", title="none")


def test_repetitions_set_aside_for_a_busy_machine_are_counted_in_the_warnings(tmp_path):
    found = busy_warnings(tmp_path, {"select": {6, 7}, "iocp": {7}, "overlapped": set()}, reps=8)
    assert ("3 repetitions taken on a busy machine set aside in 2 cells, each left with enough quiet ones for a "
            "median's interval (badged on the cells).") in found
    assert not any("fewer than half" in line or "Half or more" in line for line in found)
