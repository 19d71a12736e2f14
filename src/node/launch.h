/* cvmm run -n N: the agents of a VM on one machine. */
#ifndef CVMM_NODE_LAUNCH_H
#define CVMM_NODE_LAUNCH_H

/* Starts N agents (this program, "agent" instead of "run"), serves their
 * bootstrap on a private UNIX socket and returns node 0's exit status
 * (CVMM_EXIT_FAILURE if it never reported). */
int node_launch(int nodes, int argc, char **argv);

#endif
