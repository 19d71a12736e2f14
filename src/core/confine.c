/* Landlock and no_new_privs for the threads that run guest code (confine.h).
 *
 * Rights handled are every file-system right the kernel's ABI knows, so
 * anything not granted below is refused: EXECUTE is granted nowhere (no
 * host program can be started, not even through the dynamic loader),
 * writes only inside --root and /dev/shm. */
#include "core/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

/* Rights newer than Debian 12's header. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* What a file (not a directory) rule may carry. */
#define FS_FILE_RIGHTS                                                      \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |       \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |       \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

static int ruleset = -1;
static uint64_t handled;
static __thread bool confined;

int confine_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

/* Every file-system right ABI abi knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

/* Grants rights beneath path (a directory, or a file: then only the file
 * rights apply). A path that does not exist is skipped (false); other
 * failures are logged. */
static bool rule_add(const char *path, uint64_t rights)
{
	struct landlock_path_beneath_attr pb = { 0 };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		rights &= FS_FILE_RIGHTS;
	pb.allowed_access = rights & handled;
	pb.parent_fd = fd;
	ok = syscall(SYS_landlock_add_rule, ruleset,
		     LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == 0;
	if (!ok)
		log_warn("landlock rule for %s: %m", path);
	close(fd);
	return ok;
}

cvmm_status_t confine_init(const char *root, const char *exe)
{
	static const char *const libs[] = {
		"/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
		"/etc/ld.so.cache", "/etc/ucx", "/usr/share/ucx",
	};
	static const char *const devs[] = {
		"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom",
	};
	struct landlock_ruleset_attr attr = { 0 };
	int abi = confine_landlock_abi();

	if (abi < 1) {
		log_warn("this kernel has no landlock: guest threads run "
			 "unconfined (see cvmm info)");
		return CVMM_OK;
	}
	handled = fs_rights(abi);
	attr.handled_access_fs = handled;
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
			       sizeof(attr), 0);
	if (ruleset < 0) {
		log_error("landlock: cannot create a rule set: %m");
		return CVMM_ERR_IO;
	}
	if (!rule_add(root, handled & ~(uint64_t)(LANDLOCK_ACCESS_FS_EXECUTE |
						   LANDLOCK_ACCESS_FS_MAKE_CHAR |
						   LANDLOCK_ACCESS_FS_MAKE_BLOCK))) {
		log_error("landlock: cannot grant the guest root %s", root);
		close(ruleset);
		ruleset = -1;
		return CVMM_ERR_IO;
	}
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		rule_add(libs[i], FS_READ);
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
		rule_add(devs[i], LANDLOCK_ACCESS_FS_READ_FILE |
					  LANDLOCK_ACCESS_FS_WRITE_FILE);
	rule_add("/proc/self", FS_READ);
	if (exe)
		rule_add(exe, LANDLOCK_ACCESS_FS_READ_FILE);
	rule_add("/dev/shm", handled & ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE);
	log_debug("landlock abi %d: guest threads confined to %s", abi, root);
	return CVMM_OK;
}

cvmm_status_t confine_thread(bool inherited)
{
	if (ruleset < 0 || confined)
		return CVMM_OK;
	if (!inherited &&
	    (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	     syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)) {
		log_error("landlock: cannot confine a guest thread: %m");
		return CVMM_ERR_IO;
	}
	confined = true;
	return CVMM_OK;
}

bool confine_thread_confined(void)
{
	return ruleset < 0 || confined;
}
