/*
 * cmd_query.c - placeholder until the command lands (replaced by its owner).
 */
#include <stdio.h>

#include "cmds.h"

int ka_cmd_query(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit query: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}
