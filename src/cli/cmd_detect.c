/*
 * cmd_detect.c - placeholder until the command lands (replaced by its owner).
 */
#include <stdio.h>

#include "cmds.h"

int ka_cmd_detect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("kaudit detect: not available in this build\n", stderr);
    return KA_EXIT_INTERNAL;
}
