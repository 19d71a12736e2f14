/* cvmm ctl [--job ID|SOCKET] status [--json] | migrate TID NODE | balance
 * | pause | resume | drain NODE | undrain NODE (ctl.h). */
#include "cli/ctl.h"

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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
		   "  asks a running VM (node 0's agent) for its nodes, vCPUs, "
		   "threads,\n  faults and memory, moves a guest thread to "
		   "another node, runs\n  the balancer once (a thread of a "
		   "node kept from the CPU moves to\n  a node with idle cores), "
		   "stops and restarts every guest thread,\n  moves every "
		   "thread off a node and keeps new ones away, or takes a\n  "
		   "node out of the VM; with one job of this user running, "
		   "--job is\n  not needed\n");
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
	    strcmp(cmd, "undrain") && strcmp(cmd, "remove-node")) {
		log_error("ctl: unknown command %s (status, migrate, balance, "
			  "pause, resume, drain, undrain, remove-node)", cmd);
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
