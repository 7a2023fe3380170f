/*
 * outputs_int.h - internal declarations shared by the forwarding outputs and their registry
 * (src/outputs/output.c): the ops table of every output, and small helpers for outputs.
 */
#ifndef KA_OUTPUTS_INT_H
#define KA_OUTPUTS_INT_H

#include <stddef.h>

#include "kaudit/output.h"

extern const struct ka_output_ops ka_output_clickhouse;
extern const struct ka_output_ops ka_output_syslog;
extern const struct ka_output_ops ka_output_elasticsearch;
extern const struct ka_output_ops ka_output_loki;
extern const struct ka_output_ops ka_output_splunk;
extern const struct ka_output_ops ka_output_kafka;

/* Sets items[0..n) to result with reason (truncated to fit), skipping PERMANENT ones. */
void ka_out_items_set(struct ka_out_item *items, size_t n, enum ka_out_result result,
                      const char *reason);

/* Parses a boolean parameter value ("1", "true", "yes", "on" / "0", "false", "no", "off").
   Returns 1, 0, or -1 when v is not a boolean. NULL returns dflt. */
int ka_out_bool(const char *v, int dflt);

/* Parses a non-negative decimal integer parameter up to max. Returns 0 or -1. */
int ka_out_uint(const char *v, unsigned long long max, unsigned long long *out);

#endif
