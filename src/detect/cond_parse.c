/*
 * cond_parse.c - lexer and parser of Falco's condition language into a kd_node tree.
 *
 *   Expr    := And ( "or" And )*
 *   And     := Not ( "and" Not )*
 *   Not     := "not" Not | "(" Expr ")" | Check | MacroName
 *   Check   := Field [ "[" arg "]" ] Op
 *   Op      := "exists" | ListOp List | StrOp ( Mod List | Value )
 *   ListOp  := in | intersects | pmatch
 *   Mod     := oneof | anyof | allof
 *   List    := "(" [ Value ( "," Value )* ] ")" | ListName
 *   Value   := quoted string ('...' or "...") | bare string
 *
 * An identifier not followed by an operator is a macro reference. Bare values end at space,
 * parentheses, quotes, '=' and ','; list items may contain '='. Nesting (parentheses and "not")
 * is bounded by KA_DETECT_MAX_DEPTH; the text by KA_DETECT_MAX_COND.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

struct ps {
    struct kap_arena *a;
    const char *s;
    size_t n, i;
    unsigned depth;
    size_t err_off;
    char *msg;
    size_t msglen;
    bool failed, oom;
};

static const char *const op_names[KD_OP_COUNT] = {
    "=",        "!=",         "<",        "<=",    ">",     ">=",     "contains",
    "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob",
    "regex",    "in",         "intersects", "pmatch", "exists",
};

const char *kd_op_name(enum kd_op op)
{
    return op < KD_OP_COUNT ? op_names[op] : "?";
}

static void fail(struct ps *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct ps *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err_off = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->msglen, fmt, ap);
    va_end(ap);
}

static void skip_ws(struct ps *p)
{
    while (p->i < p->n && isspace((unsigned char)p->s[p->i]))
        p->i++;
}

static bool id_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool id_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Length of the identifier at p->i (0 if none). */
static size_t ident_len(const struct ps *p, size_t at)
{
    size_t j = at;
    if (j >= p->n || !id_start(p->s[j]))
        return 0;
    while (j < p->n && id_char(p->s[j]))
        j++;
    while (j > at && (p->s[j - 1] == '.' || p->s[j - 1] == '-'))
        j--;
    return j - at;
}

/* True when the word w is at p->i, followed by a non-identifier character. */
static bool word_at(const struct ps *p, const char *w)
{
    size_t l = strlen(w);
    if (p->n - p->i < l || strncmp(p->s + p->i, w, l) != 0)
        return false;
    return p->i + l == p->n || !id_char(p->s[p->i + l]);
}

static struct kd_node *new_node(struct ps *p, enum kd_kind k, size_t off)
{
    struct kd_node *n = ka__arena_alloc(p->a, sizeof(*n));
    if (!n) {
        p->oom = p->failed = true;
        return NULL;
    }
    n->kind = k;
    n->off = off;
    return n;
}

/* Parses a quoted string starting at p->i (a quote) into v. */
static bool parse_quoted(struct ps *p, struct kd_val *v)
{
    char q = p->s[p->i];
    size_t start = p->i++, cap = 0;
    for (size_t j = p->i; j < p->n && p->s[j] != q; j++, cap++)
        if (p->s[j] == '\\' && j + 1 < p->n)
            j++;
    char *out = ka__arena_alloc(p->a, cap + 1);
    if (!out) {
        p->oom = p->failed = true;
        return false;
    }
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        char c = p->s[p->i++];
        if (c == '\\' && p->i < p->n) {
            char e = p->s[p->i++];
            if (e == '\\' || e == '"' || e == '\'')
                c = e;
            else if (e == 'n')
                c = '\n';
            else if (e == 't')
                c = '\t';
            else if (e == 'r')
                c = '\r';
            else
                out[k++] = '\\', c = e;
        }
        out[k++] = c;
    }
    if (p->i >= p->n) {
        fail(p, start, "unterminated %s string", q == '"' ? "double-quoted" : "quoted");
        return false;
    }
    p->i++;
    out[k] = '\0';
    v->s = out;
    v->n = k;
    v->quoted = true;
    v->off = start;
    return true;
}

static bool stop_char(char c, bool in_list)
{
    return isspace((unsigned char)c) || c == '(' || c == ')' || c == '"' || c == '\'' ||
           c == ',' || (!in_list && c == '=');
}

