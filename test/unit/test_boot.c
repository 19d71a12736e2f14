/* Unit tests for rdma/boot*.c: rank and size from every environment form,
 * cookie parsing, method choice, the wire encoding (every length but a
 * message's refused, TABLE entries cut or too long refused), and the
 * coordinator protocol end to end
 * with forked ranks: the launcher (4 ranks, several rounds), rank 0 as the
 * coordinator over TCP and UNIX sockets, a wrong cookie and junk dropped
 * without harm, a malformed message, a rank lost mid-allgather and a rank
 * that never comes (both fail the others quickly, never hang). Children
 * report through their exit code; they never call cmocka. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "rdma/boot.h"
#include "rdma/boot_int.h"

#define COOKIE "0123456789abcdef"
#define WRONG_COOKIE "fedcba9876543210"
#define CHILD_ALARM_S 10
#define MAX_KIDS 8

extern char **environ;

/* ---- helpers ------------------------------------------------------------ */

/* Removes every variable boot looks at, so the test's own environment
 * (say, under mpirun) cannot leak in. */
static int env_clear(void **state)
{
	static const char *const names[] = {
		"CVMM_BOOT_ADDR", "CVMM_BOOT_RANK", "CVMM_BOOT_SIZE",
		"CVMM_JOB_COOKIE", "OMPI_COMM_WORLD_RANK",
		"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMIX_NAMESPACE",
		"PMI_RANK", "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
	};
	char name[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		unsetenv(names[i]);
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; *e; e++) {
			size_t n = strcspn(*e, "=");

			if (strncmp(*e, "PMIX_", 5) != 0 || n >= sizeof(name))
				continue;
			memcpy(name, *e, n);
			name[n] = '\0';
			unsetenv(name);
			again = 1;
			break;
		}
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A port nobody used a moment ago. */
static int free_port(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	close(fd);
	return ntohs(in.sin_port);
}

typedef int (*child_fn_t)(const void *arg);

static pid_t spawn(child_fn_t fn, const void *arg)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(CHILD_ALARM_S);
		_exit(fn(arg));
	}
	return pid;
}

/* Exit status of pid: its code, or 100 + signal. */
static int reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 100 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- the rounds every rank plays ---------------------------------------- */

/* Round k, rank r: lengths differ per rank, several are zero, round 2 is
 * big enough to need many socket writes. */
static size_t blob_len(int k, int r)
{
	switch (k) {
	case 0:
		return 8 + 3 * (size_t)r;
	case 1:
		return r % 2 ? 0 : 1000 + (size_t)r;
	default:
		return 100000 * (size_t)r;
	}
}

static uint8_t blob_byte(int k, int r, size_t i)
{
	return (uint8_t)(i * 31 + (size_t)k * 7 + (size_t)r * 13 + 1);
}

static int check_round(boot_t *b, int k)
{
	size_t n = blob_len(k, boot_rank(b));
	uint8_t *mine = malloc(n ? n : 1);
	void **all;
	size_t *lens;
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		mine[i] = blob_byte(k, boot_rank(b), i);
	if (boot_allgather(b, mine, n, &all, &lens) != CVMM_OK) {
		free(mine);
		return 1;
	}
	for (int r = 0; r < boot_size(b); r++) {
		bad |= lens[r] != blob_len(k, r) || !all[r];
		for (size_t i = 0; !bad && i < lens[r]; i++)
			bad |= ((uint8_t *)all[r])[i] != blob_byte(k, r, i);
	}
	boot_free_all(b, all, lens);
	free(mine);
	if (bad)
		fprintf(stderr, "rank %d: wrong blob in round %d\n",
			boot_rank(b), k);
	return bad;
}

/* allgather, barrier, allgather, allgather, barrier. */
static int play(boot_t *b)
{
	if (check_round(b, 0) || boot_barrier(b) != CVMM_OK)
		return 1;
	if (check_round(b, 1) || check_round(b, 2))
		return 1;
	return boot_barrier(b) != CVMM_OK;
}

typedef struct job {
	boot_opts_t o;
	const char *method;
	int mode; /* what the child does after joining */
	bool no_fini; /* _exit at once after the last barrier, like
		       * node_leave() */
	char **env;
} job_t;

enum { PLAY, LEAVE_AFTER_ONE, EXPECT_FAIL_INIT, EXPECT_FAIL_ROUND };

