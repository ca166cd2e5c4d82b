"""The report in a real browser: headless Chromium (tests/harness/browser.py) renders report.html of
the synthetic example run at 1280x800. The screenshot is kept as build/report-1280x800.png."""
from pathlib import Path

import pytest
import synthetic  # tests/harness/synthetic.py (conftest.py puts it on the path)
from browser import Browser, chromium_path

from harness import report

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 800

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (scripts/setup.sh)")

FACTS = """({
  pageWidth: document.documentElement.scrollWidth,
  viewWidth: document.documentElement.clientWidth,
  images: Array.from(document.images).map(i => [i.alt.slice(0, 40), i.complete, i.naturalWidth]),
  firstSection: (document.querySelector('body > h2, body > section') || {}).id,
  firstTop: document.querySelector('section#summary').getBoundingClientRect().top,
  scrollingTables: Array.from(document.querySelectorAll('.table-box')).filter(b => b.scrollWidth > b.clientWidth)
      .map(b => b.textContent.slice(0, 60)),
  overflowing: Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right >
      document.documentElement.clientWidth + 1 && !e.closest('.table-box')).map(e => e.tagName).slice(0, 5),
})"""


COLOURS = """[document.body, document.querySelector('th'), document.querySelector('.badge')].map(e => {
  const style = getComputedStyle(e); return [style.color, style.backgroundColor]; })"""
PRINT = """({pageWidth: document.documentElement.scrollWidth, viewWidth: document.documentElement.clientWidth,
  hiddenDetails: Array.from(document.querySelectorAll('details > table, details > .table-box, details > figure'))
      .filter(e => !e.checkVisibility()).length})"""


def luminance(css):
    """0 (black) .. 255 (white), from "rgb(r, g, b)"."""
    red, green, blue = (float(part) for part in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    html_path, _ = report.write_report(synthetic.example_run(folder / "run"))
    with Browser(folder / "profile") as browser:
        page = browser.open(html_path.as_uri(), WIDTH, HEIGHT)
        facts = page.evaluate(FACTS)
        (ROOT / "build").mkdir(exist_ok=True)
        page.screenshot(ROOT / "build" / f"report-{WIDTH}x{HEIGHT}.png")
        facts["folded"] = page.evaluate(PRINT)["hiddenDetails"]
        browser.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
                     page.session)
        facts["dark"] = page.evaluate(COLOURS)
        page.screenshot(ROOT / "build" / f"report-{WIDTH}x{HEIGHT}-dark.png")
        browser.send("Emulation.setEmulatedMedia", {"media": "print", "features": []}, page.session)
        facts["print"] = page.evaluate(PRINT)
        return facts, page.console_errors


def test_the_page_does_not_scroll_sideways_at_1280(rendered):
    facts, _ = rendered
    assert facts["pageWidth"] <= facts["viewWidth"], facts
    assert facts["overflowing"] == []


def test_no_table_hides_columns_off_screen_at_1280(rendered):
    facts, _ = rendered
    assert facts["scrollingTables"] == []


def test_every_image_loaded(rendered):
    facts, _ = rendered
    assert facts["images"], "no chart in the report"
    assert [image for image in facts["images"] if not image[1] or image[2] <= 0] == []


def test_the_summary_comes_first_and_is_on_the_first_screen(rendered):
    facts, _ = rendered
    assert facts["firstSection"] == "summary"
    assert facts["firstTop"] < HEIGHT / 2


def test_no_console_errors(rendered):
    _, errors = rendered
    assert errors == []


def test_dark_mode_turns_the_page_dark_and_keeps_text_readable(rendered):
    facts, _ = rendered
    for text, background in facts["dark"]:
        assert luminance(background) < 90 and luminance(text) - luminance(background) > 100, facts["dark"]


def test_printing_fits_the_page_and_unfolds_the_details(rendered):
    facts, _ = rendered
    assert facts["folded"] > 0  # on screen the details are folded, so the check below can fail
    assert facts["print"]["pageWidth"] <= facts["print"]["viewWidth"]
    assert facts["print"]["hiddenDetails"] == 0
