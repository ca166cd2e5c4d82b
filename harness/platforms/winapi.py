"""The few kernel32 calls the Windows layer makes, through ctypes: process
affinity, process and system CPU times, whether a process has exited.

Kernel32 wraps a loaded kernel32 (ctypes.WinDLL) or, in the tests, a fake
with the same functions: the argument conversion and the error handling
here are then tested on Linux. FILETIME values are read as one 64-bit
integer (its two 32-bit halves, low first, are a little-endian uint64)."""
import ctypes
from ctypes import POINTER, byref, c_size_t, c_uint64
from ctypes import wintypes

PROCESS_SET_INFORMATION = 0x0200
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
SYNCHRONIZE = 0x00100000
WAIT_OBJECT_0 = 0
FILETIME_UNITS_PER_S = 10_000_000  # FILETIME counts 100 ns


class Kernel32:
    def __init__(self, dll):
        self.dll = dll
        declare(dll)

    @classmethod
    def load(cls):
        """kernel32 of this Windows, or None elsewhere."""
        try:
            return cls(ctypes.WinDLL("kernel32", use_last_error=True))
        except (AttributeError, OSError):  # no WinDLL: not Windows
            return None

    def error(self, call):
        code = getattr(ctypes, "get_last_error", lambda: 0)()
        reason = ctypes.FormatError(code) if hasattr(ctypes, "FormatError") else f"error {code}"
        return OSError(f"{call} failed: {reason.strip()}")

    def open_process(self, pid, access):
        handle = self.dll.OpenProcess(access, False, pid)
        if not handle:
            raise self.error(f"OpenProcess(pid {pid})")
        return handle

    def close(self, handle):
        self.dll.CloseHandle(handle)

    def set_process_affinity(self, handle, cpus):
        """Every thread of the process, present and future, on these CPUs."""
        mask = sum(1 << cpu for cpu in set(cpus))
        if not self.dll.SetProcessAffinityMask(handle, mask):
            raise self.error(f"SetProcessAffinityMask(CPUs {', '.join(map(str, sorted(set(cpus))))})")

    def own_affinity(self):
        """The CPUs this process may run on (of its processor group: at most 64)."""
        return self.process_affinity(self.dll.GetCurrentProcess())

    def process_affinity(self, handle):
        """The CPUs a process may run on (of its processor group: at most 64)."""
        process_mask, system_mask = c_size_t(0), c_size_t(0)
        if not self.dll.GetProcessAffinityMask(handle, byref(process_mask), byref(system_mask)):
            raise self.error("GetProcessAffinityMask")
        return [cpu for cpu in range(process_mask.value.bit_length()) if process_mask.value >> cpu & 1]

    def process_cpu_s(self, handle):
        """User + kernel seconds of a process (all its threads), or None."""
        creation, exited, kernel, user = c_uint64(0), c_uint64(0), c_uint64(0), c_uint64(0)
        if not self.dll.GetProcessTimes(handle, byref(creation), byref(exited), byref(kernel), byref(user)):
            return None
        return (kernel.value + user.value) / FILETIME_UNITS_PER_S

    def system_busy_s(self):
        """Seconds all processors spent busy since boot, or None. Windows'
        kernel time includes the idle time, which is taken out."""
        idle, kernel, user = c_uint64(0), c_uint64(0), c_uint64(0)
        if not self.dll.GetSystemTimes(byref(idle), byref(kernel), byref(user)):
            return None
        return (kernel.value - idle.value + user.value) / FILETIME_UNITS_PER_S

    def has_exited(self, handle):
        return self.dll.WaitForSingleObject(handle, 0) == WAIT_OBJECT_0


def declare(dll):
    """The C signatures, so that ctypes converts handles and masks at their
    real width (64-bit handles and DWORD_PTR masks on x64)."""
    signatures = {
        "OpenProcess": ([wintypes.DWORD, wintypes.BOOL, wintypes.DWORD], wintypes.HANDLE),
        "CloseHandle": ([wintypes.HANDLE], wintypes.BOOL),
        "SetProcessAffinityMask": ([wintypes.HANDLE, c_size_t], wintypes.BOOL),
        "GetProcessAffinityMask": ([wintypes.HANDLE, POINTER(c_size_t), POINTER(c_size_t)], wintypes.BOOL),
        "GetCurrentProcess": ([], wintypes.HANDLE),
        "GetProcessTimes": ([wintypes.HANDLE] + [POINTER(c_uint64)] * 4, wintypes.BOOL),
        "GetSystemTimes": ([POINTER(c_uint64)] * 3, wintypes.BOOL),
        "WaitForSingleObject": ([wintypes.HANDLE, wintypes.DWORD], wintypes.DWORD),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(dll, name)
        function.argtypes = arguments
        function.restype = result
