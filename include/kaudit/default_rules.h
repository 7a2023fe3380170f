/*
 * default_rules.h - kaudit's default detection rules (rules/kaudit_rules.yaml), embedded in
 * the library at build time so that an installed binary needs no rules directory.
 */
#ifndef KAUDIT_DEFAULT_RULES_H
#define KAUDIT_DEFAULT_RULES_H

#include <stddef.h>

/* The file's bytes, followed by a NUL that is not counted in ka_default_rules_len. */
extern const char ka_default_rules[];
extern const size_t ka_default_rules_len;

/* The name used in messages about the embedded file. */
#define KA_DEFAULT_RULES_NAME "rules/kaudit_rules.yaml"

#endif
