/* cvmm run and cvmm agent: the options of the VM and the node, and the
 * ordered startup of the agent's modules (guest memory, I/O server, vCPUs,
 * trap entry, node, loader), each step failing with one line. */
#include "cli/run.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/env.h"
#include "common/log.h"
#include "core/confine.h"
#include "core/entry.h"
#include "core/gmem.h"
#include "core/loader.h"
#include "core/stats.h"
#include "core/vm.h"
#include "iosrv/iosrv.h"
#include "node/ctl_server.h"
#include "node/launch.h"
#include "node/node.h"
#include "node/selftest.h"

extern char **environ;

typedef struct core_opts {
	int vcpus;
	int pin;           /* pin_names */
	char *root;
	bool strict;
	char *stats;
	int log_level;     /* log_level_t */
	int entry;         /* entry_names */
	char *config;
	bool show_config;
	char *populate;    /* auto, or MiB made present per mmap/brk */
} core_opts_t;

static core_opts_t opts;

enum { PIN_AUTO, PIN_NONE };
static const char *const pin_names[] = { "auto", "none", NULL };
enum { ENTRY_OPT_AUTO, ENTRY_OPT_SUD, ENTRY_OPT_SECCOMP };
static const char *const entry_names[] = { "auto", "sud", "seccomp", NULL };

#define OPT(f) offsetof(core_opts_t, f)
static const cfg_field_t core_fields[] = {
	{ "vcpus", "auto", "vCPUs the guest sees (auto: host cores)",
	  OPT(vcpus), CFG_INT, "auto", 'v', NULL, NULL },
	{ "pin", "auto", "pin vCPU threads to host cores with hwloc",
	  OPT(pin), CFG_ENUM, NULL, 0, NULL, pin_names },
	{ "root", ".", "guest root directory: file paths cannot leave it",
	  OPT(root), CFG_STRING, "DIR", 0, NULL, NULL },
	{ "strict", "no", "stop the VM at the first unsupported syscall",
	  OPT(strict), CFG_BOOL, NULL, 0, NULL, NULL },
	{ "stats", NULL, "print time and syscall stats at exit; =FILE: JSON",
	  OPT(stats), CFG_OPTSTR, "FILE", 0, "-", NULL },
	{ "log-level", "warn", "how much cvmm says on stderr",
	  OPT(log_level), CFG_ENUM, NULL, 0, NULL, log_level_names },
	{ "entry", "auto", "how guest syscalls are intercepted",
	  OPT(entry), CFG_ENUM, NULL, 0, NULL, entry_names },
	{ "populate", "auto", "MiB of fresh guest memory made present per "
	  "mmap or brk on one node (0: a fault per page; auto: 256, but "
	  "mappings of 1 MiB or more only where this host populates much "
	  "cheaper than it faults)",
	  OPT(populate), CFG_STRING, "MIB", 0, NULL, NULL },
	{ "config", NULL, "read settings from this file first",
	  OPT(config), CFG_STRING, "FILE", 0, NULL, NULL },
	{ "show-config", "no", "print every setting and exit",
	  OPT(show_config), CFG_BOOL, NULL, 0, NULL, NULL },
	{ NULL },
};

static const cfg_table_t tables[] = {
	{ "core", core_fields, &opts },
	{ "node", node_fields, &node_opts },
	{ NULL },
};

static loader_image_t image;

void run_usage(FILE *out)
{
	fprintf(out,
		"usage: cvmm run [options] [--] program [args...]\n"
		"       cvmm run -n N --selftest[=bench]\n"
		"       cvmm agent [options] [--] program [args...]  "
		"(under mpirun/srun)\n"
		"       cvmm info [-v N] [--format=text|json]\n"
		"       cvmm report run.json [-o report.html]\n"
		"       cvmm ctl [--job ID|SOCKET] status [--json]\n"
		"       cvmm syscalls [--format=table|csv]\n"
		"       cvmm --help | --version\n\n"
		"Runs an unmodified static x86-64 Linux program on a virtual "
		"SMP.\n\noptions (also CVMM_<MODULE>_<NAME> variables and "
		"--config files):\n");
	cfg_defaults(tables);
	cfg_help(tables, out);
}