/* A quoted or bare value. */
static bool parse_value(struct ps *p, struct kd_val *v, bool in_list)
{
    skip_ws(p);
    if (p->i >= p->n) {
        fail(p, p->i, "expected a value%s", "");
        return false;
    }
    if (p->s[p->i] == '"' || p->s[p->i] == '\'')
        return parse_quoted(p, v);
    size_t st = p->i;
    while (p->i < p->n && !stop_char(p->s[p->i], in_list))
        p->i++;
    if (p->i == st) {
        char what[8];
        snprintf(what, sizeof(what), "%c", p->s[st]);
        fail(p, st, "expected a value, found '%s'", what);
        return false;
    }
    v->s = ka__arena_strdup(p->a, p->s + st, p->i - st);
    if (!v->s) {
        p->oom = p->failed = true;
        return false;
    }
    v->n = p->i - st;
    v->off = st;
    v->quoted = false;
    return true;
}

static bool push_val(struct ps *p, struct kd_node *n, size_t *cap, const struct kd_val *v)
{
    if (n->nvals >= KD_MAX_ITEMS) {
        fail(p, v->off, "too many values in a list%s", "");
        return false;
    }
    if (kd_grow(p->a, (void **)&n->vals, cap, n->nvals + 1, sizeof(*n->vals)) != KA_OK) {
        p->oom = p->failed = true;
        return false;
    }
    n->vals[n->nvals++] = *v;
    return true;
}

/* "(" items ")" or a bare list name. */
static bool parse_list(struct ps *p, struct kd_node *n)
{
    size_t cap = 0;
    struct kd_val v;
    skip_ws(p);
    n->rhs_list = true;
    if (p->i < p->n && p->s[p->i] != '(') {
        size_t l = ident_len(p, p->i);
        if (l == 0) {
            fail(p, p->i, "expected a list: '(' or a list name%s", "");
            return false;
        }
        return parse_value(p, &v, true) && push_val(p, n, &cap, &v);
    }
    if (p->i >= p->n) {
        fail(p, p->i, "expected a list%s", "");
        return false;
    }
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ')') {
        p->i++;
        return true;
    }
    for (;;) {
        if (!parse_value(p, &v, true) || !push_val(p, n, &cap, &v))
            return false;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ')') {
            p->i++;
            return true;
        }
        fail(p, p->i, "expected ',' or ')' in a list%s", "");
        return false;
    }
}

/* Reads an operator at p->i; returns -1 when there is none. */
static int parse_op(struct ps *p)
{
    static const struct { const char *s; enum kd_op op; } sym[] = {
        {"==", KD_OP_EQ}, {"!=", KD_OP_NE}, {"<=", KD_OP_LE}, {">=", KD_OP_GE},
        {"=", KD_OP_EQ},  {"<", KD_OP_LT},  {">", KD_OP_GT},
    };
    for (size_t k = 0; k < sizeof(sym) / sizeof(sym[0]); k++) {
        size_t l = strlen(sym[k].s);
        if (p->n - p->i >= l && !strncmp(p->s + p->i, sym[k].s, l)) {
            p->i += l;
            return (int)sym[k].op;
        }
    }
    for (int op = KD_OP_CONTAINS; op < KD_OP_COUNT; op++)
        if (word_at(p, op_names[op])) {
            p->i += strlen(op_names[op]);
            return op;
        }
    return -1;
}

static bool parse_rhs(struct ps *p, struct kd_node *n)
{
    if (n->op == KD_OP_EXISTS)
        return true;
    skip_ws(p);
    if (n->op == KD_OP_IN || n->op == KD_OP_INTERSECTS || n->op == KD_OP_PMATCH)
        return parse_list(p, n);
    static const char *const mods[] = {"oneof", "anyof", "allof"};
    for (int k = 0; k < 3; k++)
        if (word_at(p, mods[k])) {
            p->i += strlen(mods[k]);
            n->mod = (enum kd_mod)(KD_MOD_ONEOF + k);
            return parse_list(p, n);
        }
    size_t l = ident_len(p, p->i);
    if (l > 0 && p->i + l < p->n && p->s[p->i + l] == '(') {
        fail(p, p->i, "field transformers and val() are not supported%s", "");
        return false;
    }
    size_t cap = 0;
    struct kd_val v;
    return parse_value(p, &v, false) && push_val(p, n, &cap, &v);
}

static struct kd_node *parse_or(struct ps *p);

