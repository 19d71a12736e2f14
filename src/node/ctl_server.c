/* Node 0's control socket (ctl_server.h). */
#include "node/ctl_server.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "coherence/coh.h"
#include "common/log.h"
#include "node/join.h"
#include "node/node.h"
#include "node/svc.h"

#define CTL_MAX_NODES 1024
#define CTL_WAIT_MS 1000 /* per node that does not answer */

static vm_t *ctl_vm;
static char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* the previous status, for the fault rate since then */
static uint64_t prev_ns, prev_faults[CTL_MAX_NODES];

bool ctl_dir(char *buf, size_t cap, bool make)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat sb;
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(buf, cap, "%s/cvmm", xdg);
	else
		n = snprintf(buf, cap, "/tmp/cvmm-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= cap) {
		log_warn("control socket directory: path too long");
		return false;
	}
	if (make && mkdir(buf, 0700) != 0 && errno != EEXIST) {
		log_warn("control socket directory %s: %m", buf);
		return false;
	}
	if (lstat(buf, &sb) != 0) {
		if (make || errno != ENOENT)
			log_warn("control socket directory %s: %m", buf);
		return false;
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != getuid() ||
	    (sb.st_mode & 077)) {
		log_warn("control socket directory %s: not a directory of "
			  "this user's alone (mode 0700): refused", buf);
		return false;
	}
	return true;
}

/* ---- the answer ---------------------------------------------------------- */

static double secs(uint64_t ns)
{
	return (double)(ns / 1000) / 1e6;
}

static json_t *node_json(int k, const node_status_t *s, bool ok,
			 double rate)
{
	if (!ok)
		return json_pack("{s:i, s:b, s:b, s:b, s:b}", "node", k,
				 "answered", 0, "drained",
				 node_svc_is_drained(k), "left",
				 node_svc_slot_left(k), "free",
				 node_svc_slot_free(k));
	return json_pack("{s:i, s:b, s:I, s:b, s:I, s:I, s:I, s:I, s:f, s:I,"
			 " s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:f,"
			 " s:f, s:I, s:f, s:I}",
			 "node", k, "answered", 1,
			 "pid", (json_int_t)s->pid,
			 "drained", node_svc_is_drained(k),
			 "vcpus", (json_int_t)s->vcpus,
			 "threads", (json_int_t)s->threads,
			 "read_faults", (json_int_t)s->read_faults,
			 "write_faults", (json_int_t)s->write_faults,
			 "faults_per_s", round(rate * 10) / 10,
			 "resident_pages", (json_int_t)s->resident,
			 "owned_pages", (json_int_t)s->owned,
			 "shared_pages", (json_int_t)s->shared,
			 "fault_s", secs(s->fault_ns),
			 "guest_s", secs(s->guest_ns),
			 "coherence_s", secs(s->coherence_ns),
			 "sys_s", secs(s->sys_ns),
			 "idle_s", secs(s->idle_ns),
			 "moved_out", (json_int_t)s->mig_out,
			 "moved_in", (json_int_t)s->mig_in,
			 "cpu_s", secs(s->run_ns),
			 "cpu_wait_s", secs(s->wait_ns),
			 "cores", (json_int_t)s->cores,
			 "cores_idle_s", secs(s->cores_idle_ns),
			 "speed", (json_int_t)s->speed);
}

/* What status says of slot k, out of the VM. */
static const char *slot_text(int k)
{
	bool left = node_svc_slot_left(k), free = node_svc_slot_free(k);

	if (left)
		return free ? "left the VM; its slot is free: cvmm ctl add-node"
			    : "left the VM";
	return free ? "free slot: cvmm ctl add-node" : "unused: a join failed";
}

