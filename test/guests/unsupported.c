/* unsupported: calls add_key(2) three times through syscall(2). Natively it
 * fails (EFAULT for the NULL type, or EPERM/ENOSYS under a seccomp filter); a
 * VMM that does not implement it must fail it too (-ENOSYS), name it once on
 * stderr, and keep running, or stop the VM under --strict. Prints only
 * whether each call failed, exits 0.
 *
 *   unsupported */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	for (int i = 0; i < 3; i++) {
		long r = syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);

		printf("add_key call %d failed: %s\n", i + 1,
		       r == -1 ? "yes" : "no");
	}
	printf("still running\n");
	return 0;
}
