/*
 * test_config.c - the typed configuration engine (every type, every error kind with its exact
 * file:line:col message, flag overrides, struct filling) and the collector's table (the
 * defaults file loads back unchanged; docs/config.md lists exactly the table's keys).
 *
 * Data: none from ../shared; every YAML text is written here. docs/config.md is read from the
 * source tree.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit/config.h"
#include "testutil.h"

static const char *const colors[] = {"red", "green", NULL};

struct item {
    const char *name;
    long long weight;
    struct ka_cfg_strs tags;
};

struct conf {
    const char *s, *addr;
    bool b;
    long long i, dur;
    unsigned long long size;
    int color;
    struct ka_cfg_strs list;
    struct ka_cfg_items items;
};

#define FL(f) .off = offsetof(struct conf, f), .flags = KA_CFG_FILL

static const struct ka_cfg_key item_fields[] = {
    {.name = "name", .type = KA_CFG_STRING, .off = offsetof(struct item, name),
     .flags = KA_CFG_FILL | KA_CFG_REQUIRED, .doc = "name"},
    {.name = "weight", .type = KA_CFG_INT, .def = "1", .min = 0, .max = 10,
     .off = offsetof(struct item, weight), .flags = KA_CFG_FILL, .doc = "weight"},
    {.name = "tags", .type = KA_CFG_LIST, .off = offsetof(struct item, tags),
     .flags = KA_CFG_FILL, .doc = "tags"},
    {0},
};

static const struct ka_cfg_key keys[] = {
    {.name = "a.s", .type = KA_CFG_STRING, .def = "hello", FL(s), .doc = "a string"},
    {.name = "a.b", .type = KA_CFG_BOOL, .def = "false", FL(b), .doc = "a bool"},
    {.name = "a.i", .type = KA_CFG_INT, .def = "5", .min = 1, .max = 100, FL(i), .doc = "int"},
    {.name = "a.sub.size", .type = KA_CFG_SIZE, .def = "16MiB", .min = 1024, .max = 1ll << 30,
     FL(size), .doc = "size"},
    {.name = "a.sub.dur", .type = KA_CFG_DURATION, .def = "30s", FL(dur), .doc = "duration"},
    {.name = "b.color", .type = KA_CFG_ENUM, .def = "red", .choices = colors, FL(color),
     .doc = "enum"},
    {.name = "b.addr", .type = KA_CFG_ADDR, .def = "127.0.0.1:80", FL(addr), .doc = "addr"},
    {.name = "b.list", .type = KA_CFG_LIST, .def = "x,y", FL(list), .doc = "list"},
    {.name = "b.items", .type = KA_CFG_MAPLIST, .fields = item_fields,
     .item_size = sizeof(struct item), FL(items), .doc = "items"},
    {0},
};

static struct ka_diag dg;
static struct ka_cfg *cfg;

static void setup(void)
{
    memset(&dg, 0, sizeof dg);
    cr_assert_eq(ka_cfg_new(keys, &dg, &cfg), KA_OK);
}
static void teardown(void)
{
    ka_cfg_free(cfg);
    ka_diag_free(&dg);
}
TestSuite(config, .init = setup, .fini = teardown);

static int load(const char *text)
{
    return ka_cfg_load_mem(cfg, "c.yaml", text, strlen(text), &dg);
}

static void dump(void)
{
    for (size_t i = 0; i < dg.n; i++)
        fprintf(stderr, "  [%d] %s\n", (int)dg.v[i].sev, dg.v[i].msg);
}

/* The only error is exactly msg. */
static void expect_one(const char *text, const char *msg)
{
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    int rc = load(text);
    if (dg.n != 1 || strcmp(dg.v[0].msg, msg) != 0)
        dump();
    cr_assert_neq(rc, KA_OK, "%s", text);
    cr_assert_eq(dg.n, 1, "%s", text);
    cr_assert_str_eq(dg.v[0].msg, msg);
}

