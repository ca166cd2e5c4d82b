"""The platform layer: the one place that knows how the harness's work is
done on this operating system (harness/README.md, "Platforms").

    layout   where each CMake preset puts the executables; a build's compiler
    base     the interface (Platform) and what the platforms share
    linux    Winsock servers under Wine (scripts/wine-run), signals, /proc
    wine     the project's Wine prefix and its one persistent wineserver
    windows  Winsock servers directly, CTRL_BREAK_EVENT, kernel32, the registry
    winapi   the kernel32 calls, through ctypes
    procfs   the readers of Linux's /proc and /sys

current() is this machine's layer; for_system() makes one for another
system (the tests run the Windows layer on Linux with fakes)."""
import platform
from functools import lru_cache

from harness.platforms.base import NOT_HERE, Platform, PlatformError, StopStep
from harness.platforms.linux import LinuxPlatform
from harness.platforms.windows import WindowsPlatform

__all__ = ["NOT_HERE", "Platform", "PlatformError", "StopStep", "LinuxPlatform", "WindowsPlatform", "current",
           "for_system"]


def for_system(system, **machine):
    """The layer of a system (platform.system()'s name): Windows, else the
    POSIX one (Linux; elsewhere what it lacks is said when it is needed)."""
    return WindowsPlatform(**machine) if system == "Windows" else LinuxPlatform(**machine)


@lru_cache(maxsize=None)
def current():
    """This machine's layer (one per process: the Windows one counts the CPU
    of the processes it started)."""
    return for_system(platform.system())