static void table(FILE *f, const node_status_t *s, const bool *ok,
		  const double *rate, int n, uint64_t up)
{
	int in = 0;

	for (int k = 0; k < n; k++)
		in += !node_departed(k);
	fprintf(f, "cvmm job %d: %s, %d node%s", (int)getpid(),
		ctl_vm->exe_path ? ctl_vm->exe_path : "?", in,
		in == 1 ? "" : "s");
	if (in != n)
		fprintf(f, " of %d slots", n);
	fprintf(f, ", %d vCPUs, up %.1f s, epoch %llu%s\n", ctl_vm->nvcpus,
		secs(up), (unsigned long long)node_svc_epoch(),
		coh_rt_paused() ? ", paused" : "");
	if (join_listen_addr())
		fprintf(f, "joins at %s (cvmm ctl add-node, cvmm ctl "
			   "join-info)\n", join_listen_addr());
	fprintf(f, "node vcpus threads read-faults write-faults faults/s "
		   "resident-MiB owned-MiB  guest-s  coher-s    sys-s   idle-s "
		   "out  in\n");
	for (int k = 0; k < n; k++) {
		if (node_departed(k)) {
			fprintf(f, "%4d  (%s)\n", k, slot_text(k));
			continue;
		}
		if (!ok[k]) {
			fprintf(f, "%4d  (no answer)\n", k);
			continue;
		}
		if (node_svc_is_drained(k))
			fprintf(f, "%4d  (drained: runs no guest thread)\n", k);
		fprintf(f, "%4d %5llu %7llu %11llu %12llu %8.0f %12.1f %9.1f "
			   "%8.2f %8.2f %8.2f %8.2f %3llu %3llu\n",
			k, (unsigned long long)s[k].vcpus,
			(unsigned long long)s[k].threads,
			(unsigned long long)s[k].read_faults,
			(unsigned long long)s[k].write_faults, rate[k],
			(double)s[k].resident * 4096 / (1 << 20),
			(double)s[k].owned * 4096 / (1 << 20),
			secs(s[k].guest_ns), secs(s[k].coherence_ns),
			secs(s[k].sys_ns), secs(s[k].idle_ns),
			(unsigned long long)s[k].mig_out,
			(unsigned long long)s[k].mig_in);
	}
}

static void status(FILE *f, bool json)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	node_status_t *s = calloc(CTL_MAX_NODES, sizeof(*s));
	bool *ok = calloc(CTL_MAX_NODES, sizeof(*ok));
	double *rate = calloc(CTL_MAX_NODES, sizeof(*rate));
	uint64_t now = cvmm_now_ns(), up, since;
	int n;

	if (!s || !ok || !rate) {
		fprintf(f, "error: out of memory\n");
		goto out;
	}
	up = now - ctl_vm->t_start;
	n = node_svc_status(s, ok, CTL_MAX_NODES, CTL_WAIT_MS, true);
	pthread_mutex_lock(&lock);
	since = prev_ns ? now - prev_ns : up;
	for (int k = 0; k < n; k++) {
		uint64_t faults = s[k].read_faults + s[k].write_faults;

		if (ok[k] && since > 0 && faults >= prev_faults[k])
			rate[k] = (double)(faults - prev_faults[k]) * 1e9 /
				  (double)since;
		if (ok[k])
			prev_faults[k] = faults;
	}
	prev_ns = now;
	pthread_mutex_unlock(&lock);
	if (json) {
		json_t *nodes = json_array(), *doc;

		for (int k = 0; k < n; k++)
			nodes = jdoc_push(nodes, node_json(k, &s[k], ok[k],
							   rate[k]));
		int in = 0;

		for (int k = 0; k < n; k++)
			in += !node_departed(k);
		doc = json_pack("{s:i, s:o, s:i, s:i, s:i, s:f, s:f, s:b, s:I,"
				" s:o, s:o}",
				"job", (int)getpid(), "program",
				jdoc_str(ctl_vm->exe_path), "nodes_total", n,
				"nodes_in", in, "vcpus", ctl_vm->nvcpus,
				"up_s", secs(up), "rate_window_s", secs(since),
				"paused", coh_rt_paused(), "epoch",
				(json_int_t)node_svc_epoch(), "join",
				jdoc_str(join_listen_addr()), "nodes",
				nodes ? nodes : json_null());
		if (jdoc_write(doc, f, JDOC_LINE) != CVMM_OK)
			fprintf(f, "error: out of memory\n");
		json_decref(doc);
	} else {
		table(f, s, ok, rate, n, up);
	}
out:
	free(s);
	free(ok);
	free(rate);
}

/* "migrate TID NODE" */
static void migrate(FILE *f, const char *args)
{
	int tid, target, where, r, end = 0;

	if (sscanf(args, "%d %d%n", &tid, &target, &end) != 2 ||
	    args[end] != '\0' || tid <= 0) {
		fprintf(f, "error: migrate takes a thread id and a node\n");
		return;
	}
	if (node_size() < 2 || target < 0 || target >= node_size()) {
		fprintf(f, "error: no node %d (the VM has %d)\n", target,
			node_size());
		return;
	}
	if (node_svc_is_drained(target)) {
		fprintf(f, "error: node %d is drained (cvmm ctl undrain %d)\n",
			target, target);
		return;
	}
	r = node_svc_move(tid, target, &where);
	if (r == 1)
		fprintf(f, "thread %d moves from node %d to node %d (now, or "
			   "when the call it is in returns)\n", tid, where,
			target);
	else if (r == 2)
		fprintf(f, "thread %d runs on node %d already\n", tid, target);
	else
		fprintf(f, "error: no guest thread %d\n", tid);
}