Test(config, defaults)
{
    cr_assert_str_eq(ka_cfg_str(cfg, "a.s"), "hello");
    cr_assert_eq(ka_cfg_bool(cfg, "a.b"), false);
    cr_assert_eq(ka_cfg_int(cfg, "a.i"), 5);
    cr_assert_eq(ka_cfg_size(cfg, "a.sub.size"), 16ull << 20);
    cr_assert_eq(ka_cfg_duration_ms(cfg, "a.sub.dur"), 30000);
    cr_assert_eq(ka_cfg_enum(cfg, "b.color"), 0);
    cr_assert_str_eq(ka_cfg_str(cfg, "b.color"), "red");
    struct ka_cfg_strs l = ka_cfg_list(cfg, "b.list");
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.v[1], "y");
    cr_assert_eq(ka_cfg_items_count(cfg, "b.items"), 0);
    cr_assert_str_eq(ka_cfg_origin(cfg, "a.s"), "default");
    cr_assert_eq(ka_cfg_enum(cfg, "no.such"), -1);
}

Test(config, every_type_from_yaml)
{
    int rc = load("a:\n  s: 8080\n  b: true\n  i: 100\n  sub:\n    size: 1GiB\n"
                  "    dur: 1h30m\nb:\n  color: green\n  addr: \"[::1]:9765\"\n"
                  "  list: [p, 'q r']\n  items:\n    - name: one\n      tags: [t1]\n"
                  "    - {name: two, weight: 10}\n");
    if (rc)
        dump();
    cr_assert_eq(rc, KA_OK);
    cr_assert_str_eq(ka_cfg_str(cfg, "a.s"), "8080");
    cr_assert(ka_cfg_bool(cfg, "a.b"));
    cr_assert_eq(ka_cfg_int(cfg, "a.i"), 100);
    cr_assert_eq(ka_cfg_size(cfg, "a.sub.size"), 1ull << 30);
    cr_assert_eq(ka_cfg_duration_ms(cfg, "a.sub.dur"), 5400000);
    cr_assert_eq(ka_cfg_enum(cfg, "b.color"), 1);
    cr_assert_str_eq(ka_cfg_str(cfg, "b.addr"), "[::1]:9765");
    cr_assert_str_eq(ka_cfg_list(cfg, "b.list").v[1], "q r");
    cr_assert_eq(ka_cfg_items_count(cfg, "b.items"), 2);
    cr_assert_str_eq(ka_cfg_item_str(cfg, "b.items", 1, "name"), "two");
    cr_assert_str_eq(ka_cfg_item_str(cfg, "b.items", 0, "weight"), "1");
    cr_assert_str_eq(ka_cfg_origin(cfg, "a.i"), "c.yaml:4:6");

    struct conf c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(ka_cfg_fill(cfg, &c), KA_OK);
    cr_assert_str_eq(c.s, "8080");
    cr_assert(c.b);
    cr_assert_eq(c.i, 100);
    cr_assert_eq(c.size, 1ull << 30);
    cr_assert_eq(c.dur, 5400000);
    cr_assert_eq(c.color, 1);
    cr_assert_eq(c.list.n, 2);
    cr_assert_eq(c.items.n, 2);
    const struct item *it = c.items.v;
    cr_assert_str_eq(it[0].name, "one");
    cr_assert_eq(it[0].weight, 1);
    cr_assert_eq(it[0].tags.n, 1);
    cr_assert_str_eq(it[0].tags.v[0], "t1");
    cr_assert_str_eq(it[1].name, "two");
    cr_assert_eq(it[1].weight, 10);
    cr_assert_eq(it[1].tags.n, 0);
}

Test(config, null_keeps_default_and_empty_file_is_fine)
{
    cr_assert_eq(load(""), KA_OK);
    cr_assert_eq(load("a:\n  s:\n  i: ~\nb:\n"), KA_OK);
    cr_assert_str_eq(ka_cfg_str(cfg, "a.s"), "hello");
    cr_assert_eq(ka_cfg_int(cfg, "a.i"), 5);
    cr_assert_eq(load("# only a comment\n"), KA_OK);
}

