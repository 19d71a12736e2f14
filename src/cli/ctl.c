/* cvmm ctl [--job ID|SOCKET] status [--json] | migrate TID NODE | balance
 * | pause | resume | drain NODE | undrain NODE (ctl.h). */
#include "cli/ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "node/ctl_server.h"

#define CTL_ANSWER_WAIT_MS 60000

static void usage(FILE *f)
{
	fprintf(f, "usage: cvmm ctl [--job ID|SOCKET] status [--json]\n"
		   "       cvmm ctl [--job ID|SOCKET] migrate TID NODE\n"
		   "       cvmm ctl [--job ID|SOCKET] balance\n"
		   "       cvmm ctl [--job ID|SOCKET] pause|resume\n"
		   "       cvmm ctl [--job ID|SOCKET] drain|undrain NODE\n"
		   "       cvmm ctl [--job ID|SOCKET] remove-node NODE\n"
		   "       cvmm ctl [--job ID|SOCKET] add-node|join-info\n"
		   "  asks a running VM (node 0's agent) for its nodes, vCPUs, "
		   "threads,\n  faults and memory, moves a guest thread to "
		   "another node, runs\n  the balancer once (a thread of a "
		   "node kept from the CPU moves to\n  a node with idle cores), "
		   "stops and restarts every guest thread,\n  moves every "
		   "thread off a node and keeps new ones away, or takes a\n  "
		   "node out of the VM, starts a new agent on this machine "
		   "that joins\n  it (or tells how one joins: address and "
		   "cookie); with one job of\n  this user running, --job is "
		   "not needed\n");
}

/* The one job of this user that answers: its socket connected, or -1
 * after one line (none, or several: they are listed). */
static int find_job(void)
{
	char dir[108], path[sizeof(dir) + 280], jobs[256] = "";
	int fd = -1, found = 0;
	struct dirent *e;
	DIR *d;

	if (!ctl_dir(dir, sizeof(dir), false) || !(d = opendir(dir))) {
		log_error("no running cvmm job of this user (no control "
			  "socket directory)");
		return -1;
	}
	while ((e = readdir(d))) {
		size_t l = ctl_sock_id(e->d_name), j = strlen(jobs);
		int c;

		if (!l)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		c = ctl_dial(path);
		if (c < 0)
			continue;
		found++;
		if (j < sizeof(jobs) - 1)
			snprintf(jobs + j, sizeof(jobs) - j, "%s%.*s",
				 j ? ", " : "", (int)l, e->d_name);
		if (fd >= 0)
			close(fd);
		fd = c;
	}
	closedir(d);
	if (found == 1)
		return fd;
	if (fd >= 0)
		close(fd);
	if (!found)
		log_error("no running cvmm job of this user (%s)", dir);
	else
		log_error("%d cvmm jobs running (%s): say which with --job ID",
			  found, jobs);
	return -1;
}

/* Sends req, copies the answer to stdout (or stderr when it is an error
 * line). */
static int ask(int fd, const char *req)
{
	char buf[4096];
	size_t len = strlen(req);
	bool first = true, err = false;

	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		log_error("control socket: cannot send the request: %m");
		return 1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, CTL_ANSWER_WAIT_MS) <= 0) {
			log_error("control socket: no answer in %d s",
				  CTL_ANSWER_WAIT_MS / 1000);
			return 1;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			log_error("control socket: %m");
			return 1;
		}
		if (r == 0)
			break;
		if (first) /* an error answer is one line, to stderr */
			err = r >= 6 && !memcmp(buf, "error:", 6);
		fwrite(buf, 1, (size_t)r, err ? stderr : stdout);
		first = false;
	}
	if (first) {
		log_error("control socket: the VM closed it without an answer");
		return 1;
	}
	return err ? 1 : 0;
}

/* One read of the answer, taking a passed file descriptor into *passed
 * (the first one only; others closed). */
static ssize_t read_passed(int fd, char *buf, size_t n, int *passed)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	ssize_t r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&m) : NULL; cm;
	     cm = CMSG_NXTHDR(&m, cm)) {
		size_t nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
			if (*passed < 0)
				*passed = f;
			else
				close(f);
		}
	}
	return r;
}

/* The whole answer to req (at most 1 MiB, NUL-terminated after *len), and
 * a file descriptor passed with it into *passed (-1: none); NULL after
 * one line. */
