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
