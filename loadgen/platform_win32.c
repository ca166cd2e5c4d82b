/* platform.h on Win32: the performance counter, Win32 threads and slim
 * reader/writer locks, and the machine's description from the system
 * (and, under Wine, Wine's own version, so results say where they ran). */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

uint64_t platform_now_ns(void)
{
    LARGE_INTEGER counter, frequency;
    QueryPerformanceCounter(&counter);
    QueryPerformanceFrequency(&frequency);
    /* Whole seconds and the remainder apart: counter * 1e9 would overflow
     * 64 bits after about 15 minutes at a 10 MHz frequency. */
    uint64_t ticks = (uint64_t)counter.QuadPart, per_second = (uint64_t)frequency.QuadPart;
    return ticks / per_second * 1000000000u + ticks % per_second * 1000000000u / per_second;
}

uint64_t platform_wall_ns(void)
{
    /* The precise clock exists from Windows 8 on; the plain one (to the
     * timer tick) is the fallback, looked up at run time so that the build
     * still targets Vista. */
    typedef VOID(WINAPI * precise_clock)(LPFILETIME);
    static precise_clock precise;
    static int looked_up;
    if (!looked_up) {
        HMODULE kernel = GetModuleHandleW(L"kernel32.dll");
        FARPROC found = kernel ? GetProcAddress(kernel, "GetSystemTimePreciseAsFileTime") : NULL;
        memcpy(&precise, &found, sizeof precise);
        looked_up = 1;
    }
    FILETIME now;
    if (precise)
        precise(&now);
    else
        GetSystemTimeAsFileTime(&now);
    /* 100 ns ticks since 1601-01-01; 1970 is 11644473600 s later. */
    uint64_t ticks = ((uint64_t)now.dwHighDateTime << 32) | now.dwLowDateTime;
    return (ticks - UINT64_C(116444736000000000)) * 100u;
}

void platform_sleep_ms(unsigned ms)
{
    Sleep(ms);
}

/* A console, not merely a character device: _isatty() is also true of NUL,
 * where progress lines would only waste time. */
bool platform_stderr_is_terminal(void)
{
    DWORD mode;
    HANDLE stderr_handle = GetStdHandle(STD_ERROR_HANDLE);
    return stderr_handle != NULL && stderr_handle != INVALID_HANDLE_VALUE && GetConsoleMode(stderr_handle, &mode);
}

struct platform_thread {
    HANDLE handle;
    void (*body)(void *);
    void *arg;
};

/* _beginthreadex rather than CreateThread: the thread uses the C runtime. */
static unsigned __stdcall thread_trampoline(void *self)
{
    platform_thread *thread = self;
    thread->body(thread->arg);
    return 0;
}

platform_thread *platform_thread_start(void (*body)(void *), void *arg)
{
    platform_thread *thread = calloc(1, sizeof *thread);
    if (!thread)
        return NULL;
    thread->body = body;
    thread->arg = arg;
    uintptr_t handle = _beginthreadex(NULL, 0, thread_trampoline, thread, 0, NULL);
    if (handle == 0) {
        free(thread);
        return NULL;
    }
    thread->handle = (HANDLE)handle;
    return thread;
}

void platform_thread_join(platform_thread *thread)
{
    WaitForSingleObject(thread->handle, INFINITE);
    CloseHandle(thread->handle);
    free(thread);
}

struct platform_mutex {
    SRWLOCK lock;
};

platform_mutex *platform_mutex_create(void)
{
    platform_mutex *mutex = calloc(1, sizeof *mutex);
    if (mutex)
        InitializeSRWLock(&mutex->lock);
    return mutex;
}

void platform_mutex_destroy(platform_mutex *mutex)
{
    free(mutex); /* an SRW lock needs no clean-up */
}

void platform_mutex_lock(platform_mutex *mutex)
{
    AcquireSRWLockExclusive(&mutex->lock);
}

void platform_mutex_unlock(platform_mutex *mutex)
{
    ReleaseSRWLockExclusive(&mutex->lock);
}

