/* The virtual machine on this node (vm_t), its vCPUs and its guest threads
 * (docs/design.md decision 7). Each guest thread is one host thread
 * ("vthread") assigned to a vCPU; a vCPU is a host PU the thread is pinned
 * to (hwloc) and a set of counters. The guest sees exactly vm.nvcpus CPUs.
 *
 * A vthread runs guest code natively with Syscall User Dispatch on: every
 * guest syscall raises SIGSYS, handled on the vthread's alternate stack by
 * entry.c, which finds the vthread from its stack pointer (the vthread sits at
 * the base of its aligned altstack block). */
#ifndef CVMM_CORE_VM_H
#define CVMM_CORE_VM_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <ucontext.h>

#include "common/clock.h"
#include "common/status.h"
#include "core/place.h"

#define VT_ALT_SIZE (256UL << 10) /* altstack block, power of two */
#define CVMM_MAX_VCPUS 1024

/* Per-vCPU time and counts, in nanoseconds. Updated by the vthreads assigned
 * to the vCPU with relaxed atomics. */
typedef struct vcpu_stats {
	uint64_t guest_ns;   /* running guest code */
	uint64_t sys_ns;     /* emulating system calls (minus idle) */
	uint64_t idle_ns;    /* blocked: futex waits, sleeps, blocking reads */
	uint64_t coherence_ns; /* serving coherence faults (paper: "Shmem") */
	uint64_t syscalls;
	uint64_t threads;    /* guest threads that ran here (a thread that
			      * moved between nodes counts on each vCPU) */
	uint64_t cpu_ns;     /* its guest threads' host threads on a CPU */
	uint64_t cpu_wait_ns; /* ready to run but waiting for a CPU (the host
			       * scheduler's run-queue delay): time-sharing
			       * with other vCPUs, threads or work */
} vcpu_stats_t;

typedef struct vcpu {
	int index;
	int host_pu;         /* hwloc PU os index, -1 when not pinned */
	unsigned nthreads;   /* live vthreads assigned here */
	vcpu_stats_t st;
} vcpu_t;

/* The largest extended-state image a guest_regs_t carries: the XSAVE
 * standard format of every user component x86-64 CPUs have (AVX-512 ends at
 * byte 2688, PKRU at 2696) except AMX tile data, which Linux gives a process
 * only on request and cvmm never requests. */
#define GUEST_XSAVE_MAX 4096

/* Guest register state for entering guest code (entry_asm.S layout; entry.c
 * asserts the offsets). fs and gs are the guest's FS and GS bases (gs 0:
 * the host thread keeps its own, which is 0 unless the guest set it on the
 * thread that created this one here). xsave holds the vector, mask and x87 registers: an
 * XSAVE standard-format image (512-byte legacy area, 64-byte header, the
 * components XSTATE_BV names) on a CPU with XSAVE, an FXSAVE image (512
 * bytes) without. xsave_len bytes of it are the guest's; 0 means none: the
 * thread starts with all of that state in its initial (zero) state, as a
 * new process does. A non-empty image is checked with entry_xsave_valid
 * before it is restored. */
typedef struct guest_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t rip, rflags, rsp;
	uint64_t fs, gs;
	uint32_t xsave_len;
	uint8_t xsave[GUEST_XSAVE_MAX] __attribute__((aligned(64)));
} guest_regs_t;

#define VT_MAGIC_GUEST 0x67756573u /* a guest thread's block */
#define VT_MAGIC_AGENT 0x6167656eu /* an agent thread's altstack block */

#define VT_MOVE_BALANCE 0x10000 /* vthread.ctl_move: the balancer's move */

/* The calling guest thread's last move failed (it may be one that cannot
 * move: no XSAVE image): a futex wait must not give up to move it, or it
 * would give up again at once. False on other threads. */
bool vm_current_cannot_move(void);

/* Whether this VM spans nodes (a blocking call may have to give up to
 * move: vm_call_interrupted), and whether it must now. */
