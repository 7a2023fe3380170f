/*
 * cmd_views.c - placeholder until the views land (replaced by their owner).
 */
#include <stdio.h>

#include "cmds.h"

int ka_cmd_history(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit history: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}

int ka_cmd_activity(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit activity: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}

int ka_cmd_explain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit explain: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}

int ka_cmd_denied(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit denied: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}