/* RtlGetVersion tells the true version; GetVersionEx answers what the
 * executable's manifest claims to support (8.0 without one). */
typedef LONG(WINAPI *rtl_get_version_fn)(OSVERSIONINFOW *);
typedef const char *(__cdecl *wine_get_version_fn)(void);

static const char *machine_name(void)
{
    SYSTEM_INFO system;
    GetNativeSystemInfo(&system);
    switch (system.wProcessorArchitecture) {
    case PROCESSOR_ARCHITECTURE_AMD64:
        return "x86_64";
    case PROCESSOR_ARCHITECTURE_INTEL:
        return "x86";
    case PROCESSOR_ARCHITECTURE_ARM64:
        return "arm64";
    default:
        return "unknown machine";
    }
}

/* GetProcAddress returns a generic function pointer, cast to the real type. */
static FARPROC ntdll_function(const char *name)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll ? GetProcAddress(ntdll, name) : NULL;
}

static void describe_os(char *out, size_t size)
{
    OSVERSIONINFOW version;
    memset(&version, 0, sizeof version);
    version.dwOSVersionInfoSize = sizeof version;
    rtl_get_version_fn rtl_get_version = (rtl_get_version_fn)(void (*)(void))ntdll_function("RtlGetVersion");
    if (!rtl_get_version || rtl_get_version(&version) != 0)
        version.dwMajorVersion = version.dwMinorVersion = version.dwBuildNumber = 0;
    int length = snprintf(out, size, "Windows %lu.%lu build %lu %s", (unsigned long)version.dwMajorVersion,
                          (unsigned long)version.dwMinorVersion, (unsigned long)version.dwBuildNumber, machine_name());
    /* Wine's ntdll exports wine_get_version; Windows' does not. */
    wine_get_version_fn wine_get_version = (wine_get_version_fn)(void (*)(void))ntdll_function("wine_get_version");
    if (wine_get_version && length > 0 && (size_t)length < size)
        snprintf(out + length, size - (size_t)length, " (Wine %s)", wine_get_version());
}

/* The processor's brand string, as Windows records it at boot. */
static void read_cpu_model(char *out, size_t size)
{
    char name[256];
    DWORD length = sizeof name;
    snprintf(out, size, "unknown");
    if (RegGetValueA(HKEY_LOCAL_MACHINE, "HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0", "ProcessorNameString",
                     RRF_RT_REG_SZ, NULL, name, &length) == ERROR_SUCCESS) {
        const char *start = name + strspn(name, " "); /* some brand strings are padded at the front */
        if (*start)
            snprintf(out, size, "%s", start);
    }
}

void platform_describe(platform_info *info)
{
    memset(info, 0, sizeof *info);
    describe_os(info->os, sizeof info->os);
    read_cpu_model(info->cpu_model, sizeof info->cpu_model);
    DWORD length = (DWORD)sizeof info->host_name;
    if (!GetComputerNameExA(ComputerNameDnsHostname, info->host_name, &length) || !info->host_name[0])
        snprintf(info->host_name, sizeof info->host_name, "unknown");
    SYSTEM_INFO system;
    GetSystemInfo(&system);
    info->cpu_count = system.dwNumberOfProcessors > 0 ? (unsigned)system.dwNumberOfProcessors : 1;
}

static double filetime_seconds(FILETIME time)
{
    ULARGE_INTEGER ticks; /* 100 ns each */
    ticks.LowPart = time.dwLowDateTime;
    ticks.HighPart = time.dwHighDateTime;
    return (double)ticks.QuadPart / 1e7;
}

void platform_cpu_times(double *user_s, double *system_s)
{
    FILETIME created, exited, kernel, user;
    *user_s = *system_s = 0;
    if (GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) {
        *user_s = filetime_seconds(user);
        *system_s = filetime_seconds(kernel);
    }
}

bool platform_reserve_descriptors(unsigned long needed, char *error, size_t error_size)
{
    /* Winsock sockets are kernel handles, with no per-process count limit to check up front. */
    (void)needed, (void)error, (void)error_size;
    return true;
}
