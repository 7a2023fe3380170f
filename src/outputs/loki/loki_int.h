/*
 * loki_int.h - internals of the Loki output shared between its context (loki.c) and its push
 * body builder (loki_body.c); exposed to the unit tests.
 */
#ifndef KAUDIT_OUTPUTS_LOKI_INT_H
#define KAUDIT_OUTPUTS_LOKI_INT_H

#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/output.h"

/* Annotation that marks a line whose requestObject/responseObject were dropped; its value is
   the size in bytes of the original line. */
#define KA_LOKI_DROPPED_ANNOTATION "kaudit.io/loki-objects-dropped"

/* Appends the stream's label object for ev ({"job":"…",…}) to b. */
int ka_loki_stream_labels(const void *ctx, const struct ka_event *ev, struct ka_buf *b);
size_t ka_loki_max_line(const void *ctx);
size_t ka_loki_max_event(const void *ctx);

/* The format step: the whole push body for the batch, streams in order of first appearance,
   entries sorted by (time, batch position) inside each stream. */
int ka_loki_build(const void *ctx, const struct ka_out_batch *b, struct ka_buf *body,
                  struct ka_out_item *items);

#endif
