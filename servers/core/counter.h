/* Lock-free 64-bit counters shared by every thread of a server.
 * C11 atomics where the compiler has them; MSVC's C mode only gained them
 * recently, so it uses the Interlocked functions instead. */
#ifndef WSB_COUNTER_H
#define WSB_COUNTER_H

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <windows.h>
typedef volatile LONG64 counter_t;
static inline int64_t counter_add(counter_t *c, int64_t delta)
{
    return InterlockedExchangeAdd64(c, delta) + delta;
}
static inline int64_t counter_get(counter_t *c)
{
    return InterlockedCompareExchange64(c, 0, 0);
}
static inline int counter_swap_if(counter_t *c, int64_t expected, int64_t desired)
{
    return InterlockedCompareExchange64(c, desired, expected) == expected;
}
#else
#include <stdatomic.h>
typedef _Atomic int64_t counter_t;
static inline int64_t counter_add(counter_t *c, int64_t delta)
{
    return atomic_fetch_add(c, delta) + delta;
}
static inline int64_t counter_get(counter_t *c)
{
    return atomic_load(c);
}
static inline int counter_swap_if(counter_t *c, int64_t expected, int64_t desired)
{
    return atomic_compare_exchange_strong(c, &expected, desired);
}
#endif

/* Raises *c to value if value is larger: keeps peaks without a lock. */
static inline void counter_raise_to(counter_t *c, int64_t value)
{
    int64_t seen = counter_get(c);
    while (value > seen && !counter_swap_if(c, seen, value))
        seen = counter_get(c);
}

#endif
