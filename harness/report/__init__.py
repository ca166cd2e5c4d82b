"""`report`: a run folder's report.html (self-contained: CSS inline, charts as
data URIs, so it can be mailed or archived alone) and report.md (the same
content, charts linked as charts/*.png).

The content is built once, as a list of blocks (blocks.py: headings, paragraphs,
tables, figures) by sections.py and chartplan.py, and rendered twice
(html_render.py, markdown_render.py); every string that comes from the run's data
is escaped by the renderer, never by the code that builds the blocks. format.py
writes numbers, estimates and rankings as text, the same way everywhere."""
from pathlib import Path

from harness import store
from harness.analysis.cells import load_cells
from harness.report.blocks import Contents, Heading, Paragraph
from harness.report.chartplan import chart_blocks
from harness.report.exports import write_exports
from harness.report.format import format_factor, format_family, number, ranking_text
from harness.report.html_render import render_html
from harness.report.markdown_render import md_escape, render_markdown
from harness.report.sections import (CI_NOTE, failure_blocks, files_blocks, footer_blocks, how_to_read_blocks, outcome_blocks,
                                     platform_blocks, option_blocks, ranking_blocks, reproduce_command, table_blocks, title,
                                     topology_blocks)
from harness.report.summary import agreement_sentence, summary_blocks

__all__ = ["write_report", "build_blocks", "render_html", "render_markdown", "md_escape", "number",
           "format_factor", "format_family", "ranking_text", "agreement_sentence", "reproduce_command"]


def write_report(run_dir):
    """Load the run at run_dir, write its exports (summary.json, summary.csv, hgrm/), draw its charts
    into run_dir/charts and write report.html and report.md; return (html_path, md_path). ValueError if run_dir is not a run folder."""
    run_dir = Path(run_dir)
    run, cells = load_cells(run_dir)
    write_exports(run, cells, run_dir)
    blocks = build_blocks(run, cells, chart_blocks(run_dir / "charts", cells, run))
    html_path, md_path = run_dir / "report.html", run_dir / "report.md"
    store.write_text_atomic(html_path, render_html(blocks, title(run)))
    store.write_text_atomic(md_path, render_markdown(blocks, run_dir))
    return html_path, md_path


def build_blocks(run, cells, charts_section):
    """The whole report, in reading order: the answer first, then the contents, then the detail."""
    detail = outcome_blocks(run) + ranking_blocks(cells) + option_blocks(cells)
    if charts_section:
        detail.append(Heading(2, "Charts"))
        detail.append(Paragraph(CI_NOTE + " Each model keeps its colour and marker in every chart; the native "
                                "Linux reference is grey and dashed (hatched in bar charts)."))
        detail += charts_section
    detail += table_blocks(run, cells) + failure_blocks(run) + platform_blocks(run) + topology_blocks(run, cells)
    detail += how_to_read_blocks()
    detail += files_blocks() + footer_blocks(run)
    contents = Contents([Heading(2, "Summary")] + [b for b in detail if isinstance(b, Heading) and b.level == 2])
    return [Heading(1, title(run))] + summary_blocks(run, cells) + [contents] + detail
