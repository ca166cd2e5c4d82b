"""The READMEs name the models in prose; the registry (servers/*/model.json)
is where a model is declared. These keep the prose in step with it: adding,
renaming or removing a model fails here until the README's "The servers"
says so too."""
import re
from pathlib import Path
from urllib.parse import unquote

from harness import models

ROOT = Path(__file__).resolve().parents[2]


def section(path, heading):
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start:end if end >= 0 else len(text)]


def test_the_readmes_servers_section_names_every_registered_model_and_no_other():
    prose = section(ROOT / "README.md", "## The servers")
    named = set(re.findall(r"`([a-z][a-z0-9-]*)`", prose))
    registered = set(models.all_models())
    assert registered <= named, f"not named in README's 'The servers': {sorted(registered - named)}"
    # Anything else in backticks there is an option or a word, never a model that is gone.
    looks_like_a_model = {name for name in named if (ROOT / "servers" / name).is_dir()}
    assert looks_like_a_model == registered


# Where a contributor reads how to add a model: each must point only at what exists.
ADDING_A_MODEL = (("README.md", "## Adding a server model"), ("CONTRIBUTING.md", "## Adding a server model"),
                  ("servers/README.md", "## Adding a server model"))
CODE_FILES = ("*.py", "*.c", "*.h", "*.txt", "*.cmake", "*.toml", "*.sh")


def code_text():
    return "\n".join(path.read_text(encoding="utf-8", errors="replace") for pattern in CODE_FILES
                     for path in ROOT.glob(f"**/{pattern}") if "build" not in path.parts and ".git" not in path.parts)


def test_the_adding_a_model_sections_name_only_files_and_lists_that_exist():
    code = code_text()
    for file, heading in ADDING_A_MODEL:
        prose = section(ROOT / file, heading)
        for quoted in re.findall(r"`([^`\s]+)`", prose):
            if "<" in quoted or quoted.startswith("-"):
                continue  # a pattern (servers/<name>/main.c) or an option
            if "/" in quoted and re.fullmatch(r"[\w./-]+", quoted):  # a path (a bare main.c is the model's own)
                assert (ROOT / quoted).exists() or (ROOT / "servers" / quoted).exists(), \
                    f"{file} '{heading}' names {quoted}, which does not exist"
            elif re.fullmatch(r"[A-Z][A-Z0-9_]{3,}", quoted):  # a list or constant of the code
                assert re.search(rf"\b{quoted}\b", code), f"{file} '{heading}' names {quoted}: no such name in the code"


def test_the_adding_a_model_steps_are_numbered_in_order():
    for file, heading in ADDING_A_MODEL:
        steps = [int(n) for n in re.findall(r"^(\d+)\. ", section(ROOT / file, heading), re.MULTILINE)]
        assert steps == list(range(1, len(steps) + 1)), f"{file} '{heading}': steps numbered {steps}"


# Every relative link in the tree's Markdown must lead somewhere: to a file or
# folder that exists and, for an anchor into a Markdown file, to one of its
# headings. Moving a section out of a README breaks links far from it.
LINK = re.compile(r"\]\((<[^>]*>|[^)\s]+)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
NOT_THE_TREES = {".git", "build", "node_modules", ".pytest_cache"}


def markdown_files():
    return sorted(path for path in ROOT.glob("**/*.md")
                  if not NOT_THE_TREES & set(path.relative_to(ROOT).parts)
                  and path.relative_to(ROOT).parts[:2] != ("results", "runs"))


def anchors(path):
    """The anchors GitHub gives a Markdown file's headings: lower case, spaces
    to hyphens, punctuation dropped, a repeated one numbered (-1, -2)."""
    seen, found = {}, set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(path):
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        target = target.strip("<>")
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # https:, mailto:: not the tree's
        file, _, anchor = unquote(target).partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    return broken


def test_every_relative_markdown_link_leads_to_a_file_and_heading_that_exist():
    files = markdown_files()
    assert ROOT / "servers" / "README.md" in files
    broken = {str(path.relative_to(ROOT)): links for path in files if (links := broken_links(path))}
    assert not broken, f"broken links: {broken}"