/* A rank: joins and plays; 0 when everything went as the mode expects. */
static int rank_main(const void *arg)
{
	const job_t *j = arg;
	uint64_t t0 = now_ms();
	boot_t *b;
	int rc;

	for (int i = 0; j->env && i < 4; i++)
		putenv(j->env[i]);
	if (boot_init(&j->o, &b) != CVMM_OK)
		return j->mode == EXPECT_FAIL_INIT ? 0 : 2;
	if (j->mode == EXPECT_FAIL_INIT)
		return 3;
	if (strcmp(boot_method(b), j->method) != 0)
		return 4;
	if (j->mode == LEAVE_AFTER_ONE) {
		rc = check_round(b, 0);
		usleep(300 * 1000);
		_exit(rc); /* no boot_fini: the socket just closes */
	}
	if (j->mode == EXPECT_FAIL_ROUND) {
		rc = check_round(b, 0) == 0 && check_round(b, 1) == 0;
		/* the failure must come well before the client's own
		 * timeout plus grace */
		rc = rc || now_ms() - t0 > (uint64_t)j->o.timeout_ms + 900;
		boot_fini(b);
		return rc ? 5 : 0;
	}
	rc = play(b);
	if (j->no_fini)
		_exit(rc ? 6 : 0);
	boot_fini(b);
	return rc ? 6 : 0;
}

static job_t coord_job(int rank, int size, const char *addr, int mode)
{
	job_t j = { .o = { .rank = rank, .size = size, .coordinator = addr,
			   .cookie = COOKIE, .timeout_ms = 5000 },
		    .method = "coordinator", .mode = mode };
	return j;
}

/* ---- rank, size and cookie ---------------------------------------------- */

static void test_ident_options(void **state)
{
	boot_opts_t o = { .rank = 3, .size = 8 };
	int rank, size;

	setenv("OMPI_COMM_WORLD_RANK", "1", 1);
	setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
	assert_int_equal(boot_ident_detect(&o, &rank, &size), CVMM_OK);
	assert_int_equal(rank, 3);
	assert_int_equal(size, 8);
	/* only the rank given: the size comes from the environment */
	o.size = -1;
	o.rank = 0;
	assert_int_equal(boot_ident_detect(&o, &rank, &size), CVMM_OK);
	assert_int_equal(rank, 0);
	assert_int_equal(size, 2);
}

typedef struct env_case {
	const char *rank_var, *rank, *size_var, *size;
	int want_rank, want_size;
} env_case_t;

static void test_ident_env_forms(void **state)
{
	static const env_case_t cases[] = {
		{ "CVMM_BOOT_RANK", "2", "CVMM_BOOT_SIZE", "4", 2, 4 },
		{ "OMPI_COMM_WORLD_RANK", "5", "OMPI_COMM_WORLD_SIZE", "6", 5,
		  6 },
		{ "PMIX_RANK", "7", NULL, NULL, 7, -1 },
		{ "PMI_RANK", "0", "PMI_SIZE", "1", 0, 1 },
		{ "SLURM_PROCID", "9", "SLURM_NTASKS", "16", 9, 16 },
	};
	int rank, size;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const env_case_t *c = &cases[i];

		env_clear(NULL);
		setenv(c->rank_var, c->rank, 1);
		if (c->size_var)
			setenv(c->size_var, c->size, 1);
		assert_int_equal(boot_ident_detect(NULL, &rank, &size),
				 CVMM_OK);
		assert_int_equal(rank, c->want_rank);
		assert_int_equal(size, c->want_size);
	}
	/* our launcher's variables win over an outer mpirun's */
	env_clear(NULL);
	setenv("SLURM_PROCID", "0", 1);
	setenv("SLURM_NTASKS", "1", 1);
	setenv("CVMM_BOOT_RANK", "3", 1);
	setenv("CVMM_BOOT_SIZE", "4", 1);
	assert_int_equal(boot_ident_detect(NULL, &rank, &size), CVMM_OK);
	assert_int_equal(rank, 3);
	assert_int_equal(size, 4);
}

static void ident_bad(const char *rv, const char *r, const char *sv,
		      const char *s)
{
	int rank = 77, size = 77;

	env_clear(NULL);
	if (rv)
		setenv(rv, r, 1);
	if (sv)
		setenv(sv, s, 1);
	assert_int_equal(boot_ident_detect(NULL, &rank, &size),
			 CVMM_ERR_INVALID);
	assert_int_equal(rank, 77);
	assert_int_equal(size, 77);
}