bool vm_calls_may_move(void);
bool vm_call_interrupted(void);

/* A call's answer that makes its thread run it again at its syscall
 * instruction (the kernel's ERESTARTSYS; dfutex.h DFX_ERESTART): given
 * up so that the thread can move. Never reaches the guest. */
#define VM_ERESTART 512

/* The host signal that makes a guest thread in guest code take a trap
 * point (vm_thread_kick); a real-time signal glibc does not use. */
#define VM_SIG_KICK 40

/* The host signal that interrupts a call node 0 runs for a thread of a
 * drained node (node/svc_syscall.c); its handler has no SA_RESTART. */
#define VM_SIG_CANCEL 41

typedef struct vthread {
	volatile uint8_t selector; /* SUD selector: ALLOW in agent, BLOCK in guest */
	uint32_t magic;            /* VT_MAGIC_* */
	uint64_t agent_fs;         /* this host thread's own TLS base */
	uint64_t guest_fs;         /* tracked from arch_prctl and CLONE_SETTLS */
	int tid;                   /* virtual tid the guest sees */
	int vcpu;                  /* index into vm.vcpus */
	ucontext_t *uc;            /* trap context, valid inside a handler */
	uint64_t clear_tid;        /* CLONE_CHILD_CLEARTID / set_tid_address */
	uint64_t robust_list, robust_len;
	/* A sleep given up because this node is drained (VM_ERESTART):
	 * what was left of it (ns), for the same call at the same req when
	 * it runs again, here or where the thread goes (MIGRATE carries
	 * both; sys_time.c) */
	uint64_t sleep_req, sleep_left_ns;
	uint64_t sigmask;          /* virtual signal mask */
	uint64_t t_mark;           /* clock at the last guest entry/exit, ns */
	uint64_t idle_acc;         /* idle ns inside the current syscall */
	guest_regs_t start;        /* registers to start the thread with */
	sigjmp_buf exit_jmp;       /* back to the host thread's start routine */
	pthread_t host;
	bool confined_by_parent;   /* its creator was confined (confine.h) */
	bool left;                 /* moved to another node: its host thread
				    * ends without an exit (vm_thread_leave) */
	uint64_t start_rip;        /* where it started or arrived here */
	place_thread_t place;      /* placement record (place.h) */
	int ctl_move;              /* cvmm ctl migrate or the balancer: the
				    * node to move to at the next trap point
				    * + 1, 0: none, VT_MOVE_BALANCE set when
				    * the balancer asked (atomic: set by the
				    * node services) */
	int htid;                  /* its host thread's kernel tid */
	unsigned vcpu_gen;         /* vm.vcpu_gen when its vCPU was chosen */
	int pinned_pu;             /* the PU its host thread is pinned to */
	uint64_t cpu_run, cpu_wait; /* that thread's CPU and run-queue time
				     * when last read (vm_cpu_account) */
	uint64_t cpu_busy;         /* their growth over that reading */
	bool kickable;             /* vm_thread_kick may signal its host
				    * thread (under vm.lock) */
	bool move_failed;          /* a move of it was tried and failed */
	struct vthread *next;      /* vm.threads list */
} vthread_t;

typedef struct vm vm_t;

/* What the node layer (src/node) does for a VM that spans several agents.
 * It sets vm.nodes once the agents are connected; on one node vm.nodes is
 * NULL and core never calls into node code. These hooks are the only way
 * core reaches another node: core includes no node header. */
