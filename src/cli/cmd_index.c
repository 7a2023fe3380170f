/*
 * cmd_index.c - placeholder until the command lands (replaced by its owner).
 */
#include <stdio.h>

#include "cmds.h"

int ka_cmd_index(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit index: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}
