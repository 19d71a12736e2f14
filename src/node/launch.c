/* cvmm run -n N on one machine: N agent processes of this same program and
 * the bootstrap they meet at. Node 0 keeps the terminal (the guest's stdin,
 * stdout and stderr); the others get /dev/null for stdin and stdout. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"
#include "node/launch.h"
#include "node/node.h"

#define LAUNCH_GRACE_MS 6000 /* others' time to notice and exit */

/* SIGTERM or SIGHUP at cvmm run: the job ends (launch_wait). */
static volatile sig_atomic_t launch_sig;

static void on_launch_sig(int sig)
{
	launch_sig = sig;
}

static void launch_child(const boot_launcher_t *bl, int rank, int nodes,
			 char **argv, pid_t parent)
{
	char *env[4];
	int null;

	/* cvmm run killed outright (SIGKILL, no chance to end the job):
	 * no agent outlives it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(CVMM_EXIT_FAILURE);

	boot_launcher_env(bl, rank, env);
	for (int i = 0; i < 4; i++) {
		if (!env[i] || putenv(env[i]) != 0) {
			log_error("agent %d: out of memory for its environment",
				  rank);
			_exit(CVMM_EXIT_FAILURE);
		}
	}
	/* More agents than cores: polling agents would starve each other
	 * (measured: ~200 us per get instead of ~30 us with event). The
	 * command line and an explicit variable still win. */
	if ((nodes > sysconf(_SC_NPROCESSORS_ONLN) &&
	     cvmm_env_add("CVMM_NODE_PROGRESS", "event") != 0) ||
	    cvmm_env_add("UCX_USE_MT_MUTEX", "y") != 0) { /* see run.c */
		log_error("agent %d: out of memory for its environment", rank);
		_exit(CVMM_EXIT_FAILURE);
	}
	if (rank != 0) {
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
	}
	execv("/proc/self/exe", argv);
	log_error("cannot start agent %d: %m", rank);
	_exit(CVMM_EXIT_FAILURE);
}

static int status_code(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : CVMM_EXIT_FAILURE;
}

/* Waits for every agent; node 0's status is the job's. Once node 0 is gone
 * the others get LAUNCH_GRACE_MS to follow before they are killed. A
 * SIGTERM or SIGHUP here ends the job: node 0 gets SIGTERM, the others
 * (whose SIGTERM asks to leave the VM) SIGKILL, and the job's status is
 * the signal's. */
static int launch_wait(pid_t *pids, int nodes)
{
	int left = 0, result = CVMM_EXIT_FAILURE, ws, sig = 0;
	long deadline = 0;

	for (int i = 0; i < nodes; i++)
		left += pids[i] > 0;
	if (pids[0] <= 0) /* node 0 never started: end the others */
		deadline = (long)cvmm_now_ms();

	while (left > 0) {
		pid_t pid;

		if (launch_sig && !sig) {
			sig = launch_sig;
			log_warn("%s: ending the job", strsignal(sig));
			/* every agent stopped first, so that none lives on to
			 * report another lost; then node 0 terminated, the
			 * others killed */
			for (int i = 0; i < nodes; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGSTOP);
			for (int i = 0; i < nodes; i++)
				if (pids[i] > 0 &&
				    waitpid(pids[i], &ws, WUNTRACED) == pids[i] &&
				    !WIFSTOPPED(ws)) {
					pids[i] = 0; /* it had ended */
					left--;
				}
			for (int i = nodes - 1; i >= 0; i--)
				if (pids[i] > 0)
					kill(pids[i], i == 0 ? SIGTERM : SIGKILL);
			if (pids[0] > 0)
				kill(pids[0], SIGCONT); /* to take its SIGTERM */
		}
		pid = waitpid(-1, &ws, deadline ? WNOHANG : 0);
		if (pid < 0 && errno == EINTR)
			continue;

		if (pid < 0 && errno != EINTR)
			break;
		if (pid <= 0) {
			if ((long)cvmm_now_ms() > deadline) {
				for (int i = 0; i < nodes; i++)
					if (pids[i] > 0)
						kill(pids[i], SIGKILL);
				deadline = (long)cvmm_now_ms() + 1000000;
			}
			usleep(20000);
			continue;
		}
		for (int i = 0; i < nodes; i++) {
			if (pids[i] != pid)
				continue;
			pids[i] = 0;
			left--;
			if (i == 0) {
				result = status_code(ws);
				deadline = (long)cvmm_now_ms() + LAUNCH_GRACE_MS;
			} else if (status_code(ws) != 0) {
				log_debug("agent %d ended with status %d", i,
					  status_code(ws));
			}
		}
	}
	return sig ? 128 + sig : result;
}

int node_launch(int nodes, int argc, char **argv)
{
	boot_launcher_t *bl;
	pid_t *pids;
	char **av;
	int ret;

	if (boot_launcher_start(nodes, node_opts.timeout_ms, &bl) != CVMM_OK)
		return CVMM_EXIT_FAILURE;
	pids = calloc((size_t)nodes, sizeof(*pids));
	av = calloc((size_t)argc + 1, sizeof(*av));
	if (!pids || !av) {
		boot_launcher_stop(bl);
		return CVMM_EXIT_FAILURE;
	}
	memcpy(av, argv, (size_t)argc * sizeof(*av));
	av[1] = "agent";
	{
		struct sigaction sa = { .sa_handler = on_launch_sig };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: waitpid */
		sigaction(SIGHUP, &sa, NULL);  /* returns to look */
	}
	fflush(NULL);
	for (int r = 0; r < nodes; r++) {
		pid_t parent = getpid();

		pids[r] = fork();
		if (pids[r] == 0)
			launch_child(bl, r, nodes, av, parent);
		if (pids[r] < 0) {
			log_error("cannot start agent %d: %m", r);
			pids[r] = 0;
		}
	}
	/* Ctrl-C reaches the agents through the process group. */
	signal(SIGINT, SIG_IGN);
	ret = launch_wait(pids, nodes);
	boot_launcher_stop(bl);
	free(av);
	free(pids);
	return ret;
}
