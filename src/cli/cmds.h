/*
 * cmds.h - the subcommands of the kaudit binary. Each takes the arguments after its name
 * (argv[0] is the subcommand's name) and returns the process exit code:
 *   0 success, 1 usage or input error, 2 internal error, 3 some input lines were bad
 *   (policy eval/apply: the rest was processed), 4 some batches were not delivered (send).
 */
#ifndef KA_CLI_CMDS_H
#define KA_CLI_CMDS_H

enum {
    KA_EXIT_OK = 0,
    KA_EXIT_USAGE = 1,
    KA_EXIT_INTERNAL = 2,
    KA_EXIT_BADLINES = 3,
    KA_EXIT_UNDELIVERED = 4, /* kaudit send: some batches were not delivered */
};

int ka_cmd_policy(int argc, char **argv);
int ka_cmd_gen(int argc, char **argv);
int ka_cmd_write(int argc, char **argv);
int ka_cmd_send(int argc, char **argv);
int ka_cmd_config(int argc, char **argv);
int ka_cmd_serve(int argc, char **argv);
int ka_cmd_tail(int argc, char **argv);
int ka_cmd_query(int argc, char **argv);
int ka_cmd_index(int argc, char **argv);
int ka_cmd_history(int argc, char **argv);
int ka_cmd_activity(int argc, char **argv);
int ka_cmd_explain(int argc, char **argv);
int ka_cmd_denied(int argc, char **argv);
int ka_cmd_detect(int argc, char **argv);
int ka_cmd_ship(int argc, char **argv);
int ka_cmd_clickhouse(int argc, char **argv);

#endif
