/* What the load generator needs from the operating system besides sockets:
 * a monotonic clock, threads, a mutex, and facts about the machine.
 * platform_posix.c implements it for Linux; a Windows file can follow. */
#ifndef WSB_LOADGEN_PLATFORM_H
#define WSB_LOADGEN_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t platform_now_ns(void); /* monotonic */
/* Wall-clock time since 1970 (UTC), for comparing moments across processes
 * and hosts (e.g. when several load generators started), never for durations. */
uint64_t platform_wall_ns(void);
void platform_sleep_ms(unsigned ms);
bool platform_stderr_is_terminal(void);

typedef struct platform_thread platform_thread;
platform_thread *platform_thread_start(void (*body)(void *), void *arg); /* NULL on failure */
void platform_thread_join(platform_thread *thread);                      /* also frees it */

typedef struct platform_mutex platform_mutex;
platform_mutex *platform_mutex_create(void);
void platform_mutex_destroy(platform_mutex *mutex);
void platform_mutex_lock(platform_mutex *mutex);
void platform_mutex_unlock(platform_mutex *mutex);

typedef struct platform_info {
    char os[400]; /* uname: system, release, version, machine */
    char cpu_model[256];
    char host_name[256];
    unsigned cpu_count;
} platform_info;
void platform_describe(platform_info *info);
void platform_cpu_times(double *user_s, double *system_s); /* this process so far */

/* Whether the process may hold `needed` descriptors at once, raising its soft
 * limit towards the hard one if that is enough. false: error says which limit,
 * by name, and how many are needed. (Windows has no such per-process limit.) */
bool platform_reserve_descriptors(unsigned long needed, char *error, size_t error_size);

#endif
