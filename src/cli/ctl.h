/* cvmm ctl: talks to a running VM's control socket (node/ctl_server.h). */
#ifndef CVMM_CLI_CTL_H
#define CVMM_CLI_CTL_H

/* argv[0] is "ctl". Returns the process exit status: 0, 1 (no such job,
 * or it refused the request) or 2 (usage). */
int ctl_main(int argc, char **argv);

#endif
