/* cvmm info: options, host topology (hwloc) with the vCPU placement cvmm
 * would use, kernel features for this user and the verdict, as text or
 * JSON. The network half (RDMA devices, UCX) is info_rdma.c. */
#include "cli/info.h"

#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "core/confine.h"
#include "core/sud.h"
#include "core/vm.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_MINOR_SHMEM
#define UFFD_FEATURE_MINOR_SHMEM (1 << 10)
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define TOPO_MAX_NUMA 64

typedef struct info_opts {
	int nvcpus;              /* 0: one per host core */
	bool json;
} info_opts_t;

typedef struct topo_numa {
	unsigned os_index;
	uint64_t mem;            /* bytes local to the node */
	char cpus[64];           /* PU list, e.g. "0-15,32-47" */
} topo_numa_t;

typedef struct topo_vcpu {
	int pu, core, numa;      /* -1: unknown */
} topo_vcpu_t;

typedef struct info_topo {
	bool ok;
	int npkg, nnuma, ncores, npus;
	topo_numa_t numa[TOPO_MAX_NUMA];
	int nvcpus;
	topo_vcpu_t *vcpus;
} info_topo_t;

/* Errors are errno values, 0 when the mechanism works for this user. */
typedef struct info_kern {
	char release[65];
	int uffd_err;            /* userfaultfd(2), full */
	int uffd_user_err;       /* userfaultfd(2), UFFD_USER_MODE_ONLY */
	int devuffd_err;         /* /dev/userfaultfd + USERFAULTFD_IOC_NEW */
	int api_err;             /* UFFDIO_API on the first fd that opened */
	uint64_t features;
	int sud_err;             /* < 0: the probe child died of signal -err */
	int seccomp_err;         /* SECCOMP_RET_TRAP available */
	int seccomp_mode;        /* PR_GET_SECCOMP: 2 when already filtered */
	int landlock_abi;        /* 0: no Landlock (guests run unconfined) */
} info_kern_t;

/* ---- options ---------------------------------------------------------- */

static void info_usage(FILE *f)
{
	fputs("usage: cvmm info [-v N | --vcpus N] [--format=text|json]\n"
	      "  describes this host for cvmm: topology and where each of N\n"
	      "  vCPUs would run (default: one per core), RDMA devices, UCX\n"
	      "  transports, kernel features, and which transport (and\n"
	      "  page transfer) cvmm run will use\n", f);
}

static bool info_parse_vcpus(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > CVMM_MAX_VCPUS) {
		log_error("bad vcpu count %s (1..%d)", s, CVMM_MAX_VCPUS);
		return false;
	}
	*out = (int)v;
	return true;
}

static bool info_parse_format(const char *s, info_opts_t *o)
{
	if (strcmp(s, "text") == 0 || strcmp(s, "json") == 0) {
		o->json = s[0] == 'j';
		return true;
	}
	log_error("unknown format %s (text or json)", s);
	return false;
}

static bool info_opt_takes_value(const char *a)
{
	return strcmp(a, "-v") == 0 || strcmp(a, "--vcpus") == 0 ||
	       strcmp(a, "--format") == 0;
}

/* Returns 0 to go on, 1 after --help, 2 on a bad option. */
static int info_parse(int argc, char **argv, info_opts_t *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			info_usage(stdout);
			return 1;
		} else if (strncmp(a, "--format=", 9) == 0) {
			if (!info_parse_format(a + 9, o))
				return 2;
		} else if (strcmp(a, "--format") == 0 && has_next) {
			if (!info_parse_format(argv[++i], o))
				return 2;
		} else if (strncmp(a, "--vcpus=", 8) == 0) {
			if (!info_parse_vcpus(a + 8, &o->nvcpus))
				return 2;
		} else if ((strcmp(a, "-v") == 0 ||
			    strcmp(a, "--vcpus") == 0) && has_next) {
			if (!info_parse_vcpus(argv[++i], &o->nvcpus))
				return 2;
		} else if (info_opt_takes_value(a)) {
			log_error("option %s needs a value", a);
			return 2;
		} else {
			log_error("unknown option %s (try cvmm info --help)",
				  a);
			return 2;
		}
	}
	return 0;
}

/* ---- host topology ---------------------------------------------------- */