Test(config, sizes_and_durations)
{
    static const struct { const char *t; unsigned long long v; } sz[] = {
        {"1024", 1024}, {"2K", 2048}, {"2k", 2048}, {"2KB", 2048}, {"2KiB", 2048},
        {"3M", 3u << 20}, {"1G", 1u << 30}, {"4096B", 4096}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        char y[64];
        snprintf(y, sizeof y, "a: {sub: {size: %s}}", sz[i].t);
        cr_assert_eq(load(y), KA_OK, "%s", sz[i].t);
        cr_assert_eq(ka_cfg_size(cfg, "a.sub.size"), sz[i].v, "%s", sz[i].t);
    }
    static const struct { const char *t; long long ms; } du[] = {
        {"0", 0}, {"500ms", 500}, {"1s500ms", 1500}, {"5m", 300000}, {"2h", 7200000},
        {"1d", 86400000}, {"1m30s", 90000}};
    for (size_t i = 0; i < sizeof du / sizeof du[0]; i++) {
        char y[64];
        snprintf(y, sizeof y, "a: {sub: {dur: %s}}", du[i].t);
        cr_assert_eq(load(y), KA_OK, "%s", du[i].t);
        cr_assert_eq(ka_cfg_duration_ms(cfg, "a.sub.dur"), du[i].ms, "%s", du[i].t);
    }
    char b[32];
    ka_cfg_format_size(16ull << 20, b, sizeof b);
    cr_assert_str_eq(b, "16MiB");
    ka_cfg_format_size(1500, b, sizeof b);
    cr_assert_str_eq(b, "1500");
    ka_cfg_format_duration(5400000, b, sizeof b);
    cr_assert_str_eq(b, "1h30m");
    ka_cfg_format_duration(1500, b, sizeof b);
    cr_assert_str_eq(b, "1s500ms");
}

Test(config, unknown_keys)
{
    expect_one("a:\n  s: x\n  bogus: 1\n", "c.yaml:3:3: a.bogus: unknown key");
    expect_one("a:\n  sz: x\n", "c.yaml:2:3: a.sz: unknown key (did you mean \"s\"?)");
    expect_one("zz: {}\n", "c.yaml:1:1: zz: unknown key");
    expect_one("a:\n  sub:\n    siez: 1K\n",
               "c.yaml:3:5: a.sub.siez: unknown key (did you mean \"size\"?)");
}

Test(config, duplicate_keys)
{
    expect_one("a:\n  i: 2\n  i: 3\n", "c.yaml:3:3: a.i: duplicate key (first at line 2, column 3)");
    expect_one("a: {s: x}\na: {s: y}\n", "c.yaml:2:1: a: duplicate key (first at line 1, column 1)");
}

Test(config, wrong_types)
{
    expect_one("a:\n  b: yes\n", "c.yaml:2:6: a.b: expected true or false, got \"yes\"");
    expect_one("a:\n  b: \"true\"\n",
               "c.yaml:2:6: a.b: expected true or false, got the string \"true\"");
    expect_one("a:\n  i: 1.5\n", "c.yaml:2:6: a.i: expected an integer, got \"1.5\"");
    expect_one("a:\n  s: [1, 2]\n", "c.yaml:2:6: a.s: expected a string, got a list");
    expect_one("a:\n  sub:\n    size: 16 MiB\n",
               "c.yaml:3:11: a.sub.size: expected a size such as 4096, 512KiB, 16MiB or 1GiB, "
               "got \"16 MiB\"");
    expect_one("a:\n  sub:\n    dur: 30\n",
               "c.yaml:3:10: a.sub.dur: expected a duration such as 500ms, 30s, 5m or 1h30m, "
               "got \"30\"");
    expect_one("b:\n  color: blue\n",
               "c.yaml:2:10: b.color: expected one of red, green, got \"blue\"");
    expect_one("b:\n  addr: localhost\n",
               "c.yaml:2:9: b.addr: expected host:port or [ipv6]:port, got \"localhost\"");
    expect_one("b:\n  addr: \":80\"\n",
               "c.yaml:2:9: b.addr: the host is empty in \":80\" (use 0.0.0.0 or [::] for every "
               "interface)");
    expect_one("b:\n  addr: h:70000\n",
               "c.yaml:2:9: b.addr: the port must be a number from 1 to 65535 in \"h:70000\"");
    expect_one("b:\n  list: x\n", "c.yaml:2:9: b.list: expected a list of strings, got a string");
    expect_one("b:\n  list: [a, {k: v}]\n", "c.yaml:2:13: b.list[1]: expected a string, got a mapping");
    expect_one("a: 5\n", "c.yaml:1:4: a: expected a mapping of keys, got a string");
    expect_one("- 1\n", "c.yaml:1:1: expected a mapping of sections, got a list");
}