static char *ask_all(int fd, const char *req, size_t *len, int *passed)
{
	size_t cap = 1 << 20, n = 0, rl = strlen(req);
	char *buf = malloc(cap + 1);

	if (!buf || send(fd, req, rl, MSG_NOSIGNAL) != (ssize_t)rl) {
		log_error("control socket: cannot send the request: %m");
		free(buf);
		return NULL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, CTL_ANSWER_WAIT_MS) <= 0 ||
		    (r = read_passed(fd, buf + n, cap - n, passed)) < 0) {
			log_error("control socket: no answer");
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			log_error("control socket: answer too long");
			free(buf);
			return NULL;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The value of "key VALUE" lines in a join-argv answer, copied. */
static bool field(const char *ans, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);

	for (const char *l = ans; *l; l = strchr(l, '\n') + 1) {
		const char *e = strchr(l, '\n');

		if (!e)
			return false;
		if (!strncmp(l, key, kl) && l[kl] == ' ') {
			snprintf(out, cap, "%.*s", (int)(e - l - kl - 1),
				 l + kl + 1);
			return true;
		}
		if (!strncmp(l, "argv\n", 5))
			return false;
	}
	return false;
}

#define ADD_NODE_WAIT_MS 90000

/* cvmm ctl add-node: starts an agent like node 0's on this machine that
 * joins the VM, and waits until it is in (it says so on a pipe) or gone. */
static int add_node(int fd)
{
	char addr[128], ck[32], exe[4096], cwd[4096], vcpus[16], prog[32],
	     tr[32];
	char opt[5][160], nfd[16], line[64];
	size_t len = 0, n = 0;
	int pipefd[2], argc = 0, rc = 1, err_fd = -1;
	char *ans = ask_all(fd, "join-argv\n", &len, &err_fd), *av,
	     **argv = NULL;
	pid_t pid;

	if (!ans)
		return 1;
	if (!strncmp(ans, "error:", 6)) {
		fputs(ans, stderr);
		goto out;
	}
	av = strstr(ans, "\nargv\n");
	if (!av || !field(ans, "address", addr, sizeof(addr)) ||
	    !field(ans, "cookie", ck, sizeof(ck)) ||
	    !field(ans, "exe", exe, sizeof(exe)) ||
	    !field(ans, "cwd", cwd, sizeof(cwd)) ||
	    !field(ans, "vcpus", vcpus, sizeof(vcpus)) ||
	    !field(ans, "progress", prog, sizeof(prog)) ||
	    !field(ans, "transport", tr, sizeof(tr))) {
		log_error("ctl: node 0 did not say how to start an agent "
			  "like its own");
		goto out;
	}
	av += 6;
	for (char *p = av; p < ans + len; p += strlen(p) + 1)
		n++;
	/* exe agent --join= --vcpus= --progress= --transport= node 0's
	 * arguments after its "agent" */
	argv = calloc(n + 8, sizeof(*argv));
	if (!argv || n < 2) {
		log_error("ctl: node 0's command line is unknown");
		goto out;
	}
	snprintf(opt[0], sizeof(opt[0]), "--join=%s", addr);
	snprintf(opt[1], sizeof(opt[1]), "--vcpus=%s", vcpus);
	snprintf(opt[2], sizeof(opt[2]), "--progress=%s", prog);
	snprintf(opt[3], sizeof(opt[3]), "--transport=%s", tr);
	argv[argc++] = exe;
	argv[argc++] = "agent";
	for (int i = 0; i < 4; i++)
		argv[argc++] = opt[i];
	av += strlen(av) + 1; /* node 0's argv[0] */
	if (strcmp(av, "agent")) {
		log_error("ctl: node 0 is not an agent (%s)", av);
		goto out;
	}
	for (char *p = av + strlen(av) + 1; p < ans + len; p += strlen(p) + 1)
		argv[argc++] = p;
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		log_error("ctl: pipe: %m");
		goto out;
	}
	snprintf(nfd, sizeof(nfd), "%d", pipefd[1]);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		setsid();
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		if (err_fd >= 0) /* node 0's: the job's messages together */
			dup2(err_fd, STDERR_FILENO);
		fcntl(pipefd[1], F_SETFD, 0); /* the agent writes here */
		/* node 0's relative paths (the program, --root) are its */
		if (chdir(cwd) != 0) {
			log_error("ctl: node 0's directory %s: %m", cwd);
			_exit(127);
		}
		unsetenv("CVMM_BOOT_ADDR");
		unsetenv("CVMM_BOOT_RANK");
		unsetenv("CVMM_BOOT_SIZE");
		if (setenv("CVMM_JOB_COOKIE", ck, 1) == 0 &&
		    setenv("CVMM_JOIN_NOTIFY_FD", nfd, 1) == 0)
			execv(exe, argv);
		log_error("ctl: cannot start %s: %m", exe);
		_exit(127);
	}
	close(pipefd[1]);
	if (pid < 0) {
		log_error("ctl: fork: %m");
		close(pipefd[0]);
		goto out;
	}
	{
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		ssize_t r = 0;

		if (poll(&p, 1, ADD_NODE_WAIT_MS) > 0)
			r = read(pipefd[0], line, sizeof(line) - 1);
		close(pipefd[0]);
		if (r > 0) {
			line[r] = '\0';
			line[strcspn(line, "\n")] = '\0';
			printf("%s joined the VM (agent pid %d)\n", line,
			       (int)pid);
			rc = 0;
		} else {
			if (r == 0 && waitpid(pid, NULL, WNOHANG) == 0)
				kill(pid, SIGKILL);
			fprintf(stderr, "error: the new agent did not join "
				"(it says why where node 0 writes)\n");
		}
	}
