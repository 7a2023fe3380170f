/*
 * testutil.h - helpers shared by the unit tests.
 *
 * Data from ../shared (real audit logs from public projects, the policy fact table) is read in
 * place through ka_t_shared(); when ../shared is absent (a fresh clone on its own) the tests
 * that need it are skipped with a message instead of failing.
 */
#ifndef KA_TESTUTIL_H
#define KA_TESTUTIL_H

#include <stddef.h>

/* Path of a file below ../shared, or NULL (and the current test is skipped) when absent. */
const char *ka_t_shared(const char *rel);
/* True when ../shared exists. */
int ka_t_have_shared(void);
/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on error. */
char *ka_t_read_file(const char *path, size_t *len);
/* Creates a fresh temporary directory (removed by ka_t_rmtree). Returns a malloc'd path. */
char *ka_t_tmpdir(void);
void ka_t_rmtree(const char *path);
/*
 * Runs the kaudit binary with args (a shell-quoted string) feeding stdin_data (may be NULL),
 * captures stdout and stderr into malloc'd strings. Returns the exit status (or -1).
 */
int ka_t_run(const char *args, const char *stdin_data, size_t stdin_len, char **out,
             size_t *out_len, char **err);

#endif
