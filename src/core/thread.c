/*
 * thread.c - priorities of kaudit's background threads (include/kaudit/thread.h).
 */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaudit/thread.h"

void ka_thread_lower_priority(int inc)
{
    if (inc < 1 || inc > 19)
        return;
    /* On Linux a nice value set through a thread id applies to that thread alone. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), inc);
}
