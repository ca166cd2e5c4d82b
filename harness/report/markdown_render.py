"""The Markdown renderer: the same blocks as the HTML page, charts linked as files."""
import re

from harness.report.blocks import (Badges, Bullets, Code, Contents, Details, Figure, Heading, Links, Paragraph,
                                   Section, Table)
from harness.report.format import relative


def render_markdown(blocks, run_dir):
    return "\n\n".join(_markdown_block(block, run_dir) for block in blocks) + "\n"


def _markdown_block(block, run_dir):
    if isinstance(block, Heading):
        return "#" * block.level + " " + md_escape(block.text)
    if isinstance(block, Paragraph):
        return f"**{md_escape(block.text)}**" if block.strong else md_escape(block.text)
    if isinstance(block, Bullets):
        return "\n".join(f"- {md_escape(item)}" for item in block.items)
    if isinstance(block, Code):
        return "```sh\n" + block.text.replace("```", "'''") + "\n```"
    if isinstance(block, Figure):
        link = relative(block.path, run_dir).replace("\\", "/")
        return f"![{md_escape(block.caption)}]({link})\n\n*{md_escape(block.caption)}*"
    if isinstance(block, Table):
        lines = ["| " + " | ".join(md_escape(h) for h in block.header) + " |",
                 "|" + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.header))) + "|"]
        for row in block.rows:
            lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
        return "\n".join(lines)
    if isinstance(block, Contents):
        return "**Contents:** " + " · ".join(f"[{md_escape(h.text)}](#{h.anchor})" for h in block.headings)
    if isinstance(block, Links):
        return "\n".join(f"- [{md_escape(text)}](<{target}>)" for text, target in block.items)
    if isinstance(block, Details):
        return "\n\n".join([f"*{md_escape(block.summary)}:*"]
                           + [_markdown_block(b, run_dir) for b in block.blocks])
    if isinstance(block, Section):
        return "\n\n".join(_markdown_block(b, run_dir) for b in block.blocks)
    raise TypeError(f"unknown block {type(block).__name__}")


def _markdown_cell(value):
    if isinstance(value, Badges):
        return " ".join(f"**{md_escape(badge.label)}**" if badge.severe else md_escape(badge.label)
                        for badge in value.items)
    return md_escape(str(value))


def md_escape(text):
    """Text from data, inert in Markdown: HTML escaped (renderers pass HTML through) and the characters
    that would start formatting, links or break a table cell backslash-escaped."""
    text = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")  # '>' alone starts no tag
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)
