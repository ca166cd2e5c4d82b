"""The HTML renderer: one self-contained page (CSS inline, charts as data URIs, no script), readable
from a phone to a wide screen, in light or dark mode, and on paper."""
import base64
import html

from harness.report.blocks import (Badges, Bullets, Code, Contents, Details, Figure, Heading, Links, Paragraph,
                                   Section, Table)

# Tables scroll inside their own box, never the page; charts shrink to the column. Dark mode
# keeps the charts on their white background (they are drawn for it) and inverts the rest.
CSS = """
:root { color-scheme: light dark; --fg: #222; --bg: #fff; --muted: #555; --line: #ccc; --head: #f3f3f3;
        --code: #f6f6f6; --warn: #a00; --badge: #fff3cd; --badge-fg: #5c4400; --severe: #f8d7da;
        --severe-fg: #721c24; --link: #0645ad; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #ddd; --bg: #181a1b; --muted: #aaa; --line: #444; --head: #26292b; --code: #222;
          --warn: #ff8080; --badge: #4d3c00; --badge-fg: #ffe8a3; --severe: #5c1a20; --severe-fg: #ffd0d5;
          --link: #8ab4f8; }
}
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 1.5em auto;
       padding: 0 1em; color: var(--fg); background: var(--bg); line-height: 1.45; overflow-wrap: anywhere; }
a { color: var(--link); }
p, li, figcaption { max-width: 75em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid var(--line); } h3 { margin-top: 1.5em; }
.table-box { max-width: 100%; overflow-x: auto; margin: 0.8em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid var(--line); padding: 0.25em 0.5em; vertical-align: top; overflow-wrap: normal; }
th { background: var(--head); text-align: left; } td.num { text-align: right; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
.badge { display: inline-block; margin: 0.1em 0.2em 0.1em 0; padding: 0 0.4em; border-radius: 0.6em;
         font-size: 0.85em; white-space: nowrap; background: var(--badge); color: var(--badge-fg); }
.badge.severe { background: var(--severe); color: var(--severe-fg); font-weight: bold; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line);
                                        background: #fff; }
figcaption { font-size: 0.9em; color: var(--muted); }
pre { background: var(--code); padding: 0.7em; overflow-x: auto; }
p.strong { font-weight: bold; color: var(--warn); }
section#summary { border: 1px solid var(--line); border-radius: 0.4em; padding: 0 1em 0.5em; }
section#summary h2 { margin-top: 0.5em; }
nav ul { columns: 2; }
details > summary { cursor: pointer; color: var(--muted); }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  .table-box { overflow: visible; } table { font-size: 8pt; }
  figure, table, section#summary { break-inside: avoid; } h2, h3 { break-after: avoid; }
  /* Paper cannot be clicked open: folded details are printed (browsers with ::details-content). */
  details::details-content { content-visibility: visible; display: block; } nav { display: none; }
}
"""


def render_html(blocks, title):
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    parts += [_html_block(block) for block in blocks]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _html_block(block):
    if isinstance(block, Heading):
        return f'<h{block.level} id="{html.escape(block.anchor)}">{html.escape(block.text)}</h{block.level}>'
    if isinstance(block, Paragraph):
        attributes = ' class="strong"' if block.strong else ""
        return f"<p{attributes}>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{html.escape(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Code):
        return f"<pre><code>{html.escape(block.text)}</code></pre>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Contents):
        links = "".join(f'<li><a href="#{html.escape(h.anchor)}">{html.escape(h.text)}</a></li>'
                        for h in block.headings)
        return f'<nav aria-label="Contents"><strong>Contents</strong><ul>{links}</ul></nav>'
    if isinstance(block, Links):
        return "<ul>\n" + "\n".join(f'<li><a href="{html.escape(target)}">{html.escape(text)}</a></li>'
                                     for text, target in block.items) + "\n</ul>"
    if isinstance(block, Details):
        inner = "\n".join(_html_block(b) for b in block.blocks)
        return f"<details><summary>{html.escape(block.summary)}</summary>\n{inner}\n</details>"
    if isinstance(block, Section):
        inner = "\n".join(_html_block(b) for b in block.blocks)
        return f'<section id="{html.escape(block.name)}">\n{inner}\n</section>'
    raise TypeError(f"unknown block {type(block).__name__}")


def _html_cell(value):
    if isinstance(value, Badges):
        return "".join(f'<span class="badge{" severe" if badge.severe else ""}" '
                       f'title="{html.escape(badge.explanation)}">{html.escape(badge.label)}</span>'
                       for badge in value.items)
    return html.escape(str(value))


def _html_table(table):
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        cells = []
        for index, value in enumerate(row):
            classes = [name for name, columns in (("num", table.numeric), ("nowrap", table.nowrap))
                       if index in columns]
            attributes = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attributes}>{_html_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-box"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(body)
            + "\n</tbody>\n</table></div>")