static void test_ident_bad(void **state)
{
	boot_opts_t o = { .rank = 4, .size = 4 };
	boot_t *b;
	int rank, size;

	ident_bad(NULL, NULL, NULL, NULL);
	ident_bad("OMPI_COMM_WORLD_RANK", "4", "OMPI_COMM_WORLD_SIZE", "4");
	ident_bad("OMPI_COMM_WORLD_RANK", "1", NULL, NULL);
	ident_bad("PMI_RANK", "1x", "PMI_SIZE", "4");
	ident_bad("PMI_RANK", "-1", "PMI_SIZE", "4");
	ident_bad("SLURM_PROCID", "0", "SLURM_NTASKS", "0");
	ident_bad("SLURM_PROCID", "0", "SLURM_NTASKS", "99999999999");
	ident_bad("CVMM_BOOT_RANK", "0", "CVMM_BOOT_SIZE", "many");
	env_clear(NULL);
	assert_int_equal(boot_ident_detect(&o, &rank, &size),
			 CVMM_ERR_INVALID);
	/* boot_init refuses the same way */
	assert_int_equal(boot_init(NULL, &b), CVMM_ERR_INVALID);
}

static void test_cookie_parse(void **state)
{
	uint64_t c = 0;

	assert_int_equal(boot_cookie_parse(COOKIE, &c), CVMM_OK);
	assert_true(c == 0x0123456789abcdefull);
	assert_int_equal(boot_cookie_parse("FFFFFFFFFFFFFFFF", &c), CVMM_OK);
	assert_true(c == UINT64_MAX);
	assert_int_equal(boot_cookie_parse("0000000000000000", &c), CVMM_OK);
	assert_true(c == 0);
	c = 42;
	assert_int_equal(boot_cookie_parse("0123456789abcde", &c),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_cookie_parse("0123456789abcdef0", &c),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_cookie_parse("0x23456789abcdef", &c),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_cookie_parse("0123456789abcdeg", &c),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_cookie_parse(" 123456789abcdef", &c),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_cookie_parse("", &c), CVMM_ERR_INVALID);
	assert_int_equal(boot_cookie_parse(NULL, &c), CVMM_ERR_INVALID);
	assert_true(c == 42);
}

/* ---- method choice ------------------------------------------------------ */

static void test_init_self(void **state)
{
	boot_opts_t o = { .rank = 0, .size = 1 };
	const char msg[] = "only me";
	boot_t *b;
	void **all;
	size_t *lens;

	assert_int_equal(boot_init(&o, &b), CVMM_OK);
	assert_string_equal(boot_method(b), "self");
	assert_int_equal(boot_rank(b), 0);
	assert_int_equal(boot_size(b), 1);
	assert_int_equal(boot_allgather(b, msg, sizeof(msg), &all, &lens),
			 CVMM_OK);
	assert_int_equal(lens[0], sizeof(msg));
	assert_memory_equal(all[0], msg, sizeof(msg));
	boot_free_all(b, all, lens);
	assert_int_equal(boot_allgather(b, NULL, 0, &all, &lens), CVMM_OK);
	assert_int_equal(lens[0], 0);
	assert_non_null(all[0]);
	boot_free_all(b, all, lens);
	assert_int_equal(boot_allgather(b, msg, BOOT_WIRE_BLOB_MAX + 1, &all,
					&lens),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_barrier(b), CVMM_OK);
	boot_fini(b);

	/* the cookie given is the cookie used */
	setenv("CVMM_JOB_COOKIE", COOKIE, 1);
	assert_int_equal(boot_init(&o, &b), CVMM_OK);
	assert_true(boot_cookie(b) == 0x0123456789abcdefull);
	boot_fini(b);
}

static void test_init_refusals(void **state)
{
	boot_opts_t o = { .rank = 1, .size = 2, .timeout_ms = 300 };
	boot_t *b;

	/* two ranks and no way to meet */
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_INVALID);
	/* a coordinator needs a cookie */
	o.coordinator = "127.0.0.1:9";
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_INVALID);
	/* a malformed cookie */
	setenv("CVMM_JOB_COOKIE", "not-a-cookie", 1);
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_INVALID);
	/* bad coordinator addresses */
	setenv("CVMM_JOB_COOKIE", COOKIE, 1);
	o.rank = 0;
	o.coordinator = "127.0.0.1:0";
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_INVALID);
	o.coordinator = "127.0.0.1";
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_INVALID);
	o.coordinator = ":5000";
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_INVALID);
	/* PMIX_RANK alone: the size can only come from a PMIx server */
	env_clear(NULL);
	setenv("PMIX_RANK", "0", 1);
	assert_int_equal(boot_init(NULL, &b), CVMM_ERR_INVALID);
}

