"""The report's building blocks: the content is built once as a list of these and rendered twice
(html_render, markdown_render). Every string from the run's data is escaped by the renderer."""
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str


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
    rows: list
    numeric: set = field(default_factory=set)   # column indexes aligned right


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Code:
    text: str