Test(config, out_of_range)
{
    expect_one("a:\n  i: 0\n", "c.yaml:2:6: a.i: 0 is out of range [1, 100]");
    expect_one("a:\n  i: 101\n", "c.yaml:2:6: a.i: 101 is out of range [1, 100]");
    expect_one("a:\n  sub:\n    size: 2G\n",
               "c.yaml:3:11: a.sub.size: 2G is out of range [1KiB, 1GiB]");
    expect_one("a:\n  i: 99999999999999999999\n",
               "c.yaml:2:6: a.i: expected an integer, got \"99999999999999999999\"");
}

Test(config, maplist_errors)
{
    expect_one("b:\n  items:\n    - weight: 2\n",
               "c.yaml:3:7: b.items[0]: missing required key \"name\"");
    expect_one("b:\n  items:\n    - name: n\n      wieght: 2\n",
               "c.yaml:4:7: b.items[0].wieght: unknown key (did you mean \"weight\"?)");
    expect_one("b:\n  items:\n    - name: n\n      weight: 11\n",
               "c.yaml:4:15: b.items[0].weight: 11 is out of range [0, 10]");
    expect_one("b:\n  items:\n    - x\n", "c.yaml:3:7: b.items[0]: expected a mapping, got a string");
    expect_one("b:\n  items: {name: n}\n",
               "c.yaml:2:10: b.items: expected a list of mappings, got a mapping");
}

Test(config, every_error_reported)
{
    int rc = load("a:\n  s: ok\n  b: 2\n  i: x\n  nope: 1\nb:\n  color: c\n");
    cr_assert_eq(rc, KA_EINVAL);
    cr_assert_eq(dg.n_errors, 4);
    cr_assert_str_eq(dg.v[0].msg, "c.yaml:3:6: a.b: expected true or false, got \"2\"");
    cr_assert_str_eq(dg.v[3].msg, "c.yaml:7:10: b.color: expected one of red, green, got \"c\"");
}

Test(config, syntax_error_and_missing_file)
{
    cr_assert_eq(load("a: [1, 2\n"), KA_ESYNTAX);
    cr_assert_gt(dg.n_errors, 0);
    cr_assert(strncmp(dg.v[0].msg, "c.yaml:", 7) == 0, "%s", dg.v[0].msg);
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    cr_assert_eq(ka_cfg_load_file(cfg, "/nonexistent/kaudit.yaml", &dg), KA_ENOENT);
    cr_assert_str_eq(dg.v[0].msg, "/nonexistent/kaudit.yaml: No such file or directory");
}

Test(config, aliases)
{
    cr_assert_eq(load("x: &v 42\na:\n  i: *v\n") == KA_OK, false); /* x is unknown */
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    cr_assert_eq(load("a:\n  s: &v 42\n  i: *v\n"), KA_OK);
    cr_assert_eq(ka_cfg_int(cfg, "a.i"), 42);
}

