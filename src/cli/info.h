/* cvmm info: what this host offers cvmm, in sections a new user can read
 * (host topology and the vCPU placement, RDMA devices, UCX transports,
 * kernel features for this user) and one verdict: which transport, page
 * transfer (--page-transfer=auto) and kernel mechanisms `cvmm run` will use
 * here. Text for people, JSON for
 * scripts. The probes only look: nothing is left changed in this process
 * (the Syscall User Dispatch probe runs in a forked child). */
#ifndef CVMM_CLI_INFO_H
#define CVMM_CLI_INFO_H

#include <stdbool.h>
#include <stdio.h>

#include "common/json.h"

/* `cvmm info [-v N | --vcpus N] [--format=text|json]`; argv[0] is "info".
 * Prints to stdout (flushed before returning). Returns 0, also when
 * features are missing (they are reported), 2 on a bad option. */
int info_main(int argc, char **argv);

/* ---- shared by src/cli/info*.c only ---------------------------------- */

/* Network facts (info_rdma.c): RDMA devices through libibverbs and the
 * transports UCX finds. */
typedef struct info_net info_net_t;

/* Probes devices and transports; never NULL (allocation failure aborts). */
info_net_t *info_net_probe(void);
void info_net_free(info_net_t *n);
/* Prints the "rdma devices" and "ucx" sections. */
void info_net_print_text(const info_net_t *n, FILE *f);
/* Adds the "rdma" and "ucx" members to object root (consumed) and returns
 * it; NULL when root is NULL or out of memory (common/json.h, jdoc_set). */
json_t *info_net_json(const info_net_t *n, json_t *root);
/* Returns "rdma" when a device has an ACTIVE port, else "tcp"; writes the
 * reason (device, UCX transport, caveats) to why. */
const char *info_net_verdict(const info_net_t *n, char *why, size_t len);

#endif