static void topo_numa_collect(hwloc_topology_t topo, info_topo_t *t)
{
	for (int i = 0; i < t->nnuma && i < TOPO_MAX_NUMA; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
						      (unsigned)i);

		if (!o)
			break;
		t->numa[i].os_index = o->os_index;
		t->numa[i].mem = o->attr ? o->attr->numanode.local_memory : 0;
		hwloc_bitmap_list_snprintf(t->numa[i].cpus,
					   sizeof(t->numa[i].cpus), o->cpuset);
	}
}

static int topo_numa_of(hwloc_topology_t topo, unsigned pu)
{
	hwloc_obj_t o = NULL;

	while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o)))
		if (hwloc_bitmap_isset(o->cpuset, pu))
			return (int)o->os_index;
	return -1;
}

/* The rule of vm_place_vcpus (vm.c): vCPU i -> first PU of core i mod
 * ncores. */
static void topo_vcpus_map(hwloc_topology_t topo, info_topo_t *t)
{
	for (int i = 0; i < t->nvcpus; i++) {
		topo_vcpu_t *v = &t->vcpus[i];
		hwloc_obj_t core, pu = NULL;

		v->pu = v->core = v->numa = -1;
		if (t->ncores <= 0)
			continue;
		v->core = i % t->ncores;
		core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE,
					     (unsigned)v->core);
		if (core)
			pu = hwloc_get_obj_inside_cpuset_by_type(
				topo, core->cpuset, HWLOC_OBJ_PU, 0);
		if (!pu)
			continue;
		v->pu = (int)pu->os_index;
		v->numa = topo_numa_of(topo, pu->os_index);
	}
}

static void topo_probe(info_topo_t *t, int nvcpus)
{
	hwloc_topology_t topo;

	t->nvcpus = nvcpus > 0 ? nvcpus : 1;
	if (hwloc_topology_init(&topo) != 0)
		goto out_alloc;
	if (hwloc_topology_load(topo) != 0)
		goto out_destroy;
	t->ok = true;
	t->npkg = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
	t->nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	t->ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	t->npus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	if (nvcpus <= 0 && t->ncores > 0)
		t->nvcpus = t->ncores < CVMM_MAX_VCPUS ? t->ncores
						       : CVMM_MAX_VCPUS;
	topo_numa_collect(topo, t);
	t->vcpus = calloc((size_t)t->nvcpus, sizeof(*t->vcpus));
	if (!t->vcpus)
		die("out of memory");
	topo_vcpus_map(topo, t);
out_destroy:
	hwloc_topology_destroy(topo);
out_alloc:
	if (!t->vcpus)
		t->vcpus = calloc((size_t)t->nvcpus, sizeof(*t->vcpus));
	if (!t->vcpus)
		die("out of memory");
}

static void topo_print_vcpu(const topo_vcpu_t *v, int i, FILE *f)
{
	if (v->pu < 0) {
		fprintf(f, "    vcpu %d -> not pinned\n", i);
		return;
	}
	fprintf(f, "    vcpu %d -> pu %d (core %d", i, v->pu, v->core);
	if (v->numa >= 0)
		fprintf(f, ", numa node %d", v->numa);
	fputs(")\n", f);
}

static void topo_print_text(const info_topo_t *t, FILE *f)
{
	fputs("host topology (hwloc)\n", f);
	if (!t->ok) {
		fputs("  hwloc could not read the topology: vcpus will not "
		      "be pinned\n", f);
		return;
	}
	fprintf(f, "  packages      %d\n  numa nodes    %d\n", t->npkg,
		t->nnuma);
	for (int i = 0; i < t->nnuma && i < TOPO_MAX_NUMA; i++)
		fprintf(f, "    node %u      %.1f GiB, pus %s\n",
			t->numa[i].os_index,
			(double)t->numa[i].mem / (1024.0 * 1024 * 1024),
			t->numa[i].cpus);
	fprintf(f, "  cores         %d\n  pus           %d\n", t->ncores,
		t->npus);
	fprintf(f, "  vcpu placement for -v %d (vcpu i -> first pu of core "
		"i mod %d):\n", t->nvcpus, t->ncores > 0 ? t->ncores : 1);
	for (int i = 0; i < t->nvcpus; i++)
		topo_print_vcpu(&t->vcpus[i], i, f);
	if (t->ncores > 0 && t->nvcpus > t->ncores)
		fprintf(f, "  note: %d vcpus on %d cores: vcpus share cores\n",
			t->nvcpus, t->ncores);
}

