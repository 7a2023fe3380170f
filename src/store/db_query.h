/*
 * db_query.h - the SQL translation of a query (db_query.c), shared with the aggregates
 * (db_top.c).
 */
#ifndef KA_STORE_DB_QUERY_H
#define KA_STORE_DB_QUERY_H

#include "db_int.h"

struct dbq_bind {
    const char *p;
    size_t n;
    int64_t i;
    bool text;
};

/* A WHERE clause (without the keyword) and its parameters. */
struct dbq {
    struct ka_store *s;
    const struct ka_query *q;
    struct ka_buf w;
    struct ka_buf tmp;
    struct dbq_bind *binds;
    size_t nb, capb;
    size_t base;      /* parameters are numbered ?base+1 ... */
    bool exact; /* the clause alone selects exactly the rows of q (limit aside) */
    /* What the clause is applied to: "events", or for a query over all stages by object
     * (schema version 4: ev_obj holds only the rows with okey = 1) the candidate rows joined
     * to events; sub is the object part of the clause used to find them. */
    struct ka_buf from;
    struct dbq *sub;
};

/* Builds the clause for q. Free with dbq_free (also after an error). */
int dbq_build(struct ka_store *s, const struct ka_query *q, struct dbq *x);
/* What the head's FROM names: "events" or the candidate rows joined to events (NUL-terminated). */
const char *dbq_from(const struct dbq *x);
/* Whether the FROM is the candidate join (then no NOT INDEXED / INDEXED BY on it). */
bool dbq_joined(const struct dbq *x);
/* Prepares "<head> WHERE <clause> <tail>" with the parameters bound (head from dbq_from). */
int dbq_prepare(struct dbq *x, const char *head, const char *tail, sqlite3_stmt **st);
void dbq_free(struct dbq *x);
/* Appends "\nplan: ..." lines: SQLite's plan for "head WHERE clause tail". */
int dbq_plan(struct dbq *x, const char *head, const char *tail, struct ka_buf *out);
/* db_top.c: ka_store_explain for an aggregate. */
int db_top_explain(struct ka_store *s, const struct ka_query *q, const char *field,
                   struct ka_buf *out);

#endif
