"""The model registry: every servers/<name>/model.json, read and checked once.

A folder under servers/ that holds a model.json is a model; the file states
what the rest of the tree needs to know about it (servers/README.md describes
the keys). CMake reads the same files (servers/CMakeLists.txt), so adding a
model is adding a folder. Everything in the harness and the tests that needs a
fact about a model asks this module: which models exist and where they run,
their family and title, Microsoft's documented order, chart styles,
connection limits and the options each takes.

Every problem in a file is one line naming the file and the key."""
import json
import platform
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVERS_DIR = ROOT / "servers"
MODEL_FILE = "model.json"

PLATFORMS = ("windows", "linux")
# In the order the report shows the families.
FAMILIES = ("completion", "readiness", "thread")
KEYS = ("name", "title", "platform", "family", "microsoft_rank", "style", "max_connections", "options", "variants")
STYLE_KEYS = ("color", "marker", "linestyle")  # linestyle is optional ("-" by default)
LINESTYLES = ("-", "--", ":", "-.")
# matplotlib's markers that read as distinct symbols at chart size.
MARKERS = ("o", "v", "^", "<", ">", "8", "s", "p", "*", "h", "H", "D", "d", "P", "X", "x", "+", "1", "2", "3", "4")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
COLOUR_PATTERN = re.compile(r"^#[0-9A-Fa-f]{6}$")
OPTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


# What a runtime lacks that a model needs, and the one line that model's
# server then says before it exits with harness.servers.EXIT_UNSUPPORTED.
# A runtime is how a platform runs a server (Platform.runtime_of): Wine 8
# has no Registered I/O; Windows (8 and later) runs every Winsock model
# natively, and Linux runs its own models natively, so neither lacks
# anything. A model reporting itself unsupported anywhere else is broken.
LACKING = {"wine": {"rio": "Registered I/O (RIO) is not available on this platform"}}


class RegistryError(ValueError):
    """A model.json (or a model folder) that cannot be used; one line naming the file."""


@dataclass(frozen=True)
class Model:
    name: str
    title: str
    platform: str                 # "windows" (Winsock; under Wine on Linux) or "linux" (native)
    family: str                   # one of FAMILIES
    microsoft_rank: int | None    # place in Microsoft's documented order; None: unranked
    colour: str
    marker: str
    linestyle: str
    max_connections: int | None   # connections it can hold on this project's machines; None: no known limit
    options: tuple                # options beyond the shared ones, by name ("threads", "accept_pool")
    variants: tuple               # option sets that change how it works, each tested as a server of its own
    folder: Path

    @property
    def winsock(self):
        return self.platform == "windows"

    def sort_key(self):
        """Winsock models first, in Microsoft's order, then the unranked ones by family and name."""
        return (not self.winsock, self.microsoft_rank is None, self.microsoft_rank or 0,
                FAMILIES.index(self.family), self.name)


# ---------------------------------------------------------------- reading and checking


def read_model(path):
    """One model.json into a Model; raises RegistryError naming the file and key."""
    path = Path(path)
    where = display_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise RegistryError(f"{where}: cannot read it: {error}") from None
    except json.JSONDecodeError as error:
        raise RegistryError(f"{where}: not valid JSON: {error}") from None
    try:
        return check_model(data, path.parent)
    except RegistryError as error:
        raise RegistryError(f"{where}: {error}") from None