/* Finds --config before the full parse, so the file can sit below the
 * environment and the command line in precedence. */
static const char *config_path(int argc, char **argv)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) {
		if (strncmp(argv[i], "--config=", 9) == 0)
			return argv[i] + 9;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			return argv[i + 1];
	}
	if (getenv("CVMM_CONFIG"))
		return getenv("CVMM_CONFIG");
	return access("/etc/cvmm/cvmm.conf", R_OK) == 0 ? "/etc/cvmm/cvmm.conf"
							: NULL;
}

static int opts_load(int argc, char **argv, int *argi)
{
	const char *file = config_path(argc, argv);
	cvmm_status_t st;

	if (cfg_defaults(tables) != CVMM_OK)
		return -1;
	if (file) {
		st = cfg_load_file(tables, file);
		if (st == CVMM_ERR_NOT_FOUND)
			log_error("cannot read config %s", file);
		if (st != CVMM_OK)
			return -1;
	}
	if (cfg_load_env(tables, environ) != CVMM_OK ||
	    cfg_parse_args(tables, argc, argv, argi) != CVMM_OK)
		return -1;
	log_level = (log_level_t)opts.log_level;
	if (opts.vcpus < 0) { /* auto: the host's cores, one per slot or more */
		int slots = node_opts.max_nodes > node_opts.nodes
				    ? node_opts.max_nodes
				    : node_opts.nodes;

		opts.vcpus = (int)sysconf(_SC_NPROCESSORS_ONLN) > slots
				     ? (int)sysconf(_SC_NPROCESSORS_ONLN)
				     : slots;
	}
	return 0;
}

/* Resolves the program like a shell: a name without '/' is looked up in
 * PATH. Returns a malloc'ed path or NULL (not found). */
static char *program_find(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/') || !path)
		return strdup(name);
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n,
			 n ? path : ".", name);
		if (access(buf, X_OK) == 0)
			return strdup(buf);
		path += n + (path[n] == ':');
	}
	return NULL;
}

/* ---- startup: an ordered table of modules ------------------------------- */

typedef struct run_ctx {
	bool agent;     /* started as a node agent (cvmm agent) */
	char *prog;     /* host path of the guest executable; NULL: selftest */
	char **argv;    /* guest argv */
	guest_regs_t regs;
	int exit_code;  /* set by a failing step */
} run_ctx_t;

static int step_gmem(run_ctx_t *c)
{
	bool autop = !opts.populate || !strcmp(opts.populate, "auto");
	unsigned long mib = 0;
	char *end = NULL;

	if (!autop) {
		errno = 0;
		mib = strtoul(opts.populate, &end, 10);
	}
	if (!autop && (errno || end == opts.populate || *end ||
		       opts.populate[0] == '-' || mib > (1UL << 30))) {
		log_error("--populate %s: auto, or a size in MiB, 0 or more",
			  opts.populate);
		return -1;
	}
	if (gmem_init(&cvmm_gmem, true) != CVMM_OK)
		return -1;
	cvmm_gmem.populate_auto = autop;
	if (!autop)
		cvmm_gmem.populate_max = (uint64_t)mib << 20;
	return 0;
}

static int step_iosrv(run_ctx_t *c)
{
	char abs[PATH_MAX];
	const char *exe = !c->prog ? "" : realpath(c->prog, abs) ? abs : c->prog;

	return iosrv_init(&cvmm_iosrv, opts.root, opts.vcpus, exe) == CVMM_OK
		       ? 0
		       : -1;
}

