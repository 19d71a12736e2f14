/* cvmm: the command line, one subcommand per file: run and agent (run.c),
 * info (info.c), report (report.c), ctl (ctl.c), syscalls (here). */
#include <stdio.h>
#include <string.h>

#include "cli/ctl.h"
#include "cli/info.h"
#include "cli/report.h"
#include "cli/run.h"
#include "common/log.h"
#include "core/sys/sys.h"

#define CVMM_VERSION "0.1.0"

static int cmd_syscalls(int argc, char **argv)
{
	const char *format = "table";

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: cvmm syscalls [--format=table|csv]\n"
			       "  what cvmm does for each x86-64 system call, "
			       "from the syscall table itself\n");
			return 0;
		}
		if (strncmp(argv[i], "--format=", 9) == 0) {
			format = argv[i] + 9;
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			format = argv[++i];
		} else {
			log_error("unknown option %s", argv[i]);
			return 2;
		}
	}
	if (!sys_table_print(format)) {
		log_error("unknown format %s (table or csv)", format);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		run_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "run") == 0)
		return run_main(argc, argv, false);
	if (strcmp(argv[1], "agent") == 0)
		return run_main(argc, argv, true);
	if (strcmp(argv[1], "info") == 0)
		return info_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "syscalls") == 0)
		return cmd_syscalls(argc, argv);
	if (strcmp(argv[1], "ctl") == 0)
		return ctl_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0) {
		printf("cvmm %s\n", CVMM_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		run_usage(stdout);
		return 0;
	}
	log_error("unknown command %s (try cvmm --help)", argv[1]);
	return 2;
}
