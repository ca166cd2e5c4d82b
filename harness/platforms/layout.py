"""Where each CMake preset (CMakePresets.json) puts the executables (the
table is in harness/README.md, "Platforms"), and what a build folder says
about its compiler.

A single-config generator (Makefiles, Ninja) writes build/<preset>/servers/...;
a multi-config one (Visual Studio) adds the configuration's folder, and the
project's build and test presets build Release. Everything here is plain
path arithmetic on a project root, so it is the same on every platform and
tests can ask about any preset."""
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The configuration the build and test presets of a multi-config generator build.
CONFIGURATION = "Release"
MULTI_CONFIG_GENERATORS = ("Visual Studio", "Xcode", "Ninja Multi-Config")


@dataclass(frozen=True)
class Preset:
    name: str
    windows_programs: bool   # builds the Winsock servers and loadgen.exe (else the native Linux ones)
    multi_config: bool       # a multi-config generator: executables in a <CONFIGURATION> subfolder

    def folder(self, root=ROOT):
        return Path(root) / "build" / self.name

    def servers_dir(self, root=ROOT):
        return servers_dir_of(self.folder(root), self.multi_config)

    def loadgen(self, root=ROOT):
        return loadgen_of(self.folder(root), self.multi_config, self.windows_programs)


PRESETS = {preset.name: preset for preset in (
    Preset("native", windows_programs=False, multi_config=False),
    Preset("mingw", windows_programs=True, multi_config=False),
    Preset("clang-mingw", windows_programs=True, multi_config=False),
    Preset("windows", windows_programs=True, multi_config=True),
    Preset("windows-mingw", windows_programs=True, multi_config=False),
)}


def servers_dir_of(build, multi_config):
    """The folder of a build's servers."""
    folder = Path(build) / "servers"
    return folder / CONFIGURATION if multi_config else folder


def loadgen_of(build, multi_config, windows_program):
    folder = Path(build) / "loadgen"
    folder = folder / CONFIGURATION if multi_config else folder
    return folder / ("loadgen.exe" if windows_program else "loadgen")


def server_executable(servers_dir, model, windows_program):
    """A model's executable in a servers folder: <model>.exe for the Winsock
    builds (one folder for all), <model>/<model> for the native one (one
    folder per model; a flat <model> where a build writes it so)."""
    servers_dir = Path(servers_dir)
    if windows_program:
        return servers_dir / f"{model}.exe"
    nested = servers_dir / model / model
    return nested if nested.exists() else servers_dir / model


def is_multi_config(generator):
    return bool(generator) and generator.startswith(MULTI_CONFIG_GENERATORS)


# ---------------------------------------------------------------- what a build folder says


def cmake_cache(build):
    """{name: value} of a build folder's CMakeCache.txt ({} when absent)."""
    values = {}
    try:
        text = (Path(build) / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_.-]*):[A-Z]+=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def c_compiler_facts(build):
    """{"id", "version", "path"} of the C compiler CMake found for a build
    folder (CMakeFiles/<cmake version>/CMakeCCompiler.cmake), {} when absent.
    The Visual Studio generators do not put the compiler in CMakeCache.txt;
    this file has it for every generator."""
    facts = {}
    for path in sorted(Path(build).glob("CMakeFiles/*/CMakeCCompiler.cmake")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for key, name in (("id", "CMAKE_C_COMPILER_ID"), ("version", "CMAKE_C_COMPILER_VERSION"),
                          ("path", "CMAKE_C_COMPILER")):
            match = re.search(rf'^set\({name} "([^"]*)"\)', text, re.MULTILINE)
            if match and match.group(1):
                facts[key] = match.group(1)
    return facts


def build_folder_of(servers_dir):
    """The build folder a servers folder belongs to (the one with
    CMakeCache.txt: servers/ or servers/<configuration>/ below it), or None."""
    for candidate in list(Path(servers_dir).parents)[:2]:
        if (candidate / "CMakeCache.txt").is_file():
            return candidate
    return None


def compiler_description(build):
    """One line naming a build's compiler, its version, the program and the
    generator: "MSVC 19.38.33133.0 (cl.exe, Visual Studio 17 2022)"; None when
    the folder holds no configured build."""
    if build is None:
        return None
    compiler = c_compiler_facts(build)
    generator = cmake_cache(build).get("CMAKE_GENERATOR")
    if not compiler and not generator:
        return None
    name = " ".join(part for part in (compiler.get("id"), compiler.get("version")) if part) or "unknown compiler"
    program = re.split(r"[\\/]", compiler["path"])[-1] if compiler.get("path") else None
    details = ", ".join(part for part in (program, generator) if part)
    return f"{name} ({details})" if details else name