/* Field check or macro reference at p->i (an identifier). */
static struct kd_node *parse_check(struct ps *p)
{
    size_t st = p->i, l = ident_len(p, p->i);
    if (l == 0) {
        if (p->i >= p->n)
            fail(p, p->i, "unexpected end of condition%s", "");
        else
            fail(p, p->i, "unexpected character '%.1s'", p->s + p->i);
        return NULL;
    }
    struct kd_node *n = new_node(p, KD_CHECK, st);
    if (!n || !(n->name = ka__arena_strdup(p->a, p->s + st, l))) {
        p->oom = p->failed = true;
        return NULL;
    }
    p->i += l;
    bool arg = p->i < p->n && p->s[p->i] == '[';
    if (arg) {
        const char *end = memchr(p->s + p->i, ']', p->n - p->i);
        if (!end) {
            fail(p, p->i, "unterminated field argument '['%s", "");
            return NULL;
        }
        n->arg = ka__arena_strdup(p->a, p->s + p->i + 1, (size_t)(end - p->s) - p->i - 1);
        if (!n->arg) {
            p->oom = p->failed = true;
            return NULL;
        }
        p->i = (size_t)(end - p->s) + 1;
    }
    skip_ws(p);
    int op = parse_op(p);
    if (op < 0) {
        if (arg || strchr(n->name, '.')) {
            fail(p, p->i, "expected an operator after field '%s'", n->name);
            return NULL;
        }
        n->kind = KD_MACRO;
        return n;
    }
    n->op = (enum kd_op)op;
    return parse_rhs(p, n) ? n : NULL;
}

static struct kd_node *parse_not(struct ps *p)
{
    skip_ws(p);
    if (++p->depth > KA_DETECT_MAX_DEPTH) {
        fail(p, p->i, "condition nested too deeply%s", "");
        return NULL;
    }
    struct kd_node *r = NULL;
    if (word_at(p, "not")) {
        size_t st = p->i;
        p->i += 3;
        struct kd_node *k = parse_not(p);
        r = k ? new_node(p, KD_NOT, st) : NULL;
        if (r && (r->kids = ka__arena_alloc(p->a, sizeof(struct kd_node *))) != NULL) {
            r->kids[0] = k;
            r->nkids = 1;
        } else if (r) {
            p->oom = p->failed = true;
            r = NULL;
        }
    } else if (p->i < p->n && p->s[p->i] == '(') {
        size_t st = p->i++;
        r = parse_or(p);
        skip_ws(p);
        if (r && (p->i >= p->n || p->s[p->i] != ')')) {
            fail(p, st, "unbalanced '('%s", "");
            r = NULL;
        } else if (r)
            p->i++;
    } else
        r = parse_check(p);
    p->depth--;
    return r;
}

/* Parses sub-expressions separated by the word sep into one kind node. */
static struct kd_node *parse_seq(struct ps *p, const char *sep, enum kd_kind kind,
                                 struct kd_node *(*sub)(struct ps *))
{
    size_t st = p->i, cap = 0;
    struct kd_node *first = sub(p);
    if (!first)
        return NULL;
    skip_ws(p);
    if (!word_at(p, sep))
        return first;
    struct kd_node *n = new_node(p, kind, st);
    if (!n || kd_grow(p->a, (void **)&n->kids, &cap, 1, sizeof(struct kd_node *)) != KA_OK) {
        p->oom = p->failed = true;
        return NULL;
    }
    n->kids[n->nkids++] = first;
    while (word_at(p, sep)) {
        p->i += strlen(sep);
        struct kd_node *k = sub(p);
        if (!k)
            return NULL;
        if (kd_grow(p->a, (void **)&n->kids, &cap, n->nkids + 1, sizeof(struct kd_node *)) != KA_OK) {
            p->oom = p->failed = true;
            return NULL;
        }
        n->kids[n->nkids++] = k;
        skip_ws(p);
    }
    return n;
}

static struct kd_node *parse_and(struct ps *p)
{
    return parse_seq(p, "and", KD_AND, parse_not);
}

static struct kd_node *parse_or(struct ps *p)
{
    return parse_seq(p, "or", KD_OR, parse_and);
}

int kd_parse(struct kap_arena *a, const char *text, size_t n, struct kd_node **out,
             size_t *err_off, char *msg, size_t msglen)
{
    struct ps p = {.a = a, .s = text, .n = n, .msg = msg, .msglen = msglen};
    if (n > KA_DETECT_MAX_COND) {
        snprintf(msg, msglen, "condition longer than %u bytes", KA_DETECT_MAX_COND);
        *err_off = 0;
        return KA_ETOOBIG;
    }
    skip_ws(&p);
    if (p.i >= n) {
        snprintf(msg, msglen, "empty condition");
        *err_off = 0;
        return KA_EINVAL;
    }
    struct kd_node *r = parse_or(&p);
    skip_ws(&p);
    if (r && p.i < n)
        fail(&p, p.i, "unexpected '%.24s'", text + p.i);
    if (p.oom)
        return KA_ENOMEM;
    if (p.failed || !r) {
        *err_off = p.err_off;
        return KA_EINVAL;
    }
    *out = r;
    return KA_OK;
}
