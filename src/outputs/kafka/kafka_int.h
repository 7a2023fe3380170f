/*
 * kafka_int.h - internals of the Kafka output exposed to the unit tests: the producer
 * configuration that was set, and the (key, value) pairs a send produces from a body.
 */
#ifndef KAUDIT_OUTPUTS_KAFKA_INT_H
#define KAUDIT_OUTPUTS_KAFKA_INT_H

#include <stddef.h>

#include "kaudit/buf.h"
#include "kaudit/output.h"

/* Largest auditID used as a message key (longer ones are dead-lettered). */
#define KA_KAFKA_MAX_KEY 512

/* Reads a property of the producer's configuration (as librdkafka reports it). KA_OK or
   KA_ENOENT. */
int ka_kafka_conf_get(const void *ctx, const char *name, char *dst, size_t dstlen);

typedef int (*ka_kafka_msg_fn)(void *ud, size_t idx, const char *key, size_t kn,
                               const char *val, size_t vn);

/*
 * Walks body (made by format) and calls fn for every event not already PERMANENT, with its
 * key (the decoded auditID, so every stage of a request lands in one partition, in order)
 * and its value (the canonical event line, without the LF that separates values in the
 * body). KA_EINVAL when body does not match the batch; fn's non-zero
 * return stops the walk and is returned.
 */
int ka_kafka_split(const struct ka_out_batch *b, const struct ka_buf *body,
                   const struct ka_out_item *items, ka_kafka_msg_fn fn, void *ud);

#endif
