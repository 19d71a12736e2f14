/* cvmm run / cvmm agent. */
#ifndef CVMM_CLI_RUN_H
#define CVMM_CLI_RUN_H

#include <stdbool.h>
#include <stdio.h>

/* cvmm run (agent false: one agent, or with -n N the local launcher of N
 * agents) and cvmm agent (under mpirun/srun). argv[1] is the subcommand.
 * Returns the exit status: the guest's, 2 for bad options, 125 when cvmm
 * failed, 126/127 when the program cannot run. */
int run_main(int argc, char **argv, bool agent);

/* Prints cvmm's usage: every subcommand, then the options of run and
 * agent, one help line each with its default. */
void run_usage(FILE *out);

#endif
