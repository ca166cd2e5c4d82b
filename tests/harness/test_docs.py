"""The READMEs name the models in prose; the registry (servers/*/model.json)
is where a model is declared. These keep the prose in step with it: adding,
renaming or removing a model fails here until the README's "The servers"
says so too."""
import re
from pathlib import Path

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