static int step_vm(run_ctx_t *c)
{
	if (vm_init(&cvmm_vm, opts.vcpus, opts.pin != PIN_NONE,
		    opts.strict) != CVMM_OK)
		return -1;
	cvmm_vm.exe_path = c->prog ? realpath(c->prog, NULL) : NULL;
	if (!cvmm_vm.exe_path)
		cvmm_vm.exe_path = c->prog;
	cvmm_vm.image = &image;
	cvmm_vm.stats_file = opts.stats;
	return 0;
}

static int step_entry(run_ctx_t *c)
{
	vthread_t *main_block = entry_block_alloc();
	entry_mode_t mode = ENTRY_SUD;

	if (opts.entry == ENTRY_OPT_SECCOMP ||
	    (opts.entry == ENTRY_OPT_AUTO && !entry_sud_available())) {
		log_info("syscall interception: seccomp filter");
		mode = ENTRY_SECCOMP;
	}

	if (!main_block)
		return -1;
	main_block->magic = VT_MAGIC_AGENT;
	if (entry_init(mode) != CVMM_OK ||
	    entry_thread_init(main_block) != CVMM_OK)
		return -1;
	return 0;
}

static int step_node(run_ctx_t *c)
{
	if (c->agent) {
		c->exit_code = CVMM_EXIT_FAILURE;
		if (node_start(&cvmm_gmem, &cvmm_vm) != CVMM_OK)
			return -1;
	}
	/* node 0's control socket (cvmm run alone is node 0 of 1), bound
	 * before confinement; the VM runs without one if that fails
	 * (logged) */
	if (c->prog && node_rank() == 0)
		(void)ctl_server_start(&cvmm_vm, &cvmm_gmem);
	return 0;
}

static int step_load(run_ctx_t *c)
{
	char err[256] = "";

	char **envp;
	cvmm_status_t st;

	if (!c->prog || node_rank() != 0)
		return 0; /* node 0 runs the program; the rest serve */
	/* the guest's environment is the user's, not the agent's */
	envp = cvmm_env_guest(environ);
	if (!envp) {
		log_error("out of memory for the guest's environment");
		return -1;
	}
	st = loader_load(&cvmm_gmem, c->prog, c->argv, envp, &c->regs, &image,
			 err, sizeof(err));
	free(envp);

	if (st == CVMM_OK) {
		gmem_image_done(&cvmm_gmem);
		return 0;
	}
	log_error("%s: %s", c->prog, err[0] ? err : cvmm_status_str(st));
	c->exit_code = st == CVMM_ERR_NOT_FOUND ? 127 : 126;
	return -1;
}

/* Last: the --stats file opened while files outside the root may still be
 * created, then the Landlock rule set, and every thread confined (guest
 * threads started later inherit it); then the seccomp filter on
 * every thread of the agent (docs/security.md). */
static int step_confine(run_ctx_t *c)
{
	if (!c->prog)
		return 0; /* the selftest runs no guest */
	if (stats_prepare(cvmm_vm.stats_file) != 0)
		return -1;
	if (confine_init(opts.root, cvmm_vm.exe_path) != CVMM_OK ||
	    confine_process() != CVMM_OK || confine_syscalls() != CVMM_OK)
		return -1;
	return 0;
}

static const struct {
	const char *name;
	int (*init)(run_ctx_t *c);
} run_steps[] = {
	{ "guest memory", step_gmem },
	{ "i/o server", step_iosrv },
	{ "vcpus", step_vm },
	{ "trap entry", step_entry },
	{ "node", step_node },
	{ "loader", step_load },
	{ "confinement", step_confine },
};

/* True unless this agent is known to be a job of one without the selftest:
 * then node_start starts no transport (node.c) and UCX is never used.
 * Unknown (a rank without a size, as under PMIx, or an error boot_init
 * will report): true. */
static bool agent_uses_ucx(void)
{
	boot_opts_t bo = { .rank = node_opts.rank, .size = node_opts.size };
	log_level_t level = log_level;
	int rank, size;
	cvmm_status_t st;

	if (node_opts.selftest)
		return true;
	log_level = LOG_LVL_FATAL; /* boot_init says what is wrong, once */
	st = boot_ident_detect(&bo, &rank, &size);
	log_level = level;
	return st != CVMM_OK || size != 1;
}