Test(config, flag_overrides)
{
    cr_assert_eq(load("a:\n  i: 7\n"), KA_OK);
    cr_assert_eq(ka_cfg_set(cfg, "a.i", "9", "--eye", &dg), KA_OK);
    cr_assert_eq(ka_cfg_int(cfg, "a.i"), 9);
    cr_assert_str_eq(ka_cfg_origin(cfg, "a.i"), "--eye");
    cr_assert_eq(ka_cfg_set(cfg, "a.b", "true", "--bee", &dg), KA_OK);
    cr_assert(ka_cfg_bool(cfg, "a.b"));
    cr_assert_eq(ka_cfg_set(cfg, "b.list", "p, q,,r", "--list", &dg), KA_OK);
    cr_assert_eq(ka_cfg_list(cfg, "b.list").n, 3);
    cr_assert_str_eq(ka_cfg_list(cfg, "b.list").v[1], "q");
    cr_assert_eq(dg.n, 0);

    cr_assert_eq(ka_cfg_set(cfg, "a.i", "500", "--eye", &dg), KA_EINVAL);
    cr_assert_str_eq(dg.v[0].msg, "--eye: a.i: 500 is out of range [1, 100]");
    cr_assert_eq(ka_cfg_int(cfg, "a.i"), 9);
    cr_assert_eq(ka_cfg_set(cfg, "a.sub.size", "lots", "--size", &dg), KA_EINVAL);
    cr_assert_str_eq(dg.v[1].msg, "--size: a.sub.size: expected a size such as 4096, 512KiB, "
                                  "16MiB or 1GiB, got \"lots\"");
    cr_assert_eq(ka_cfg_set(cfg, "b.items", "x", "--items", &dg), KA_EINVAL);
    cr_assert_eq(ka_cfg_set(cfg, "no.key", "x", "--nokey", &dg), KA_ENOENT);
    cr_assert_str_eq(dg.v[3].msg, "--nokey: no.key: unknown key");
}

Test(config, bad_tables_refused)
{
    static const struct ka_cfg_key no_def[] = {{.name = "a.i", .type = KA_CFG_INT}, {0}};
    static const struct ka_cfg_key bad_def[] = {
        {.name = "a.i", .type = KA_CFG_INT, .def = "9", .min = 1, .max = 5}, {0}};
    static const struct ka_cfg_key leaf_section[] = {
        {.name = "a", .type = KA_CFG_BOOL, .def = "true"},
        {.name = "a.b", .type = KA_CFG_BOOL, .def = "true"},
        {0}};
    static const struct ka_cfg_key split[] = {
        {.name = "a.x", .type = KA_CFG_BOOL, .def = "true"},
        {.name = "b.x", .type = KA_CFG_BOOL, .def = "true"},
        {.name = "a.y", .type = KA_CFG_BOOL, .def = "true"},
        {0}};
    const struct ka_cfg_key *bad[] = {no_def, bad_def, leaf_section, split};
    for (size_t i = 0; i < 4; i++) {
        struct ka_cfg *c = NULL;
        cr_assert_eq(ka_cfg_new(bad[i], &dg, &c), KA_EINVAL, "table %zu", i);
        cr_assert_null(c);
    }
    cr_assert_str_eq(dg.v[1].msg, "config table: a.i: 9 is out of range [1, 5]");
}

/* ---- the collector's table ---- */

static struct ka_cfg *serve_cfg(void)
{
    struct ka_cfg *c = NULL;
    cr_assert_eq(ka_cfg_new(ka_cfg_serve_keys, &dg, &c), KA_OK);
    return c;
}

Test(config, serve_defaults_round_trip)
{
    struct ka_buf b;
    ka_buf_init(&b, 0);
    cr_assert_eq(ka_cfg_write_defaults(ka_cfg_serve_keys, "test", &b), KA_OK);
    struct ka_cfg *c = serve_cfg();
    int rc = ka_cfg_load_mem(c, "defaults.yaml", b.p, b.n, &dg);
    if (rc)
        dump();
    cr_assert_eq(rc, KA_OK);
    cr_assert_eq(dg.n, 0);
    /* every key appears in the file, and was set from it (not left at the default) */
    size_t n = 0;
    for (const struct ka_cfg_key *k = ka_cfg_serve_keys; k->name; k++, n++)
        cr_assert_neq(strcmp(ka_cfg_origin(c, k->name), "default"), 0, "%s", k->name);
    cr_assert_gt(n, 20);
    struct ka_serve_cfg s;
    memset(&s, 0, sizeof s);
    cr_assert_eq(ka_cfg_fill(c, &s), KA_OK);
    cr_assert_str_eq(s.listen, "127.0.0.1:9765");
    cr_assert_str_eq(s.data_dir, "./kaudit-data");
    cr_assert_eq(s.body_max, 16ull << 20);
    cr_assert_eq(s.paths.n, 2);
    cr_assert_str_eq(s.paths.v[1], "/k8s-audit");
    cr_assert_eq(s.idle_timeout_ms, 30000);
    cr_assert(s.redact);
    cr_assert_eq(s.on_full, KA_CFG_ON_FULL_DROP);
    cr_assert_eq(s.cluster_from_cert, KA_CFG_CERT_CN);
    cr_assert_eq(s.inputs.n, 0);
    cr_assert_eq(ka_cfg_serve_check(c, &dg), KA_OK);
    ka_cfg_free(c);
    ka_buf_free(&b);
}

