/*
 * cmd_ship.c - placeholder until the command lands (replaced by its owner).
 */
#include <stdio.h>

#include "cmds.h"

int ka_cmd_ship(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit ship: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}