/* An agent that will use UCX and whose environment lacks UCX_USE_MT_MUTEX
 * sets it to y (a job of one uses no UCX and is left alone). Many threads
 * share one UCX worker in an agent (vCPUs, proxies, the progress thread);
 * with UCX's default spinlock a holder descheduled on a shared cpu made
 * every other thread spin for its whole time slice (measured: a cross-node
 * condvar handoff took ~3 ms, 58% of all cycles in pthread_spin_lock; with
 * the mutex 0.5 ms). It is a UCP context option, read from the environment
 * by ucp_config_read (xp.c), not when the library loads: setting it here
 * is enough (checked: 1000 ucp_worker_progress calls of a multi-thread
 * worker took the spinlock 1000 times without it, the mutex 1000 times
 * with it set by setenv after libucp had loaded), so the agent is no
 * longer re-executed for it. */
static void agent_ucx_env(void)
{
	if (getenv("UCX_USE_MT_MUTEX") || !agent_uses_ucx())
		return;
	if (cvmm_env_add("UCX_USE_MT_MUTEX", "y") != 0)
		log_warn("cannot set UCX_USE_MT_MUTEX=y: %m");
}

int run_main(int argc, char **argv, bool agent)
{
	run_ctx_t c = { .exit_code = 1, .agent = agent };
	int argi = 2;
	vthread_t *vt;

	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		run_usage(stdout);
		return 0;
	}
	if (opts_load(argc, argv, &argi) != 0)
		return 2;
	if (agent)
		agent_ucx_env();
	/* A guest write to a closed pipe gets EPIPE; SIGPIPE is the guest's
	 * (virtual) business, never the agent's. */
	signal(SIGPIPE, SIG_IGN);
	if (opts.show_config) {
		cfg_show(tables, stdout);
		return 0;
	}
	if (argi >= argc && !node_opts.selftest) {
		run_usage(stderr);
		return 2;
	}
	if (!agent && node_opts.selftest && node_opts.nodes < 2) {
		log_error("--selftest checks the fabric between agents: "
			  "use -n 2 or more");
		return 2;
	}
	/* agents (one or more) when there are several, or room for more */
	if (!agent && (node_opts.nodes > 1 || node_opts.max_nodes > 1))
		return node_launch(node_opts.nodes > 0 ? node_opts.nodes : 1,
				   argc, argv);
	c.agent = agent || node_opts.selftest;
	if (argi < argc) {
		c.argv = &argv[argi];
		c.prog = program_find(argv[argi]);
		if (!c.prog) {
			log_error("%s: command not found", argv[argi]);
			return 127;
		}
	}
	if (node_opts.selftest)
		c.prog = NULL;
	for (size_t i = 0; i < sizeof(run_steps) / sizeof(run_steps[0]); i++) {
		uint64_t t0 = cvmm_now_ns();

		log_debug("starting %s", run_steps[i].name);
		if (run_steps[i].init(&c) != 0) {
			/* the process exit tears down; the program's path is
			 * the one thing no global holds (leak checkers) */
			if (cvmm_vm.exe_path != c.prog)
				free(c.prog);
			return c.exit_code;
		}
		/* start-up cost per step (docs/performance.md, startup_ms) */
		log_debug("%s: %.3f ms", run_steps[i].name,
			  (double)(cvmm_now_ns() - t0) / 1e6);
	}
	if (node_opts.selftest)
		node_leave(node_selftest(&cvmm_gmem, node_opts.selftest));
	/* The other agents park: node 0 ends them, or a lost node does. */
	if (node_rank() != 0)
		vm_wait(&cvmm_vm);
	vt = vm_thread_new(&cvmm_vm, &c.regs);
	if (!vt || vm_thread_run(&cvmm_vm, vt) != 0)
		return 1;
	vm_wait(&cvmm_vm);
}