Test(config, serve_inputs_and_checks)
{
    struct ka_cfg *c = serve_cfg();
    const char *y = "server:\n  listen: 0.0.0.0:9765\ninputs:\n  files:\n"
                    "    - path: /var/log/kubernetes/audit.log\n      cluster: prod\n"
                    "tls:\n  cert: /etc/kaudit/tls.crt\n";
    cr_assert_eq(ka_cfg_load_mem(c, "k.yaml", y, strlen(y), &dg), KA_OK);
    struct ka_serve_cfg s;
    memset(&s, 0, sizeof s);
    cr_assert_eq(ka_cfg_fill(c, &s), KA_OK);
    cr_assert_eq(s.inputs.n, 1);
    const struct ka_serve_input *in = s.inputs.v;
    cr_assert_str_eq(in[0].path, "/var/log/kubernetes/audit.log");
    cr_assert_str_eq(in[0].cluster, "prod");
    cr_assert_eq(in[0].from_start, false);
    cr_assert_eq(ka_cfg_serve_check(c, &dg), KA_EINVAL);
    cr_assert_str_eq(dg.v[0].msg, "k.yaml:8:9: tls.cert: set, but tls.key is not");
    cr_assert_eq(ka_cfg_set(c, "tls.cert", "", "--tls-cert", &dg), KA_OK);
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    cr_assert_eq(ka_cfg_serve_check(c, &dg), KA_EINVAL);
    cr_assert_str_eq(dg.v[0].msg, "k.yaml:2:11: server.listen: 0.0.0.0:9765 is not a loopback "
                                  "address and neither TLS nor tokens are configured; set "
                                  "server.allow_insecure_remote to allow it");
    cr_assert_eq(ka_cfg_set(c, "server.allow_insecure_remote", "true", "--allow-insecure-remote",
                            &dg),
                 KA_OK);
    ka_diag_free(&dg);
    memset(&dg, 0, sizeof dg);
    cr_assert_eq(ka_cfg_serve_check(c, &dg), KA_OK);
    cr_assert_eq(dg.n_warnings, 1);
    ka_cfg_free(c);
}

/* docs/config.md holds exactly the generated reference between its markers. */
Test(config, docs_in_sync)
{
    char *md = ka_t_read_file(KA_SOURCE_DIR "/docs/config.md", NULL);
    cr_assert_not_null(md);
    const char *b = strstr(md, "<!-- keys:begin -->\n"), *e = strstr(md, "<!-- keys:end -->");
    cr_assert(b && e && b < e);
    b += strlen("<!-- keys:begin -->\n");
    struct ka_buf ref;
    ka_buf_init(&ref, 0);
    cr_assert_eq(ka_cfg_write_reference(ka_cfg_serve_keys, &ref), KA_OK);
    cr_assert_eq((size_t)(e - b), ref.n,
                 "docs/config.md is out of date: regenerate with kaudit config --reference");
    cr_assert_eq(memcmp(b, ref.p, ref.n), 0,
                 "docs/config.md is out of date: regenerate with kaudit config --reference");
    for (const struct ka_cfg_key *k = ka_cfg_serve_keys; k->name; k++) {
        char needle[KA_CFG_MAX_PATH + 4];
        snprintf(needle, sizeof needle, "`%s`", k->name);
        cr_assert_not_null(strstr(md, needle), "%s", k->name);
    }
    ka_buf_free(&ref);
    free(md);
}