out:
	if (err_fd >= 0)
		close(err_fd);
	free(argv);
	free(ans);
	return rc;
}

/* s is 1 to 9 decimal digits (a tid or a node number). */
static bool small_number(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 9 && strspn(s, "0123456789") == n;
}

int ctl_main(int argc, char **argv)
{
	const char *job = NULL, *sock = NULL, *cmd = NULL, *arg[2] = { 0 };
	char path[512], req[CTL_REQ_MAX];
	int narg = 0;
	bool json = false;
	int fd, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--job") && i + 1 < argc) {
			job = argv[++i];
		} else if (!strncmp(argv[i], "--job=", 6)) {
			job = argv[i] + 6;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-') {
			log_error("ctl: unknown option %s", argv[i]);
			usage(stderr);
			return 2;
		} else if (!cmd && strchr(argv[i], '/')) {
			sock = argv[i];
		} else if (!cmd) {
			cmd = argv[i];
		} else if ((narg < 2 && !strcmp(cmd, "migrate")) ||
			   (narg < 1 && (!strcmp(cmd, "drain") ||
					 !strcmp(cmd, "undrain") ||
					 !strcmp(cmd, "remove-node")))) {
			arg[narg++] = argv[i];
		} else {
			log_error("ctl: unexpected argument %s", argv[i]);
			return 2;
		}
	}
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "status") && strcmp(cmd, "migrate") &&
	    strcmp(cmd, "balance") && strcmp(cmd, "pause") &&
	    strcmp(cmd, "resume") && strcmp(cmd, "drain") &&
	    strcmp(cmd, "undrain") && strcmp(cmd, "remove-node") &&
	    strcmp(cmd, "add-node") && strcmp(cmd, "join-info")) {
		log_error("ctl: unknown command %s (status, migrate, balance, "
			  "pause, resume, drain, undrain, remove-node, "
			  "add-node, join-info)", cmd);
		return 2;
	}
	if ((!strcmp(cmd, "drain") || !strcmp(cmd, "undrain") ||
	     !strcmp(cmd, "remove-node")) &&
	    (narg != 1 || !small_number(arg[0]))) {
		log_error("ctl: %s takes a node number", cmd);
		return 2;
	}
	if (strcmp(cmd, "status") && strcmp(cmd, "migrate") && json) {
		log_error("ctl: %s answers in one line (no --json)", cmd);
		return 2;
	}
	if (!strcmp(cmd, "migrate") &&
	    (narg != 2 || json || !small_number(arg[0]) ||
	     !small_number(arg[1]))) {
		log_error("ctl: migrate takes a thread id and a node number");
		return 2;
	}
	if (job && (sock || !job[0] || strspn(job, "0123456789") !=
					     strlen(job))) {
		log_error("ctl: --job takes the number cvmm printed (node 0's "
			  "pid), without a socket path");
		return 2;
	}
	if (job) {
		char dir[108];

		if (!ctl_dir(dir, sizeof(dir), false)) {
			log_error("no running cvmm job %s", job);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/%s.sock", dir, job);
		sock = path;
	}
	if (sock) {
		fd = ctl_dial(sock);
		if (fd < 0) {
			log_error("%s%s: %m", job ? "job " : "",
				  job ? job : sock);
			return 1;
		}
	} else {
		fd = find_job();
		if (fd < 0)
			return 1;
	}
	if (!strcmp(cmd, "add-node")) {
		rc = add_node(fd);
		close(fd);
		return rc;
	}
	if (!strcmp(cmd, "migrate"))
		snprintf(req, sizeof(req), "migrate %s %s\n", arg[0], arg[1]);
	else if (!strcmp(cmd, "drain") || !strcmp(cmd, "undrain") ||
		 !strcmp(cmd, "remove-node"))
		snprintf(req, sizeof(req), "%s %s\n", cmd, arg[0]);
	else if (strcmp(cmd, "status"))
		snprintf(req, sizeof(req), "%s\n", cmd);
	else
		snprintf(req, sizeof(req), "%s\n",
			 json ? "status json" : "status");
	rc = ask(fd, req);
	close(fd);
	return rc;
}