/* "balance": one round of the balancer now */
static void balance(FILE *f)
{
	char line[320];

	if (node_size() < 2) {
		fprintf(f, "no move: the VM has one node\n");
		return;
	}
	node_svc_balance(line, sizeof(line));
	fprintf(f, "%s\n", line);
}

/* The node number that is the whole of args into *k; else an error line
 * naming what: false. */
static bool node_arg(FILE *f, const char *what, const char *args, int *k)
{
	int end = 0;

	if (sscanf(args, "%d%n", k, &end) != 1 || args[end] != '\0') {
		fprintf(f, "error: %s takes a node number\n", what);
		return false;
	}
	return true;
}

/* "drain K", "undrain K" */
static void drain(FILE *f, const char *args, bool on)
{
	char line[320];
	int k;

	if (!node_arg(f, on ? "drain" : "undrain", args, &k))
		return;
	node_svc_drain(k, on, line, sizeof(line));
	fprintf(f, "%s\n", line);
}

/* "remove-node K" */
static void remove_node(FILE *f, const char *args)
{
	char line[320];
	int k;

	if (!node_arg(f, "remove-node", args, &k))
		return;
	node_svc_remove(k, line, sizeof(line));
	fprintf(f, "%s\n", line);
}

/* "pause", "resume" */
static void pause_resume(FILE *f, bool pause)
{
	char line[320];

	if (node_svc_changing()) /* its pause is its own */
		snprintf(line, sizeof(line), "error: a node is joining or "
			 "leaving: the VM is paused until that is done");
	else if (pause)
		(void)node_svc_pause(line, sizeof(line));
	else
		node_svc_resume(line, sizeof(line));
	fprintf(f, "%s\n", line);
}

/* "join-info" (for people and scripts) and "join-argv" (cvmm ctl
 * add-node: node 0's command line after it, NUL-separated). */
static void join_info(FILE *f, bool argv)
{
	char *const *av = join_argv();

	if (!join_listen_addr()) {
		fprintf(f, "error: this VM takes no new nodes (%s)\n",
			node_size() > 1
				? "node 0 does not listen for joins: start "
				  "it with --join-listen HOST:PORT or "
				  "--max-nodes"
				: "it has no free slot: start it with "
				  "--max-nodes");
		return;
	}
	if (node_svc_free_slots() == 0) {
		fprintf(f, "error: no free slot left (the VM's %d are all in "
			   "use: a node leaving frees one, --max-nodes gives "
			   "more)\n", node_size());
		return;
	}
	fprintf(f, "address %s\ncookie %016llx\nepoch %llu\nfree-slots "
		   "%d\n", join_listen_addr(),
		(unsigned long long)join_cookie(),
		(unsigned long long)node_svc_epoch(), node_svc_free_slots());
	if (!argv)
		return;
	if (!join_exe() || !av || !av[0] || !av[1]) {
		fprintf(f, "exe ?\n");
		return;
	}
	fprintf(f, "exe %s\ncwd %s\nvcpus %d\nprogress %s\ntransport %s\n"
		"argv\n", join_exe(), join_cwd() ? join_cwd() : "/",
		ctl_vm->nvcpus,
		xp_progress_names[node_opts.progress],
		xp_transport_names[node_opts.transport]);
	for (int i = 0; av[i]; i++)
		fwrite(av[i], 1, strlen(av[i]) + 1, f);
}

char *ctl_answer(const char *req, size_t *alen)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (!strcmp(req, "status"))
		status(f, false);
	else if (!strcmp(req, "status json"))
		status(f, true);
	else if (!strncmp(req, "migrate ", 8))
		migrate(f, req + 8);
	else if (!strcmp(req, "balance"))
		balance(f);
	else if (!strcmp(req, "pause") || !strcmp(req, "resume"))
		pause_resume(f, req[0] == 'p');
	else if (!strncmp(req, "drain ", 6))
		drain(f, req + 6, true);
	else if (!strncmp(req, "undrain ", 8))
		drain(f, req + 8, false);
	else if (!strncmp(req, "remove-node ", 12))
		remove_node(f, req + 12);
	else if (!strcmp(req, "join-info") || !strcmp(req, "join-argv"))
		join_info(f, req[5] == 'a');
	else
		fprintf(f, "error: unknown request \"%.64s\" (status, status "
			   "json, migrate TID NODE, balance, pause, resume, drain "
			   "NODE, undrain NODE, remove-node NODE, join-info)\n",
			req);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	*alen = len;
	return out;
}

