"""The Markdown renderer: the same blocks as the HTML page, charts linked as files."""
import re

from harness.report.blocks import Bullets, Code, Figure, Heading, Paragraph, Table
from harness.report.format import relative

def render_markdown(blocks, run_dir):
    parts = []
    for block in blocks:
        parts.append(_markdown_block(block, run_dir))
    return "\n\n".join(parts) + "\n"


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
            lines.append("| " + " | ".join(md_escape(str(v)) for v in row) + " |")
        return "\n".join(lines)
    raise TypeError(f"unknown block {type(block).__name__}")


def md_escape(text):
    """Text from data, inert in Markdown: HTML escaped (renderers pass HTML through) and the characters
    that would start formatting, links or break a table cell backslash-escaped."""
    text = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")  # '>' alone starts no tag
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)