def check_model(data, folder):
    if not isinstance(data, dict):
        raise RegistryError("must be a JSON object of " + ", ".join(KEYS))
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise RegistryError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
    missing = [key for key in KEYS if key not in data]
    if missing:
        raise RegistryError(f"missing key(s) {', '.join(missing)} (null where it does not apply)")
    name = data["name"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RegistryError(f"name must be lower-case letters, digits and '-', not {name!r}")
    if name != folder.name:
        raise RegistryError(f"name {name!r} must be the folder's name ({folder.name!r}): it names the executable")
    title = data["title"]
    if not isinstance(title, str) or not title.strip():
        raise RegistryError("title must be a non-empty string")
    check_choice(data, "platform", PLATFORMS)
    check_choice(data, "family", FAMILIES)
    rank = data["microsoft_rank"]
    if rank is not None and (not is_int(rank) or rank < 1):
        raise RegistryError(f"microsoft_rank must be a whole number >= 1 or null, not {rank!r}")
    if rank is not None and data["platform"] != "windows":
        raise RegistryError("microsoft_rank is for Winsock models (platform windows); use null")
    limit = data["max_connections"]
    if limit is not None and (not is_int(limit) or limit < 1):
        raise RegistryError(f"max_connections must be a whole number >= 1 or null, not {limit!r}")
    options = data["options"]
    if not isinstance(options, list) or not all(isinstance(o, str) and OPTION_PATTERN.match(o) for o in options):
        raise RegistryError("options must be a list of option names (lower case, '_' for '-': \"accept_pool\")")
    if len(set(options)) != len(options):
        raise RegistryError("options lists an option twice")
    colour, marker, linestyle = check_style(data["style"])
    return Model(name=name, title=title.strip(), platform=data["platform"], family=data["family"],
                 microsoft_rank=rank, colour=colour, marker=marker, linestyle=linestyle, max_connections=limit,
                 options=tuple(options), variants=check_variants(data["variants"], options), folder=folder)


def check_variants(variants, options):
    """The model's variants: option sets (argv words) that change how it
    works, such as iocp's --batch 16. Each names only the model's own
    options, so a variant cannot silently test an option the model lacks."""
    if not isinstance(variants, list) or not all(isinstance(v, list) and v and all(isinstance(w, str) for w in v)
                                                 for v in variants):
        raise RegistryError('variants must be a list of option lists (["--batch", "16"]), [] for none')
    for variant in variants:
        named = {word[2:].replace("-", "_") for word in variant if word.startswith("--")}
        if not variant[0].startswith("--") or named - set(options):
            raise RegistryError(f"variant {variant!r} must start with an option, and name only the model's own "
                                f"options ({', '.join(options) or 'none'})")
    if len({tuple(v) for v in variants}) != len(variants):
        raise RegistryError("variants lists an option set twice")
    return tuple(tuple(v) for v in variants)


def check_choice(data, key, choices):
    if data[key] not in choices:
        raise RegistryError(f"{key} must be one of {', '.join(choices)}, not {data[key]!r}")


def check_style(style):
    if not isinstance(style, dict):
        raise RegistryError('style must be an object {"color": "#rrggbb", "marker": "o"}')
    unknown = sorted(set(style) - set(STYLE_KEYS))
    if unknown:
        raise RegistryError(f"style: unknown key(s) {', '.join(unknown)} (known: {', '.join(STYLE_KEYS)})")
    colour = style.get("color")
    if not isinstance(colour, str) or not COLOUR_PATTERN.match(colour):
        raise RegistryError(f"style.color must be \"#rrggbb\", not {colour!r}")
    marker = style.get("marker")
    if marker not in MARKERS:
        raise RegistryError(f"style.marker must be one of {' '.join(MARKERS)}, not {marker!r}")
    linestyle = style.get("linestyle", "-")
    if linestyle not in LINESTYLES:
        raise RegistryError(f"style.linestyle must be one of {' '.join(LINESTYLES)}, not {linestyle!r}")
    return colour.upper(), marker, linestyle


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def display_path(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


@lru_cache(maxsize=None)
def load_registry(servers_dir=SERVERS_DIR):
    """{name: Model} of every model folder under servers_dir, in sort_key order."""
    servers_dir = Path(servers_dir)
    found = []
    for folder in sorted(p for p in servers_dir.iterdir() if p.is_dir()):
        if (folder / MODEL_FILE).is_file():
            found.append(read_model(folder / MODEL_FILE))
        elif (folder / "main.c").is_file():
            raise RegistryError(f"{display_path(folder)}: a main.c but no {MODEL_FILE} (every model folder has "
                                "one: see servers/README.md)")
    if not found:
        raise RegistryError(f"{display_path(servers_dir)}: no */{MODEL_FILE}: no model at all")
    check_distinct_styles(found)
    return {model.name: model for model in sorted(found, key=Model.sort_key)}


def check_distinct_styles(found):
    """Each model keeps a colour and a marker of its own, so no two can be confused in a chart."""
    for attribute, key in (("colour", "color"), ("marker", "marker")):
        owner = {}
        for model in found:
            value = getattr(model, attribute)
            if value in owner:
                raise RegistryError(f"{display_path(model.folder / MODEL_FILE)}: style.{key} {value} is "
                                    f"{owner[value]}'s already; every model needs its own")
            owner[value] = model.name


# ---------------------------------------------------------------- questions


def registry():
    return load_registry(SERVERS_DIR)


def all_models():
    """Every model's name, Winsock ones first in Microsoft's order."""
    return list(registry())


def winsock_models():
    return [name for name, model in registry().items() if model.winsock]


def native_models():
    return [name for name, model in registry().items() if not model.winsock]


def models_for_platform(system=None):
    """The models this machine runs: on Windows the Winsock ones; elsewhere
    (Linux) the native ones too, the Winsock ones under Wine."""
    system = system or platform.system()
    return [name for name, model in registry().items() if model.winsock or system != "Windows"]


def is_winsock(name):
    """Whether a server is a Winsock (Windows) program; a name that is not a
    model (a test's stand-in) counts as one, as most models are."""
    found = get(name)
    return found is None or found.winsock


def get(name):
    """The Model of a name, or None for a server that is not a model (a test's stand-in)."""
    return registry().get(name)


def family(name):
    return registry()[name].family


def title(name):
    return registry()[name].title


def max_connections(name):
    """The model's connection limit, or None (no known limit, or not a model)."""
    model = get(name)
    return model.max_connections if model else None


def options(name):
    return registry()[name].options


def variants(name):
    """A model's variants (model.json's "variants"): option sets tested as servers of their own."""
    return registry()[name].variants


def microsoft_order(models=None):
    """Microsoft's documented order as tiers, best first: the ranked models
    grouped by microsoft_rank (equal ranks share a tier)."""
    models = models if models is not None else registry()
    ranks = sorted({m.microsoft_rank for m in models.values() if m.microsoft_rank is not None})
    return [[m.name for m in models.values() if m.microsoft_rank == rank] for rank in ranks]


def microsoft_order_text(models=None):
    """"I/O completion port > overlapped I/O > ... > WSAAsyncSelect", from the titles."""
    models = models if models is not None else registry()
    return " > ".join("/".join(models[name].title for name in tier) for tier in microsoft_order(models))


def lacking(name, runtime):
    """Why a model cannot run in a runtime ("wine", "native"): the line its
    server says ("rio: Registered I/O ..."), or None when nothing is missing."""
    reason = LACKING.get(runtime, {}).get(name)
    return f"{name}: {reason}" if reason else None


def by_family(names):
    """{family: [names]} in FAMILIES order, each list in the given order; names that are not models are left out."""
    grouped = {family_name: [] for family_name in FAMILIES}
    for name in names:
        model = get(name)
        if model:
            grouped[model.family].append(name)
    return {family_name: members for family_name, members in grouped.items() if members}
