"""The report's building blocks: the content is built once as a list of these and rendered twice
(html_render, markdown_render). Every string from the run's data is escaped by the renderer."""
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str

    @property
    def anchor(self):
        """The heading's link target, as GitHub derives it from Markdown headings (so the contents
        links work in both renderings): lower case, punctuation dropped, spaces to hyphens."""
        return re.sub(r"[^\w\- ]", "", self.text.lower()).replace(" ", "-")


@dataclass
class Paragraph:
    text: str
    strong: bool = False


@dataclass
class Bullets:
    items: list


@dataclass
class Table:
    header: list
    rows: list                                  # cells: str, or Badges
    numeric: set = field(default_factory=set)   # column indexes aligned right
    nowrap: set = field(default_factory=set)    # column indexes kept on one line (ids, names)


@dataclass
class Badge:
    """A short visible label (e.g. "lower bound") with the full explanation (a tooltip in HTML)."""
    label: str
    explanation: str
    severe: bool = False   # the figure measures something else than the server


@dataclass
class Badges:
    """A table cell of badges."""
    items: list

    def __str__(self):
        return "; ".join(badge.label for badge in self.items)


@dataclass
class Links:
    """A list of links: (text, target relative to the report) pairs."""
    items: list


@dataclass
class Contents:
    """The table of contents: links to these headings."""
    headings: list


@dataclass
class Details:
    """Blocks folded away in HTML (<details>) under a one-line summary; shown in full in Markdown."""
    summary: str
    blocks: list


@dataclass
class Section:
    """A group of blocks with an id, the first thing a test or reader can find (HTML <section>)."""
    name: str
    blocks: list


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Code:
    text: str

