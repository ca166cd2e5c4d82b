/* platform.h for Linux (POSIX threads, CLOCK_MONOTONIC, /proc/cpuinfo). */
#define _GNU_SOURCE
#include "platform.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t platform_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint64_t platform_wall_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

void platform_sleep_ms(unsigned ms)
{
    struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0) {
    }
}

bool platform_stderr_is_terminal(void)
{
    return isatty(STDERR_FILENO) == 1;
}

struct platform_thread {
    pthread_t id;
    void (*body)(void *);
    void *arg;
};

static void *thread_trampoline(void *self)
{
    platform_thread *thread = self;
    thread->body(thread->arg);
    return NULL;
}

platform_thread *platform_thread_start(void (*body)(void *), void *arg)
{
    platform_thread *thread = calloc(1, sizeof *thread);
    if (!thread)
        return NULL;
    thread->body = body;
    thread->arg = arg;
    if (pthread_create(&thread->id, NULL, thread_trampoline, thread) != 0) {
        free(thread);
        return NULL;
    }
    return thread;
}

void platform_thread_join(platform_thread *thread)
{
    pthread_join(thread->id, NULL);
    free(thread);
}

struct platform_mutex {
    pthread_mutex_t lock;
};

platform_mutex *platform_mutex_create(void)
{
    platform_mutex *mutex = calloc(1, sizeof *mutex);
    if (mutex)
        pthread_mutex_init(&mutex->lock, NULL);
    return mutex;
}

void platform_mutex_destroy(platform_mutex *mutex)
{
    if (mutex)
        pthread_mutex_destroy(&mutex->lock);
    free(mutex);
}

void platform_mutex_lock(platform_mutex *mutex)
{
    pthread_mutex_lock(&mutex->lock);
}

void platform_mutex_unlock(platform_mutex *mutex)
{
    pthread_mutex_unlock(&mutex->lock);
}

/* The first "model name" line of /proc/cpuinfo (x86; other CPUs may lack it). */
static void read_cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *cpuinfo = fopen("/proc/cpuinfo", "r");
    if (!cpuinfo)
        return;
    char line[512];
    while (fgets(line, sizeof line, cpuinfo)) {
        char *colon = strchr(line, ':');
        if (colon && !strncmp(line, "model name", 10)) {
            colon += 1 + strspn(colon + 1, " \t");
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(cpuinfo);
}

void platform_describe(platform_info *info)
{
    struct utsname name;
    memset(info, 0, sizeof *info);
    if (uname(&name) == 0)
        snprintf(info->os, sizeof info->os, "%s %s %s %s", name.sysname, name.release, name.version, name.machine);
    read_cpu_model(info->cpu_model, sizeof info->cpu_model);
    if (gethostname(info->host_name, sizeof info->host_name - 1) != 0)
        snprintf(info->host_name, sizeof info->host_name, "unknown");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    info->cpu_count = cpus > 0 ? (unsigned)cpus : 1;
}

void platform_cpu_times(double *user_s, double *system_s)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    *user_s = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6;
    *system_s = (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

bool platform_reserve_descriptors(unsigned long needed, char *error, size_t error_size)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed)
        return true;
    /* The soft limit is a default, not a policy: raise it when the hard limit allows. */
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= needed) {
        struct rlimit raised = {.rlim_cur = (rlim_t)needed, .rlim_max = limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            return true;
    }
    snprintf(error, error_size,
             "this run needs about %lu file descriptors, but the fd limit (RLIMIT_NOFILE) is %llu (hard limit "
             "%llu): raise it (ulimit -n %lu) or use fewer connections",
             needed, (unsigned long long)limit.rlim_cur, (unsigned long long)limit.rlim_max, needed);
    return false;
}