static json_t *topo_json(const info_topo_t *t)
{
	json_t *numa = json_array(), *vcpus = json_array();

	for (int i = 0; i < t->nnuma && i < TOPO_MAX_NUMA; i++)
		numa = jdoc_push(numa, json_pack(
			"{s:I, s:I, s:o}",
			"node", (json_int_t)t->numa[i].os_index,
			"memory_bytes", (json_int_t)t->numa[i].mem,
			"pus", jdoc_str(t->numa[i].cpus)));
	for (int i = 0; i < t->nvcpus; i++)
		vcpus = jdoc_push(vcpus, json_pack(
			"{s:i, s:i, s:i, s:i}", "vcpu", i,
			"pu", t->vcpus[i].pu,
			"core", t->vcpus[i].core,
			"numa", t->vcpus[i].numa));
	return json_pack("{s:b, s:i, s:i, s:i, s:o, s:o}", "ok", t->ok,
			 "packages", t->npkg, "cores", t->ncores,
			 "pus", t->npus, "numa_nodes", numa, "vcpus", vcpus);
}

/* ---- kernel features -------------------------------------------------- */

static int kern_uffd_open(int flags)
{
	int fd = (int)syscall(SYS_userfaultfd, flags);

	return fd < 0 ? -errno : fd;
}

static int kern_devuffd_open(void)
{
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	int fd;

	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	fd = fd < 0 ? -errno : fd;
	close(dev);
	return fd;
}

static void kern_uffd_api(info_kern_t *k, int fd)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };

	if (fd < 0) {
		k->api_err = -fd;
		return;
	}
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		k->api_err = errno;
		return;
	}
	k->features = api.features;
}

static void kern_uffd(info_kern_t *k)
{
	int full = kern_uffd_open(O_CLOEXEC | O_NONBLOCK);
	int user = kern_uffd_open(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	int dev = kern_devuffd_open();

	k->uffd_err = full < 0 ? -full : 0;
	k->uffd_user_err = user < 0 ? -user : 0;
	k->devuffd_err = dev < 0 ? -dev : 0;
	kern_uffd_api(k, full >= 0 ? full : user >= 0 ? user : dev);
	if (full >= 0)
		close(full);
	if (user >= 0)
		close(user);
	if (dev >= 0)
		close(dev);
}

/* In a forked child only: SUD is per thread and must never stay on here. */
static int kern_sud_child(void)
{
	char sel = SYSCALL_DISPATCH_FILTER_ALLOW;

	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0UL, 0UL,
		  &sel) != 0)
		return errno & 0xff;
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0UL, 0UL,
		  0UL) != 0)
		return errno & 0xff;
	return 0;
}

static int kern_sud(void)
{
	pid_t pid, r;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(kern_sud_child());
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void kern_seccomp(info_kern_t *k)
{
	unsigned action = SECCOMP_RET_TRAP;

	k->seccomp_mode = prctl(PR_GET_SECCOMP, 0UL, 0UL, 0UL, 0UL);
	if (k->seccomp_mode < 0) {
		k->seccomp_err = errno;
		return;
	}
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0)
		k->seccomp_err = errno;
}

static void kern_probe(info_kern_t *k)
{
	struct utsname u;

	snprintf(k->release, sizeof(k->release), "%s",
		 uname(&u) == 0 ? u.release : "unknown");
	kern_uffd(k);
	k->sud_err = kern_sud();
	kern_seccomp(k);
	k->landlock_abi = confine_landlock_abi();
}

static bool kern_has(const info_kern_t *k, uint64_t feature)
{
	return !k->api_err && (k->features & feature);
}

static const char *kern_intercept(const info_kern_t *k)
{
	if (!k->sud_err)
		return "sud";
	return k->seccomp_err ? "none" : "seccomp";
}

/* "yes" or "no (reason)" in buf. */
static const char *kern_yes(int err, char *buf, size_t len)
{
	if (!err)
		return "yes";
	if (err < 0)
		snprintf(buf, len, "no (probe killed by signal %d)", -err);
	else
		snprintf(buf, len, "no (%s)", strerror(err));
	return buf;
}

