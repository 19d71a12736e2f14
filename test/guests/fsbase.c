/* fsbase: where the CPU and kernel let user code write its FS base itself
 * (FSGSBASE, AT_HWCAP2 bit 1), the guest points FS at a block of its own
 * with wrfsbase, makes a system call that traps (uname, by a raw syscall
 * instruction: no libc, which reads TLS through FS) and reads the base
 * back: the VMM must give the guest its own base back, not the one it
 * last saw set with arch_prctl. Then it does the same with a second
 * block, and puts the libc's base back. Prints "not available" where
 * FSGSBASE is not. */
#include <stdint.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

static uint64_t block[2][64];

__attribute__((noinline, optimize("no-stack-protector")))
static int kept(uint64_t *b)
{
	struct utsname u;
	uint64_t old, now;
	long ret;

	__asm__ volatile("rdfsbase %0" : "=r"(old));
	b[0] = (uint64_t)b; /* the TCB's self pointer, as the ABI has it */
	__asm__ volatile("wrfsbase %0" : : "r"(b) : "memory");
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(SYS_uname), "D"(&u)
			 : "rcx", "r11", "memory");
	__asm__ volatile("rdfsbase %0" : "=r"(now));
	__asm__ volatile("wrfsbase %0" : : "r"(old) : "memory");
	return ret == 0 && now == (uint64_t)b;
}

int main(void)
{
	if (!(getauxval(AT_HWCAP2) & 2)) {
		printf("fsbase: FSGSBASE not available\n");
		return 0;
	}
	for (int i = 0; i < 2; i++)
		printf("fsbase: block %d kept across a system call: %s\n", i,
		       kept(block[i]) ? "yes" : "no");
	return 0;
}