typedef struct vm_node_ops {
	/* Runs syscall nr of vt on node 0 (the table says where: sys.h) and
	 * returns its result. Called on nodes other than 0. */
	long (*syscall)(vthread_t *vt, unsigned long nr, const uint64_t a[6]);
	/* The node a new guest thread goes to (--placement). */
	int (*place)(void);
	/* Starts guest thread tid with regs on node target (not this one);
	 * the VM counts it as live before this returns. 0 or -errno. */
	long (*thread_start)(int target, int tid, const guest_regs_t *regs,
			     uint64_t clear_tid, uint64_t sigmask);
	/* Counts guest thread tid, which this node is about to start here
	 * (a clone, the main thread), as live in the VM before it runs.
	 * 0 or -errno (then it must not run). */
	long (*thread_count)(int tid);
	/* A guest thread of this node exited (last: it was this node's last
	 * live one). Node 0 ends the VM when no thread is left anywhere. */
	void (*thread_exited)(vm_t *vm, int tid, bool last);
	/* A trap point of vt (fault: a coherence fault just served with the
	 * page's bytes from node src, -1 none; else a syscall returning):
	 * the node vt should move to now, or -1 to stay here. Called on vt's
	 * own thread. */
	int (*move_where)(vthread_t *vt, bool fault, int src);
	/* Sends vt, whose state at the trap point is regs, to node target
	 * (not this one), where it goes on with the same tid; the VM's count
	 * of live threads does not change. 0: it runs there now and must end
	 * here without a trace; -errno: nothing was sent, it goes on here. */
	long (*thread_move)(int target, vthread_t *vt, const guest_regs_t *regs);
	/* On a guest thread in a blocking call: its node is drained and
	 * another can take it, so the call gives up (VM_ERESTART) to move.
	 * May be NULL. */
	bool (*interrupted)(void);
	/* This node's count of guest threads (vm.live) changed. */
	void (*load_changed)(vm_t *vm);
	/* Node 0 at the end, for --stats: every node's counters into vm. */
	void (*collect_stats)(vm_t *vm);
} vm_node_ops_t;

/* The virtual machine on this node. */
struct vm {
	int nvcpus;
	vcpu_t *vcpus;
	bool strict;
	bool pin;
	pthread_mutex_t lock;      /* threads list, vcpu assignment */
	vthread_t *threads;
	int next_tid;
	int pid;                   /* the guest's pid (the agent's) */
	volatile int exiting;      /* set once by the first exit_group */
	int exit_status;
	pthread_mutex_t exit_lock;
	int live;                  /* guest threads on this node (with several
				    * nodes node 0 counts the VM's: svc) */
	const char *exe_path;      /* guest path as given */
	const struct loader_image *image; /* for naming guest addresses */
	const char *stats_file;    /* --stats: NULL off, "-" stderr only */
	const char *ctl_path;      /* node 0's control socket, NULL: none */
	void (*on_exit)(int status); /* before the process exits (node.c) */
	uint64_t t_start;          /* ns */
	int node, nnodes;          /* this agent and the VM's agents */
	const vm_node_ops_t *nodes; /* NULL unless the VM spans nodes */
	bool same_host;            /* all agents on this machine (cvmm run -n) */
	uint16_t *vcpu_node;       /* the node hosting each vCPU (membership:
				    * vm_vcpus_rehost); relaxed atomics */
	unsigned vcpu_gen;         /* bumped by each rehost (atomic) */
};

extern vm_t cvmm_vm;

/* vm.c, called by entry.c with the agent's FS in place. in_guest: the
 * fault hit while the thread ran guest code (a guest crash, wherever the
 * guest had jumped), not agent code (an internal error). */
void vt_trap_syscall(vthread_t *vt, ucontext_t *uc);
void vt_trap_fault(vthread_t *vt, int sig, siginfo_t *si, ucontext_t *uc,
		   bool in_guest);

/* Monotonic clock in ns (vDSO, agent FS only). */

/* Sets up vCPUs and pinning. */
cvmm_status_t vm_init(vm_t *vm, int nvcpus, bool pin, bool strict);

/* Creates a guest thread that will start with *regs: assigns its tid and
 * vCPU (the least loaded) and, on a VM of several nodes, has the VM count
 * it (vm.nodes->thread_count). The caller writes tids the guest asked for,
 * then calls vm_thread_run. Returns NULL when out of memory or when it
 * cannot be counted. */
vthread_t *vm_thread_new(vm_t *vm, const guest_regs_t *regs);

