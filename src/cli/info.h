/* cvmm info: what this host offers cvmm, in sections a new user can read
 * (host topology and the vCPU placement, RDMA devices, UCX transports,
 * kernel features for this user) and one verdict: which transport and which
 * kernel mechanisms `cvmm run` will use here. Text for people, JSON for
 * scripts. The probes only look: nothing is left changed in this process
 * (the Syscall User Dispatch probe runs in a forked child). */
#ifndef CVMM_CLI_INFO_H
#define CVMM_CLI_INFO_H

#include <stdbool.h>
#include <stdio.h>

/* `cvmm info [-v N | --vcpus N] [--format=text|json]`; argv[0] is "info".
 * Prints to stdout (flushed before returning). Returns 0, also when
 * features are missing (they are reported), 2 on a bad option. */
int info_main(int argc, char **argv);

/* ---- shared by src/cli/info*.c only ---------------------------------- */

/* A small JSON writer: members are indented one per line; objects opened
 * with info_json_open_flat print on one line (array elements). A NULL key
 * means an array element. */
typedef struct info_json {
	FILE *f;
	int depth;
	int flat;        /* one-line output from this depth on; 0: none */
	bool need_comma;
} info_json_t;

void info_json_open(info_json_t *j, const char *key, char brace);
void info_json_open_flat(info_json_t *j, const char *key, char brace);
void info_json_close(info_json_t *j, char brace);
/* val NULL prints null. */
void info_json_str(info_json_t *j, const char *key, const char *val);
void info_json_int(info_json_t *j, const char *key, long long val);
void info_json_bool(info_json_t *j, const char *key, bool val);

/* Network facts (info_rdma.c): RDMA devices through libibverbs and the
 * transports UCX finds. */
typedef struct info_net info_net_t;

/* Probes devices and transports; never NULL (allocation failure aborts). */
info_net_t *info_net_probe(void);
void info_net_free(info_net_t *n);
/* Prints the "rdma devices" and "ucx" sections. */
void info_net_print_text(const info_net_t *n, FILE *f);
/* Adds the "rdma" and "ucx" members to the open root object. */
void info_net_print_json(const info_net_t *n, info_json_t *j);
/* Returns "rdma" when a device has an ACTIVE port, else "tcp"; writes the
 * reason (device, UCX transport, caveats) to why. */
const char *info_net_verdict(const info_net_t *n, char *why, size_t len);

#endif
