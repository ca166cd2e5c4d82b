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
  overflowing: Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right >
      document.documentElement.clientWidth + 1 && !e.closest('.table-box')).map(e => e.tagName).slice(0, 5),
})"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    html_path, _ = report.write_report(synthetic.example_run(folder / "run"))
    with Browser(folder / "profile") as browser:
        page = browser.open(html_path.as_uri(), WIDTH, HEIGHT)
        facts = page.evaluate(FACTS)
        (ROOT / "build").mkdir(exist_ok=True)
        page.screenshot(ROOT / "build" / f"report-{WIDTH}x{HEIGHT}.png")
        return facts, page.console_errors


def test_the_page_does_not_scroll_sideways_at_1280(rendered):
    facts, _ = rendered
    assert facts["pageWidth"] <= facts["viewWidth"], facts
    assert facts["overflowing"] == []


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
