/* See run.h. */
#include "run.h"

#include <stdio.h>

void run_stop(run_shared *run, const char *reason)
{
    platform_mutex_lock(run->fatal_lock);
    if (!run->fatal[0])
        snprintf(run->fatal, sizeof run->fatal, "%s", reason);
    platform_mutex_unlock(run->fatal_lock);
    atomic_store(&run->stop, true);
}

bool run_stopped(run_shared *run)
{
    return atomic_load_explicit(&run->stop, memory_order_relaxed);
}