/* As vm_thread_new for a thread that another node created or that moved
 * here, with the tid it has: the VM counted it already. */
vthread_t *vm_thread_new_tid(vm_t *vm, const guest_regs_t *regs, int tid);

/* The VM spans nnodes agents and this is node: vCPU i lives on node
 * i mod nnodes (until vm_vcpus_rehost), tids are unique across nodes, the
 * guest's pid is node 0's (pid0). Re-pins this node's vCPUs. */
void vm_set_nodes(vm_t *vm, int node, int nnodes, bool same_host, int pid0);

/* The node hosting vCPU i. */
static inline int vm_vcpu_node(const vm_t *vm, int i)
{
	if (vm->nnodes < 2)
		return 0;
	return vm->vcpu_node ? __atomic_load_n(&vm->vcpu_node[i],
					       __ATOMIC_RELAXED)
			     : i % vm->nnodes;
}

/* True when vCPU i is on this node. */
static inline bool vm_vcpu_local(const vm_t *vm, int i)
{
	return vm->nnodes < 2 || vm_vcpu_node(vm, i) == vm->node;
}

/* Membership changed (a node left or joined): hosts[i] is the node that
 * hosts vCPU i from now on (the same table on every node). Agents sharing
 * a machine re-pin all their vCPUs on their share of its cores; elsewhere
 * vCPUs that come here get the least used of this node's cores. The
 * guest threads here move to this node's vCPUs, spreading onto new ones,
 * and re-pin, at their next trap point. Returns how many vCPUs this node
 * hosts now. */
int vm_vcpus_rehost(vm_t *vm, const uint16_t *hosts);

/* No guest thread of this node runs guest code or a call that is not a
 * wait (every one waits in a call, or none is here). */
bool vm_guest_idle(void);

/* Starts vt on its own host thread. Returns 0 or -errno (vt is then freed).
 * Callable from a SIGSYS handler (agent FS). */
long vm_thread_run(vm_t *vm, vthread_t *vt);

/* Re-pins the calling guest thread to vCPU index (sched_setaffinity). */
void vm_thread_move(vm_t *vm, vthread_t *vt, int vcpu);

/* The guest threads of this node running guest code now, each kicked so
 * that it stops at a trap point when the node is paused (cvmm ctl pause
 * waits until no node has any). Takes vm.lock. */
int vm_in_guest(vm_t *vm);

/* Makes vt, which runs guest code now, take a trap point at once (a
 * signal to its host thread, VM_SIG_KICK): it moves there if its
 * ctl_move asks. Nothing when it is in agent code (a call or a fault): it
 * passes a trap point as that returns. The caller holds vm.lock. */
void vm_thread_kick(vm_t *vm, vthread_t *vt);

/* Adds to each live guest thread's vCPU (cpu_ns, cpu_wait_ns) what its host
 * thread ran and waited for a CPU since the last call, from the host
 * scheduler's /proc/self/task/TID/schedstat, and sets the threads'
 * cpu_busy to that growth. For --stats, the balancer, and each thread once
 * more as it ends here. Takes vm.lock. */
void vm_cpu_account(vm_t *vm);

/* Ends the VM with status (first caller wins) and reason (printed as one
 * "cvmm: ..." line when not NULL): writes the stats and exits the process.
 * A later caller parks until the process is gone. */
void vm_exit(vm_t *vm, int status, const char *reason)
	__attribute__((noreturn));

/* Ends the calling guest thread (exit syscall): clear_tid store and wake,
 * then back to its host start routine. */
void vm_thread_exit(vthread_t *vt) __attribute__((noreturn));

/* Parks the main thread until the VM ends (the process exits from
 * vm_exit). */
void vm_wait(vm_t *vm) __attribute__((noreturn));

/* Marks the start and end of a blocking wait inside a syscall, so the time is
 * counted as idle rather than syscall emulation. */
void vt_idle_begin(vthread_t *vt);
void vt_idle_end(vthread_t *vt);

#endif