static void kern_print_text(const info_kern_t *k, FILE *f)
{
	char b[5][96];

	fprintf(f, "kernel features (for this user, uid %u)\n", getuid());
	fprintf(f, "  %-24s%s\n", "release", k->release);
	fprintf(f, "  %-24s%s\n", "userfaultfd",
		kern_yes(k->uffd_err, b[0], sizeof(b[0])));
	fprintf(f, "  %-24s%s\n", "  user-mode-only",
		kern_yes(k->uffd_user_err, b[1], sizeof(b[1])));
	fprintf(f, "  %-24s%s\n", "  /dev/userfaultfd",
		kern_yes(k->devuffd_err, b[2], sizeof(b[2])));
	if (k->api_err)
		fprintf(f, "  %-24s%s\n", "  features",
			kern_yes(k->api_err, b[3], sizeof(b[3])));
	else
		fprintf(f, "  %-24s0x%llx: MINOR_SHMEM %s, "
			"WP_HUGETLBFS_SHMEM %s\n", "  features",
			(unsigned long long)k->features,
			kern_has(k, UFFD_FEATURE_MINOR_SHMEM) ? "yes" : "no",
			kern_has(k, UFFD_FEATURE_WP_HUGETLBFS_SHMEM) ? "yes"
								     : "no");
	fprintf(f, "  %-24s%s\n", "syscall user dispatch",
		kern_yes(k->sud_err, b[3], sizeof(b[3])));
	fprintf(f, "  %-24s%s%s\n", "seccomp RET_TRAP",
		kern_yes(k->seccomp_err, b[4], sizeof(b[4])),
		k->seccomp_mode == 2 ? " (a seccomp filter is already active)"
				     : "");
	if (k->landlock_abi)
		fprintf(f, "  %-24sABI %d: guest threads confined to --root\n",
			"landlock", k->landlock_abi);
	else
		fprintf(f, "  %-24sno: guest threads run unconfined "
			"(docs/security.md)\n", "landlock");
}

/* NULL when err is 0, else the reason. */
static const char *kern_err(int err, char *buf, size_t len)
{
	if (!err)
		return NULL;
	if (err > 0)
		return strerror(err);
	snprintf(buf, len, "probe killed by signal %d", -err);
	return buf;
}

static json_t *kern_uffd_json(const info_kern_t *k)
{
	char b[96], hex[24];

	snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)k->features);
	return json_pack("{s:b, s:o, s:b, s:b, s:o, s:b, s:b}",
			 "full", !k->uffd_err,
			 "full_error", jdoc_str(kern_err(k->uffd_err, b,
							 sizeof(b))),
			 "user_mode_only", !k->uffd_user_err,
			 "dev_userfaultfd", !k->devuffd_err,
			 "features", jdoc_str(k->api_err ? NULL : hex),
			 "minor_shmem", kern_has(k, UFFD_FEATURE_MINOR_SHMEM),
			 "wp_hugetlbfs_shmem",
			 kern_has(k, UFFD_FEATURE_WP_HUGETLBFS_SHMEM));
}

static json_t *kern_json(const info_kern_t *k)
{
	char b[96];

	return json_pack("{s:o, s:o, s:b, s:o, s:b, s:i, s:i}",
			 "release", jdoc_str(k->release),
			 "userfaultfd", kern_uffd_json(k),
			 "syscall_user_dispatch", !k->sud_err,
			 "sud_error", jdoc_str(kern_err(k->sud_err, b,
							sizeof(b))),
			 "seccomp_trap", !k->seccomp_err,
			 "seccomp_mode", k->seccomp_mode,
			 "landlock_abi", k->landlock_abi);
}

/* ---- verdict ---------------------------------------------------------- */

typedef struct info_verdict {
	const char *transport;   /* "rdma" or "tcp" */
	char why[320];
	const char *intercept;   /* "sud", "seccomp" or "none" */
	bool minor;              /* uffd MINOR on shmem usable */
	char uffd[160];
	const char *page;        /* --page-transfer=auto here: "get", "push" */
	char page_why[200];
} info_verdict_t;

