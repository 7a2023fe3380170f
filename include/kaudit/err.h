/*
 * err.h - error codes and diagnostics shared by every kaudit module.
 *
 * Functions return int: 0 (KA_OK) on success, a negative KA_E* code on failure. Outputs are
 * the last arguments and are written only on success. Library code never prints: messages
 * that a user should see are collected in a struct ka_diag, which the caller owns and prints.
 */
#ifndef KAUDIT_ERR_H
#define KAUDIT_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    KA_OK = 0,
    KA_EINVAL = -1,    /* bad argument or bad input */
    KA_ENOMEM = -2,    /* allocation failed */
    KA_EIO = -3,       /* read or write failed (errno kept by the caller) */
    KA_ETOOBIG = -4,   /* a configured maximum (line, body, depth, buffer) was exceeded */
    KA_ESYNTAX = -5,   /* not valid JSON / YAML */
    KA_ENOTEVENT = -6, /* valid JSON, but not an audit event */
    KA_ENOENT = -7,    /* file or member not found */
    KA_EPOLICY = -8,   /* invalid audit policy */
};

/* A short, static, English description of a KA_E* code. */
const char *ka_strerror(int err);

enum ka_sev { KA_SEV_NOTE = 0, KA_SEV_WARNING = 1, KA_SEV_ERROR = 2 };

struct ka_diag_entry {
    enum ka_sev sev;
    char *msg; /* complete message, e.g. "policy.yaml:14:9: rules[2].level: Required value" */
};

/* A growing list of messages. Zero-initialise; free with ka_diag_free(). */
struct ka_diag {
    struct ka_diag_entry *v;
    size_t n, cap;
    size_t n_errors, n_warnings;
};

/* Appends a formatted message. Returns KA_OK or KA_ENOMEM (the message is then lost). */
int ka_diag_add(struct ka_diag *d, enum ka_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ka_diag_vadd(struct ka_diag *d, enum ka_sev sev, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void ka_diag_free(struct ka_diag *d);

/* Line and column (both 1-based, column counted in bytes) of offset off in buf. */
void ka_linecol(const char *buf, size_t off, unsigned long *line, unsigned long *col);

#endif
