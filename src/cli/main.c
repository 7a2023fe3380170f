/*
 * main.c - the kaudit binary: a table of subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

struct ka_cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct ka_cli_cmd ka_cli_cmds[] = {
    {"serve", ka_cmd_serve, "the collector: receive the apiserver's audit webhook, journal durably"},
    {"policy", ka_cmd_policy, "check, evaluate and apply audit policies (kube-apiserver semantics)"},
    {"gen", ka_cmd_gen, "generate realistic, deterministic audit traffic (JSON lines)"},
    {"write", ka_cmd_write, "write events as kube-apiserver's log backend does (rotation, formats)"},
    {"config", ka_cmd_config, "print the documented default configuration, or check a file"},
    {"send", ka_cmd_send, "post events as kube-apiserver's webhook backend does (batches, retries)"},
    {"tail", ka_cmd_tail, "follow an audit log across rotations, with checkpoints"},
    {"query", ka_cmd_query, "who did what, when: filter requests from the store or from log files"},
    {"index", ka_cmd_index, "index existing audit logs into the store"},
    {"history", ka_cmd_history, "every request that touched one object, with what changed"},
    {"activity", ka_cmd_activity, "what one user or service account did"},
    {"explain", ka_cmd_explain, "why a pod started: its owners up to the user request"},
    {"denied", ka_cmd_denied, "403s grouped, with the smallest RBAC rule that would allow each"},
    {"detect", ka_cmd_detect, "run Falco-format detection rules over audit events"},
    {"ship", ka_cmd_ship, "send existing logs to an output (Elasticsearch, Loki, ClickHouse...)"},
    {"clickhouse", ka_cmd_clickhouse, "ClickHouse: print or check the schema kaudit uses; query it"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kaudit <command> [options] [args]\n\n"
               "kaudit is a toolkit for Kubernetes audit logs.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof ka_cli_cmds / sizeof ka_cli_cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", ka_cli_cmds[i].name, ka_cli_cmds[i].summary);
    fprintf(f, "\nRun 'kaudit <command> --help' for a command's options and an example.\n"
               "Exit codes: 0 success, 1 usage or input error, 2 internal error,\n"
               "3 some input lines were bad (the rest was processed),\n"
               "4 some batches could not be delivered (send).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return KA_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return KA_EXIT_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("kaudit %s\n", KA_VERSION);
        return KA_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof ka_cli_cmds / sizeof ka_cli_cmds[0]; i++)
        if (!strcmp(cmd, ka_cli_cmds[i].name))
            return ka_cli_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kaudit: unknown command '%s'\n", cmd);
    usage(stderr);
    return KA_EXIT_USAGE;
}
