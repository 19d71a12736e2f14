/* int80: the 32-bit system call gate from a 64-bit guest.
 *
 *   int80 [x32]
 *
 * `int $0x80` with eax = 20 (getpid in the i386 table) and, with "x32",
 * `syscall` with eax = 39 | __X32_SYSCALL_BIT (getpid in the x32 ABI).
 * Natively (kernels with IA-32 emulation) the first returns the pid; the
 * x32 one ENOSYS on most kernels. cvmm runs x86-64 programs only: each
 * must end in ENOSYS for the guest (or the guest stopped with one line),
 * never run a host call nor be read as the x86-64 call of that number
 * (i386 20 is x86-64 writev). Prints "int80: pid|ERRNO". */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	long r;

	if (argc > 1 && !strcmp(argv[1], "x32"))
		__asm__ volatile("syscall"
				 : "=a"(r)
				 : "a"(39L | 0x40000000L)
				 : "rcx", "r11", "memory");
	else
		__asm__ volatile("int $0x80"
				 : "=a"(r)
				 : "a"(20L)
				 : "memory");
	if (r > 0)
		printf("%s: pid\n", argc > 1 ? argv[1] : "int80");
	else
		printf("%s: %s\n", argc > 1 ? argv[1] : "int80",
		       strerror((int)-r));
	return 0;
}