static void verdict_uffd(const info_kern_t *k, info_verdict_t *v)
{
	bool full = !k->uffd_err || !k->devuffd_err;

	v->minor = kern_has(k, UFFD_FEATURE_MINOR_SHMEM);
	if (k->api_err)
		snprintf(v->uffd, sizeof(v->uffd), "not usable (no "
			 "userfaultfd for this user): multi-node coherence "
			 "cannot run");
	else if (!v->minor)
		snprintf(v->uffd, sizeof(v->uffd), "MINOR on shmem missing "
			 "(kernel < 5.13?): multi-node coherence cannot run");
	else
		snprintf(v->uffd, sizeof(v->uffd), "userfaultfd MINOR on "
			 "shmem usable (%s userfaultfd)%s",
			 full ? "full" : "user-mode-only",
			 kern_has(k, UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
				 ? ""
				 : ", but WP on shmem missing (kernel < "
				   "5.19?)");
}

/* What --page-transfer=auto (the default) chooses, by the agents' rule
 * (node.c, node_page_push): get when UCX reaches the other agents over
 * verbs, which read the owner's page without its CPU (the verdict's rdma:
 * an ACTIVE port, --transport auto or rdma), else push. */
static void verdict_page(info_verdict_t *v)
{
	if (strcmp(v->transport, "rdma") == 0) {
		v->page = "get";
		snprintf(v->page_why, sizeof(v->page_why),
			 "one-sided RDMA reads, served without the owner's "
			 "agent; push with --transport=tcp or shm, or when an "
			 "agent has no ACTIVE RDMA port");
	} else {
		v->page = "push";
		snprintf(v->page_why, sizeof(v->page_why),
			 "no ACTIVE RDMA port: over tcp or shared memory the "
			 "owner's agent would serve a get, so its grant "
			 "carries the page");
	}
}

static void verdict_make(const info_net_t *n, const info_kern_t *k,
			 info_verdict_t *v)
{
	v->transport = info_net_verdict(n, v->why, sizeof(v->why));
	v->intercept = kern_intercept(k);
	verdict_uffd(k, v);
	verdict_page(v);
}

static const char *verdict_intercept_text(const char *intercept)
{
	if (strcmp(intercept, "sud") == 0)
		return "sud (Syscall User Dispatch)";
	if (strcmp(intercept, "seccomp") == 0)
		return "seccomp (RET_TRAP fallback: Syscall User Dispatch "
		       "unavailable)";
	return "none: neither Syscall User Dispatch nor seccomp works here";
}

static void verdict_print_text(const info_verdict_t *v, FILE *f)
{
	fprintf(f, "verdict: cvmm run will use %s %s\n", v->transport, v->why);
	fprintf(f, "  syscall interception: %s\n",
		verdict_intercept_text(v->intercept));
	fprintf(f, "  multi-node coherence: %s\n", v->uffd);
	fprintf(f, "  page transfer: %s (--page-transfer=auto: %s)\n",
		v->page, v->page_why);
}

static json_t *verdict_json(const info_verdict_t *v)
{
	char line[400];

	snprintf(line, sizeof(line), "cvmm run will use %s %s", v->transport,
		 v->why);
	return json_pack("{s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}",
			 "line", jdoc_str(line),
			 "transport", jdoc_str(v->transport),
			 "reason", jdoc_str(v->why),
			 "syscall_interception", jdoc_str(v->intercept),
			 "uffd_minor_shmem", v->minor,
			 "coherence", jdoc_str(v->uffd),
			 "page_transfer", jdoc_str(v->page),
			 "page_transfer_reason", jdoc_str(v->page_why));
}

/* ---- main ------------------------------------------------------------- */

typedef struct info_facts {
	info_topo_t topo;
	info_net_t *net;
	info_kern_t kern;
	info_verdict_t verdict;
} info_facts_t;

static void info_print_text(const info_facts_t *x, FILE *f)
{
	topo_print_text(&x->topo, f);
	fputc('\n', f);
	info_net_print_text(x->net, f);
	fputc('\n', f);
	kern_print_text(&x->kern, f);
	fputc('\n', f);
	verdict_print_text(&x->verdict, f);
}

static void info_print_json(const info_facts_t *x, FILE *f)
{
	json_t *doc = json_pack("{s:o}", "topology", topo_json(&x->topo));

	doc = info_net_json(x->net, doc);
	doc = jdoc_set(doc, "kernel", kern_json(&x->kern));
	doc = jdoc_set(doc, "verdict", verdict_json(&x->verdict));
	if (!doc)
		die("out of memory");
	jdoc_write(doc, f, JDOC_INDENT);
	json_decref(doc);
}

int info_main(int argc, char **argv)
{
	info_opts_t o = { 0 };
	info_facts_t *x;
	int rc = info_parse(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	x = calloc(1, sizeof(*x));
	if (!x)
		die("out of memory");
	topo_probe(&x->topo, o.nvcpus);
	x->net = info_net_probe();
	kern_probe(&x->kern);
	verdict_make(x->net, &x->kern, &x->verdict);
	if (o.json)
		info_print_json(x, stdout);
	else
		info_print_text(x, stdout);
	fflush(stdout);
	info_net_free(x->net);
	free(x->topo.vcpus);
	free(x);
	return 0;
}