/* A rank that cannot reach rank 0 gives up after timeout_ms. */
static void test_init_no_coordinator(void **state)
{
	char addr[32];
	boot_opts_t o = { .rank = 1, .size = 2, .coordinator = addr,
			  .cookie = COOKIE, .timeout_ms = 400 };
	uint64_t t0 = now_ms();
	boot_t *b;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	assert_int_equal(boot_init(&o, &b), CVMM_ERR_TIMEOUT);
	assert_true(now_ms() - t0 >= 350);
	assert_true(now_ms() - t0 < 2000);
}

/* ---- the launcher ------------------------------------------------------- */

static void test_launcher(void **state)
{
	boot_launcher_t *l;
	char *env[4][4];
	job_t jobs[4];
	pid_t pids[4];
	char dir[256];
	struct stat st;

	assert_int_equal(boot_launcher_start(4, 5000, &l), CVMM_OK);
	for (int r = 0; r < 4; r++) {
		boot_launcher_env(l, r, env[r]);
		for (int i = 0; i < 4; i++)
			assert_non_null(env[r][i]);
	}
	assert_true(strncmp(env[0][0], "CVMM_BOOT_ADDR=unix:/", 21) == 0);
	snprintf(dir, sizeof(dir), "%s", env[0][0] + 20);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_string_equal(env[2][1], "CVMM_BOOT_RANK=2");
	assert_string_equal(env[2][2], "CVMM_BOOT_SIZE=4");
	assert_int_equal(strlen(env[2][3]), strlen("CVMM_JOB_COOKIE=") + 16);

	for (int r = 0; r < 4; r++) {
		jobs[r] = (job_t){ .o = { .rank = -1, .size = -1 },
				   .method = "launcher", .mode = PLAY,
				   .env = env[r] };
		pids[r] = spawn(rank_main, &jobs[r]);
	}
	for (int r = 0; r < 4; r++)
		assert_int_equal(reap(pids[r]), 0);
	boot_launcher_stop(l);
	assert_int_equal(stat(dir, &st), -1);
	for (int r = 0; r < 4; r++) {
		for (int i = 0; i < 4; i++)
			free(env[r][i]);
	}
}

/* ---- rank 0 as the coordinator ------------------------------------------ */

/* Ranks 1..size-1 first (they retry until rank 0 listens), then rank 0,
 * which with no_fini0 exits right after the last barrier. */
static void run_coord(const char *addr, int size, bool no_fini0)
{
	job_t jobs[MAX_KIDS];
	pid_t pids[MAX_KIDS];

	for (int r = size - 1; r >= 0; r--) {
		jobs[r] = coord_job(r, size, addr, PLAY);
		jobs[r].no_fini = r == 0 && no_fini0;
		if (r == 0)
			usleep(200 * 1000);
		pids[r] = spawn(rank_main, &jobs[r]);
	}
	for (int r = 0; r < size; r++)
		assert_int_equal(reap(pids[r]), 0);
}

static void test_coord_tcp(void **state)
{
	char addr[32];

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	run_coord(addr, 3, true);
}

static void test_coord_unix(void **state)
{
	char addr[64];
	struct stat st;

	snprintf(addr, sizeof(addr), "unix:/tmp/cvmm-test-boot.%d",
		 (int)getpid());
	run_coord(addr, 2, false);
	/* rank 0 removed its socket */
	assert_int_equal(stat(addr + 5, &st), -1);
}

/* Connects to 127.0.0.1:port, retrying while rank 0 starts. */
static int raw_connect(int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	int fd;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in.sin_port = htons((uint16_t)port);
	for (int i = 0; i < 100; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0)
			return fd;
		close(fd);
		usleep(20 * 1000);
	}
	fail_msg("rank 0 never listened on port %d", port);
	return -1;
}

