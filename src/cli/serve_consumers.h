/*
 * serve_consumers.h - the journal consumers of `kaudit serve` (store, detection, forwarding),
 * started after the journal is open and stopped before it is closed.
 */
#ifndef KA_SERVE_CONSUMERS_H
#define KA_SERVE_CONSUMERS_H

#include "kaudit/config.h"
#include "kaudit/err.h"
#include "kaudit/journal.h"

struct serve_consumers_opts {
    void (*log)(void *ud, enum ka_sev sev, const char *msg); /* required */
    void *log_ud;
};

struct serve_consumers;

/* Starts what sc enables (store.enabled, detect.enabled, forward.outputs). Problems are logged;
 * returns KA_OK or the first error (then nothing is left running). */
int serve_consumers_start(const struct ka_serve_cfg *sc, struct ka_journal *j,
                          const struct serve_consumers_opts *o, struct serve_consumers **out);
/* Stops every consumer after its current batch (cursors committed). NULL: no-op. */
void serve_consumers_stop(struct serve_consumers *c);

#endif
