/*
 * files_input.h - the collector's file inputs (`inputs.files` in the serve configuration): one
 * thread per audit log path follows it (include/kaudit/tail.h) and sends its lines through the
 * webhook pipeline (scan, policy, cluster tag, redaction, canonical encoding, dead letters) into
 * the journal in batches of up to KA_FILES_BATCH_EVENTS events or KA_FILES_BATCH_MS.
 *
 * Guarantee: a follower's checkpoint (<data-dir>/checkpoints/<sanitised path>.ckpt) is
 * committed only after the journal append of everything read before it returned KA_OK, so a
 * crash replays at most the uncommitted lines (at-least-once) and loses none; a clean stop
 * appends what is pending and commits (exactly once across restarts).
 *
 * The inputs borrow the webhook server (policy, redactor, dead-letter file, journal sink,
 * metrics): stop them before the server.
 */
#ifndef KA_FILES_INPUT_H
#define KA_FILES_INPUT_H

#include "kaudit/config.h"
#include "kaudit/err.h"

#define KA_FILES_MAX_INPUTS 64
#define KA_FILES_BATCH_EVENTS 400
#define KA_FILES_BATCH_BYTES (8u << 20)
#define KA_FILES_BATCH_MS 100

struct ka_webhook_server;
struct ka_files_input;

typedef void (*ka_files_log_fn)(void *ud, enum ka_sev sev, const char *msg);

/*
 * Starts one follower thread per entry of sc->inputs (none: *out is a valid empty set).
 * Returns KA_OK, KA_EINVAL (too many inputs, a bad cluster name, two paths with the same
 * checkpoint name, a malformed checkpoint), KA_EIO or KA_ENOMEM; problems are logged.
 */
int ka_files_start(struct ka_webhook_server *s, const struct ka_serve_cfg *sc, ka_files_log_fn log,
                   void *log_ud, struct ka_files_input **out);

/* Stops the threads; each appends what it holds and commits its checkpoint. NULL: no-op. */
void ka_files_stop(struct ka_files_input *f);

#endif