/* Reads until EOF or 2 s; returns the bytes read, -1 on timeout. */
static ssize_t read_to_eof(int fd, void *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t k;

	while (poll(&p, 1, 2000) == 1) {
		k = read(fd, (char *)buf + got, n - got);
		if (k <= 0)
			return (ssize_t)got;
		got += (size_t)k;
	}
	return -1;
}

/* An impostor with the wrong cookie and a junk client are dropped before
 * the real ranks 1 and 2 arrive; the job then completes. */
static void test_coord_wrong_cookie(void **state)
{
	char addr[32], junk[48], buf[64];
	int port = free_port(), fd;
	job_t j0, bad, j1, j2;
	pid_t p0, pb, p1, p2;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	j0 = coord_job(0, 3, addr, PLAY);
	p0 = spawn(rank_main, &j0);
	bad = coord_job(1, 3, addr, EXPECT_FAIL_INIT);
	bad.o.cookie = WRONG_COOKIE;
	pb = spawn(rank_main, &bad);
	assert_int_equal(reap(pb), 0);

	fd = raw_connect(port);
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	assert_int_equal(read_to_eof(fd, buf, sizeof(buf)), 0);
	close(fd);

	j1 = coord_job(1, 3, addr, PLAY);
	j2 = coord_job(2, 3, addr, PLAY);
	p1 = spawn(rank_main, &j1);
	p2 = spawn(rank_main, &j2);
	assert_int_equal(reap(p0), 0);
	assert_int_equal(reap(p1), 0);
	assert_int_equal(reap(p2), 0);
}

/* ---- joining a running VM (boot_join_*) -------------------------------- */

typedef struct join_side {
	const char *addr;
	uint64_t cookie, epoch;
	int rc;
	char why[128];
} join_side_t;

/* The joiner: dials, sends a blob, reads node 0's answer or refusal. */
static void *joiner_main(void *arg)
{
	join_side_t *j = arg;
	void *blob = NULL;
	size_t len = 0;
	int fd;

	j->rc = boot_join_dial(j->addr, j->cookie, j->epoch, 5000, &fd);
	if (j->rc != CVMM_OK)
		return NULL;
	j->rc = boot_join_recv(fd, &blob, &len, 5000, j->why, sizeof(j->why));
	if (j->rc == CVMM_OK) {
		j->rc = len == 5 && !memcmp(blob, "slot!", 5) ? 0 : -100;
		free(blob);
		if (j->rc == 0)
			j->rc = boot_join_send(fd, "addr", 4, 5000);
	}
	close(fd);
	return NULL;
}

/* Node 0's join socket: a free port is chosen and said; a wrong cookie is
 * refused (the joiner reads the reason, never the cookie) and the next
 * connection accepted; the epoch the joiner expects arrives; blobs go
 * both ways; a refusal line reaches the joiner with its control bytes
 * made '?'; junk and silence are refused without blocking the next one. */
