/* Landlock and no_new_privs for the threads that run guest code (confine.h).
 *
 * Rights handled are every file-system right the kernel's ABI knows, so
 * anything not granted below is refused: EXECUTE is granted nowhere (no
 * host program can be started, not even through the dynamic loader),
 * writes only inside --root and /dev/shm. */
#include "core/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

/* entry_asm.S: the SA_RESTORER stub, the region SUD lets through */
extern char cvmm_sigreturn_stub[], cvmm_sigreturn_stub_end[];

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

/* ---- the seccomp filter ---- */

#define NR_LOAD BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
			 offsetof(struct seccomp_data, nr))
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		 BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

cvmm_status_t confine_syscalls(void)
{
	/* the stub is 16-byte aligned and 9 bytes long: it never straddles
	 * a 4 GiB boundary, so one high word covers it */
	uint64_t lo = (uint64_t)cvmm_sigreturn_stub;
	uint64_t hi = (uint64_t)cvmm_sigreturn_stub_end + 2; /* the ud2 */
	struct sock_filter prog[] = {
		/* x86-64 only (the x32 ABI lives in the same number space) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		NR_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		/* the sigreturn stub: rt_sigreturn or death */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer) +
				 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(lo >> 32), 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 0, 4),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)hi, 3, 0),
		NR_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		NR_LOAD,
		/* clone: threads only; clone3's flags cannot be read here */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		DENY(SYS_execve), DENY(SYS_execveat), DENY(SYS_fork),
		DENY(SYS_vfork), DENY(SYS_ptrace), DENY(SYS_process_vm_readv),
		DENY(SYS_process_vm_writev), DENY(SYS_mount),
		DENY(SYS_umount2), DENY(SYS_pivot_root), DENY(SYS_chroot),
		DENY(SYS_open_tree), DENY(SYS_move_mount), DENY(SYS_fsopen),
		DENY(SYS_fsconfig), DENY(SYS_fsmount), DENY(SYS_fspick),
		DENY(SYS_mount_setattr), DENY(SYS_setns), DENY(SYS_unshare),
		DENY(SYS_kexec_load), DENY(SYS_kexec_file_load),
		DENY(SYS_init_module), DENY(SYS_finit_module),
		DENY(SYS_delete_module), DENY(SYS_bpf),
		DENY(SYS_perf_event_open), DENY(SYS_reboot), DENY(SYS_swapon),
		DENY(SYS_swapoff), DENY(SYS_acct), DENY(SYS_keyctl),
		DENY(SYS_add_key), DENY(SYS_request_key), DENY(SYS_iopl),
		DENY(SYS_ioperm), DENY(SYS_process_madvise),
		DENY(SYS_pidfd_getfd), DENY(SYS_userfaultfd),
		DENY(SYS_name_to_handle_at), DENY(SYS_open_by_handle_at),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};

	return confine_seccomp_install(prog, sizeof(prog) / sizeof(prog[0]),
				       "the agent's filter");
}

cvmm_status_t confine_seccomp_install(const struct sock_filter *prog,
				      unsigned short n, const char *what)
{
	struct sock_fprog fp = { .len = n,
				 .filter = (struct sock_filter *)prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &fp) != 0) {
		log_error("seccomp: cannot install %s: %m", what);
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}