/* ---- serving ------------------------------------------------------------- */

/* Reads one request line within a second; false when none came. */
static bool read_req(int c, char *req)
{
	size_t n = 0;

	while (n < CTL_REQ_MAX - 1) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 1000) <= 0)
			return false;
		r = read(c, req + n, CTL_REQ_MAX - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(req, '\n', n))
			break;
	}
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	return n > 0;
}

/* Sends the start of buf with this process's stderr attached
 * (SCM_RIGHTS); returns the bytes sent (0: none, the caller sends all). */
static size_t send_with_stderr(int c, const char *buf, size_t len)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int fd = STDERR_FILENO;
	ssize_t w;

	memset(u.b, 0, sizeof(u.b));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	w = sendmsg(c, &m, MSG_NOSIGNAL);
	return w > 0 ? (size_t)w : 0;
}

static void serve(int c)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	char req[CTL_REQ_MAX];
	char *ans;
	size_t off = 0, len;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
	    cr.uid != getuid()) {
		log_warn("control socket: a process of another user connected:"
			 " refused");
		return;
	}
	if (!read_req(c, req))
		return;
	ans = ctl_answer(req, &len);
	if (!ans)
		return;
	/* cvmm ctl add-node: the new agent writes its lines where node 0
	 * does (the job's stderr), as the agents cvmm run started do */
	if (!strcmp(req, "join-argv") && strncmp(ans, "error:", 6))
		off = send_with_stderr(c, ans, len);
	while (off < len) {
		ssize_t w = send(c, ans + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(ans);
}

static void *ctl_main(void *arg)
{
	int s = (int)(intptr_t)arg;

	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_warn("control socket: %m: no longer served");
			return NULL;
		}
		serve(c);
		close(c);
	}
}

int ctl_dial(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

size_t ctl_sock_id(const char *name)
{
	size_t l = strlen(name);

	return l > 5 && !strcmp(name + l - 5, ".sock") ? l - 5 : 0;
}

/* Removes the sockets in dir nobody listens on (agents that ended:
 * a confined agent cannot remove its own). */
static void remove_stale(const char *dir)
{
	char path[sizeof(ctl_path)];
	DIR *d = opendir(dir);
	struct dirent *e;
	int fd;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!ctl_sock_id(e->d_name) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     e->d_name) >= sizeof(path))
			continue;
		fd = ctl_dial(path);
		if (fd >= 0)
			close(fd);
		else if (errno == ECONNREFUSED)
			unlink(path);
	}
	closedir(d);
}

cvmm_status_t ctl_server_start(vm_t *vm, gmem_t *gm)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[sizeof(a.sun_path)];
	pthread_attr_t at;
	pthread_t t;
	int s, e;

	ctl_vm = vm;
	node_svc_attach(gm, vm);
	if (!ctl_dir(dir, sizeof(dir), true))
		return CVMM_ERR_IO;
	remove_stale(dir);
	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s/%d.sock",
			     dir, (int)getpid()) >= sizeof(a.sun_path)) {
		log_warn("control socket: path too long");
		return CVMM_ERR_IO;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || (unlink(a.sun_path) != 0 && errno != ENOENT) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    chmod(a.sun_path, 0600) != 0 || listen(s, 8) != 0) {
		log_warn("control socket %s: %m", a.sun_path);
		if (s >= 0)
			close(s);
		return CVMM_ERR_IO;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &at, ctl_main, (void *)(intptr_t)s);
	pthread_attr_destroy(&at);
	if (e != 0) {
		log_warn("control socket: cannot start its thread: %s",
			  strerror(e));
		close(s);
		unlink(a.sun_path);
		return CVMM_ERR_IO;
	}
	memcpy(ctl_path, a.sun_path, sizeof(ctl_path));
	vm->ctl_path = ctl_path;
	log_info("control socket: %s (cvmm ctl --job %d status)", ctl_path,
		 (int)getpid());
	return CVMM_OK;
}

const char *ctl_server_path(void)
{
	return ctl_path;
}