static void test_join_socket(void **state)
{
	char bound[96], peer[96];
	join_side_t bad = { .cookie = 1 }, good = { .cookie = 0xc00c1e, .epoch = 5 },
		    refused = { .cookie = 0xc00c1e };
	pthread_t t;
	uint64_t epoch = 0;
	void *blob = NULL;
	size_t len = 0;
	char why[64];
	int lfd, fd, raw, port;

	assert_int_equal(boot_join_listen("127.0.0.1:0", bound, sizeof(bound),
					  &lfd), CVMM_OK);
	assert_true(!strncmp(bound, "127.0.0.1:", 10));
	port = atoi(bound + 10);
	assert_true(port > 0);
	bad.addr = good.addr = refused.addr = bound;

	assert_int_equal(pthread_create(&t, NULL, joiner_main, &bad), 0);
	assert_int_equal(boot_join_accept(lfd, 0xc00c1e, 5000, &fd, &epoch,
					  peer, sizeof(peer)), CVMM_ERR_PEER);
	pthread_join(t, NULL);
	assert_int_equal(bad.rc, CVMM_ERR_PEER);
	assert_string_equal(bad.why, "wrong job cookie");

	/* junk, then a connection that says nothing */
	raw = raw_connect(port);
	assert_int_equal(write(raw, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	assert_int_equal(boot_join_accept(lfd, 0xc00c1e, 500, &fd, &epoch,
					  peer, sizeof(peer)), CVMM_ERR_PEER);
	close(raw);
	raw = raw_connect(port);
	assert_int_equal(boot_join_accept(lfd, 0xc00c1e, 200, &fd, &epoch,
					  peer, sizeof(peer)), CVMM_ERR_PEER);
	close(raw);

	assert_int_equal(pthread_create(&t, NULL, joiner_main, &good), 0);
	assert_int_equal(boot_join_accept(lfd, 0xc00c1e, 5000, &fd, &epoch,
					  peer, sizeof(peer)), CVMM_OK);
	assert_int_equal(epoch, 5);
	assert_int_equal(boot_join_send(fd, "slot!", 5, 5000), CVMM_OK);
	assert_int_equal(boot_join_recv(fd, &blob, &len, 5000, why,
					sizeof(why)), CVMM_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(blob, "addr", 4);
	free(blob);
	close(fd);
	pthread_join(t, NULL);
	assert_int_equal(good.rc, CVMM_OK);

	assert_int_equal(pthread_create(&t, NULL, joiner_main, &refused), 0);
	assert_int_equal(boot_join_accept(lfd, 0xc00c1e, 5000, &fd, &epoch,
					  peer, sizeof(peer)), CVMM_OK);
	assert_int_equal(epoch, 0);
	assert_int_equal(boot_join_refuse(fd, "no\nfree\x1bslot", 5000),
			 CVMM_OK);
	close(fd);
	pthread_join(t, NULL);
	assert_int_equal(refused.rc, CVMM_ERR_PEER);
	assert_string_equal(refused.why, "no?free?slot");
	close(lfd);

	/* nobody listens: the dial gives up within its timeout */
	good.rc = 0;
	assert_int_not_equal(boot_join_dial(bound, 1, 0, 300, &fd), CVMM_OK);
}

/* ---- the wire encoding ------------------------------------------------ */

/* Header, HELLO and ABORT: round trips, the bytes at their documented
 * offsets, and every length but the message's refused with *out untouched. */
static void test_wire_fixed(void **state)
{
	boot_wire_hello_t h = { .cookie = 0x0123456789abcdefull,
				.rank = 7,
				.size = 0x10000 }, ho;
	uint8_t raw[BOOT_WIRE_HDR_LEN + 4] = { 0 };
	boot_wire_hdr_t hdr, poison;
	boot_wire_abort_t a;

	boot_wire_hdr_pack(raw, BOOT_MSG_TABLE, 0x01020304u, 0xa0b0c0d0u);
	assert_memory_equal(raw, "CVBT", 4);
	assert_int_equal(wire_get_u16(raw + 4), BOOT_WIRE_VERSION);
	assert_int_equal(wire_get_u16(raw + 6), BOOT_MSG_TABLE);
	assert_memory_equal(raw + 8, "\x04\x03\x02\x01\xd0\xc0\xb0\xa0", 8);
	assert_int_equal(boot_wire_hdr_decode(raw, BOOT_WIRE_HDR_LEN, &hdr),
			 CVMM_OK);
	assert_int_equal(hdr.type, BOOT_MSG_TABLE);
	assert_int_equal(hdr.seq, 0x01020304u);
	assert_int_equal(hdr.len, 0xa0b0c0d0u);
	memset(&poison, 0xa5, sizeof(poison));
	for (size_t len = 0; len <= sizeof(raw); len++) {
		if (len == BOOT_WIRE_HDR_LEN)
			continue;
		hdr = poison;
		assert_int_equal(boot_wire_hdr_decode(raw, len, &hdr),
				 CVMM_ERR_INVALID);
		assert_memory_equal(&hdr, &poison, sizeof(hdr));
	}
	assert_int_equal(boot_wire_hdr_decode(NULL, BOOT_WIRE_HDR_LEN, &hdr),
			 CVMM_ERR_INVALID);
	/* a wrong magic or version is refused but still decoded, for logs */
	raw[4] = BOOT_WIRE_VERSION + 1;
	assert_int_equal(boot_wire_hdr_decode(raw, BOOT_WIRE_HDR_LEN, &hdr),
			 CVMM_ERR_INVALID);
	assert_int_equal(hdr.version, BOOT_WIRE_VERSION + 1);
	assert_int_equal(hdr.seq, 0x01020304u);
	raw[4] = BOOT_WIRE_VERSION;
	raw[0] = 'X';
	assert_int_equal(boot_wire_hdr_decode(raw, BOOT_WIRE_HDR_LEN, &hdr), CVMM_ERR_INVALID);

	boot_wire_hello_pack(raw, &h);
	assert_true(wire_get_u64(raw) == h.cookie);
	assert_int_equal(wire_get_u32(raw + 8), 7);
	assert_int_equal(wire_get_u32(raw + 12), 0x10000);
	assert_int_equal(boot_wire_hello_decode(raw, BOOT_WIRE_HELLO_LEN, &ho),
			 CVMM_OK);
	assert_memory_equal(&ho, &h, sizeof(h));
	memset(&ho, 0, sizeof(ho));
	assert_int_equal(boot_wire_hello_decode(raw, BOOT_WIRE_HELLO_LEN - 1,
						&ho),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_wire_hello_decode(raw, BOOT_WIRE_HELLO_LEN + 1,
						&ho),
			 CVMM_ERR_INVALID);
	assert_int_equal(ho.rank, 0);

	boot_wire_abort_pack(raw, BOOT_ABORT_DUP, UINT32_MAX);
	assert_memory_equal(raw, "\x03\0\0\0\xff\xff\xff\xff", 8);
	assert_int_equal(boot_wire_abort_decode(raw, BOOT_WIRE_ABORT_LEN, &a),
			 CVMM_OK);
	assert_int_equal(a.reason, BOOT_ABORT_DUP);
	assert_int_equal(a.rank, UINT32_MAX);
	a.rank = 5;
	assert_int_equal(boot_wire_abort_decode(raw, BOOT_WIRE_ABORT_LEN - 1,
						&a),
			 CVMM_ERR_INVALID);
	assert_int_equal(boot_wire_abort_decode(raw, BOOT_WIRE_ABORT_LEN + 1,
						&a),
			 CVMM_ERR_INVALID);
	assert_int_equal(a.rank, 5);
}

/* TABLE entries: written and read back; a cut entry or one over the blob
 * limit stops the reader. */
static void test_wire_entries(void **state)
{
	uint8_t buf[64];
	wire_w_t w = wire_w_init(buf, sizeof(buf));
	const uint8_t *blob;
	uint32_t len;
	wire_r_t r;

	boot_wire_entry_put(&w, "abc", 3);
	boot_wire_entry_put(&w, NULL, 0);
	boot_wire_entry_put(&w, "de", 2);
	assert_false(w.bad);
	assert_int_equal(w.len, 3 * BOOT_WIRE_ENTRY_HDR + 5);
	assert_memory_equal(buf, "\x03\0\0\0abc\0\0\0\0\x02\0\0\0de", 17);

	r = wire_r_init(buf, w.len);
	assert_true(boot_wire_entry_get(&r, &blob, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(blob, "abc", 3);
	assert_true(boot_wire_entry_get(&r, &blob, &len));
	assert_int_equal(len, 0);
	assert_true(boot_wire_entry_get(&r, &blob, &len));
	assert_memory_equal(blob, "de", 2);
	assert_true(wire_r_done(&r));
	assert_false(boot_wire_entry_get(&r, &blob, &len)); /* none left */

	/* every cut of the table fails somewhere, never reads past it */
	for (size_t cut = 0; cut < w.len; cut++) {
		bool ok = true;

		r = wire_r_init(buf, cut);
		for (int i = 0; i < 3 && ok; i++)
			ok = boot_wire_entry_get(&r, &blob, &len);
		assert_false(ok && wire_r_done(&r));
	}
	/* an entry longer than a blob may be is refused, outputs untouched */
	wire_put_u32(buf, BOOT_WIRE_BLOB_MAX + 1);
	r = wire_r_init(buf, sizeof(buf));
	len = 77;
	assert_false(boot_wire_entry_get(&r, &blob, &len));
	assert_true(r.bad);
	assert_int_equal(len, 77);
	/* a writer without room says so */
	w = wire_w_init(buf, 6);
	boot_wire_entry_put(&w, "abc", 3);
	assert_true(w.bad);
}

/* Rank 1 joins by hand and then sends an allgather header announcing more
 * than the blob limit: the server aborts the job naming rank 1. */
static void test_coord_bad_message(void **state)
{
	boot_wire_hello_t h = { .rank = 1, .size = 2 };
	uint8_t raw[16], ab[16 + 8];
	boot_wire_hdr_t hdr;
	boot_wire_abort_t a;
	char addr[32];
	int port = free_port(), fd;
	job_t j0;
	pid_t p0;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	j0 = coord_job(0, 2, addr, EXPECT_FAIL_ROUND);
	p0 = spawn(rank_main, &j0);
	fd = raw_connect(port);
	assert_int_equal(boot_cookie_parse(COOKIE, &h.cookie), CVMM_OK);
	boot_wire_hdr_pack(raw, BOOT_MSG_HELLO, 0, sizeof(h));
	assert_int_equal(write(fd, raw, 16), 16);
	boot_wire_hello_pack(raw, &h);
	assert_int_equal(write(fd, raw, 16), 16);
	assert_int_equal(read(fd, raw, 16), 16); /* WELCOME */
	assert_int_equal(boot_wire_hdr_decode(raw, BOOT_WIRE_HDR_LEN, &hdr), CVMM_OK);
	assert_int_equal(hdr.type, BOOT_MSG_WELCOME);

	boot_wire_hdr_pack(raw, BOOT_MSG_GATHER, 0, BOOT_WIRE_BLOB_MAX + 1);
	assert_int_equal(write(fd, raw, 16), 16);
	assert_int_equal(read_to_eof(fd, ab, sizeof(ab)), sizeof(ab));
	assert_int_equal(boot_wire_hdr_decode(ab, BOOT_WIRE_HDR_LEN, &hdr), CVMM_OK);
	assert_int_equal(hdr.type, BOOT_MSG_ABORT);
	boot_wire_abort_decode(ab + 16, BOOT_WIRE_ABORT_LEN, &a);
	assert_int_equal(a.reason, BOOT_ABORT_PROTO);
	assert_int_equal(a.rank, 1);
	close(fd);
	/* rank 0 saw its first allgather fail, quickly */
	assert_int_equal(reap(p0), 0);
}

/* Rank 2 leaves after the first allgather, while the others are in the
 * second: they fail at once instead of waiting for the timeout. */
static void test_coord_disconnect(void **state)
{
	char addr[32];
	job_t jobs[3];
	pid_t pids[3];

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	for (int r = 0; r < 3; r++) {
		jobs[r] = coord_job(r, 3, addr,
				    r == 2 ? LEAVE_AFTER_ONE :
					     EXPECT_FAIL_ROUND);
		jobs[r].o.timeout_ms = 2000;
		pids[r] = spawn(rank_main, &jobs[r]);
	}
	for (int r = 0; r < 3; r++)
		assert_int_equal(reap(pids[r]), 0);
}

/* Rank 2 of 3 never starts: ranks 0 and 1 fail with an error once the
 * round times out. */
static void test_coord_missing_rank(void **state)
{
	char addr[32];
	job_t jobs[2];
	pid_t pids[2];
	uint64_t t0 = now_ms();

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	for (int r = 0; r < 2; r++) {
		jobs[r] = coord_job(r, 3, addr, EXPECT_FAIL_ROUND);
		jobs[r].o.timeout_ms = 1000;
		pids[r] = spawn(rank_main, &jobs[r]);
	}
	for (int r = 0; r < 2; r++)
		assert_int_equal(reap(pids[r]), 0);
	assert_true(now_ms() - t0 < 3500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ident_options, env_clear),
		cmocka_unit_test_setup(test_ident_env_forms, env_clear),
		cmocka_unit_test_setup(test_ident_bad, env_clear),
		cmocka_unit_test_setup(test_cookie_parse, env_clear),
		cmocka_unit_test(test_wire_fixed),
		cmocka_unit_test(test_wire_entries),
		cmocka_unit_test_setup(test_init_self, env_clear),
		cmocka_unit_test_setup(test_init_refusals, env_clear),
		cmocka_unit_test_setup(test_init_no_coordinator, env_clear),
		cmocka_unit_test_setup(test_launcher, env_clear),
		cmocka_unit_test_setup(test_coord_tcp, env_clear),
		cmocka_unit_test_setup(test_coord_unix, env_clear),
		cmocka_unit_test_setup(test_coord_wrong_cookie, env_clear),
		cmocka_unit_test_setup(test_coord_bad_message, env_clear),
		cmocka_unit_test_setup(test_coord_disconnect, env_clear),
		cmocka_unit_test_setup(test_coord_missing_rank, env_clear),
		cmocka_unit_test_setup(test_join_socket, env_clear),
	};

	signal(SIGPIPE, SIG_IGN);
	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
