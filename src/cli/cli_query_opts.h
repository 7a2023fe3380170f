/*
 * cli_query_opts.h - the filters and sources that `kaudit query` and the views share: one
 * getopt_long table fragment and its handler (the filters parsed with query.h, so every
 * command reads them identically), and a row source that reads the rows of a query from raw
 * logs (--file PATH..., with rotated backups, .gz and directories), from the store
 * (--store DIR, default server.data_dir of --config, else ./kaudit-data) or from the table
 * that the ClickHouse output writes (--clickhouse URL, include/kaudit/chquery.h). The raw-log
 * scan is in cli_scan.c.
 */
#ifndef KA_CLI_QUERY_OPTS_H
#define KA_CLI_QUERY_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "kaudit/event.h"
#include "kaudit/query.h"

#define KA_CQO_MAX_FILES 4096
/* Option codes of the shared flags (getopt_long values; commands use codes below 300). */
enum {
    KA_CQO_USER = 300, KA_CQO_AS, KA_CQO_GROUP, KA_CQO_VERB, KA_CQO_RESOURCE, KA_CQO_NAMESPACE,
    KA_CQO_NAME, KA_CQO_CODE, KA_CQO_DECISION, KA_CQO_SRCIP, KA_CQO_UA, KA_CQO_CLUSTER,
    KA_CQO_GREP, KA_CQO_SINCE, KA_CQO_UNTIL, KA_CQO_FILE, KA_CQO_STORE, KA_CQO_CONFIG,
    KA_CQO_NOBACKUPS, KA_CQO_CLICKHOUSE
};
/* The shared long options (--user, --as, --group, --verb, --resource, --namespace, --name,
 * --code, --decision, --source-ip, --user-agent, --cluster, --grep, --since, --until, --file,
 * --store, --config, --no-backups, --clickhouse), terminated by a zero entry. */
extern const struct option ka_cqo_long[];
#define KA_CQO_N_LONG 20
/* Usage lines describing them. */
extern const char ka_cqo_usage[];

struct ka_cqo {
    struct ka_query q;
    char *files[KA_CQO_MAX_FILES];
    int nfiles;
    const char *store, *config;
    const char *clickhouse; /* URL of the ClickHouse table */
    bool no_backups;
};

void ka_cqo_init(struct ka_cqo *o);
void ka_cqo_free(struct ka_cqo *o);
/* Handles one shared option c with value val. Returns 0, 1 (not a shared option) or a
 * negative KA_E* with a message in d. now: the current time for --since/--until. */
int ka_cqo_opt(struct ka_cqo *o, int c, char *val, int64_t now, struct ka_diag *d);
/* Concatenates the shared long options after cmd's own (both zero-terminated) into out
 * (room for n_cmd + KA_CQO_N_LONG + 1 entries). */
void ka_cqo_options(const struct option *cmd, struct option *out);

struct ka_cfg;
/* The store's data directory: --store, else server.data_dir of --config, else ./kaudit-data.
 * *cfg (free it with ka_cfg_free) holds the loaded configuration the answer may point into.
 * NULL when --config cannot be loaded (the reasons are printed prefixed by prog). */
const char *ka_cqo_store_dir(const struct ka_cqo *o, const char *prog, struct ka_cfg **cfg);

/* Called for each row in row order; a non-zero return stops and becomes the exit code. */
typedef int (*ka_cqo_row_fn)(void *ud, const struct ka_event *ev);

/* Rows with their canonical line, as ka_store_query and ka_chq_query call them. */
typedef int (*ka_cqo_line_fn)(void *ud, const struct ka_event *ev, const char *line,
                              size_t len);
/*
 * Reads the rows of q from the ClickHouse table at url and calls fn for each. Returns an exit
 * code like ka_cqo_run (1: bad URL or the server refused or could not be reached).
 */
int ka_cqo_run_clickhouse(const char *url, const struct ka_query *q, const char *prog,
                          ka_cqo_line_fn fn, void *ud);

/* A row as its raw line (canonical or as logged), as ka_rows_finish calls them. */
typedef int (*ka_cqo_raw_fn)(void *ud, const char *raw, size_t n);
/*
 * Reads the rows of o->q from the raw logs o->files (cli_scan.c: log sets with their rotated
 * backups unless o->no_backups, .gz, directories; the filters' literals skip most lines
 * unscanned; a progress bar on a terminal) and calls fn for each, in row order. Returns an
 * exit code like ka_cqo_run (3: some lines were bad, reported as file:line:col).
 */
int ka_cqo_scan_files(const struct ka_cqo *o, const char *prog, ka_cqo_raw_fn fn, void *ud);

/*
 * Reads the rows of o->q from the files (when any), ClickHouse (--clickhouse) or the store
 * and calls fn for each.
 * Messages go to stderr prefixed by prog ("kaudit history"). Returns an exit code: 0, 1 (usage,
 * missing file or store), 2 (internal), 3 (some lines were bad, the rest was read), or fn's.
 */
int ka_cqo_run(const struct ka_cqo *o, const char *prog, ka_cqo_row_fn fn, void *ud);

#endif
