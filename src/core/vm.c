/* The VM on this node: vCPU placement and pinning, the host thread that
 * runs a guest thread, the C side of the trap path, and VM shutdown. */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/confine.h"
#include "core/entry.h"
#include "core/futex.h"
#include "core/gmem.h"
#include "core/insn.h"
#include "core/loader.h"
#include "core/place.h"
#include "core/stats.h"
#include "core/sud.h"
#include "core/sys/sys.h"

vm_t cvmm_vm;

static hwloc_topology_t topo;
static vthread_t *free_blocks; /* exited threads' blocks, for reuse */

/* Guest threads of this node not waiting in a call (vt_idle_*). When the
 * last one starts to wait, the pages this node holds for them (the
 * coherence holding window) are let go: nobody here will touch them. */
static int vm_running;

static void vt_pause_point(vthread_t *vt);
static __thread vthread_t *cur_vt; /* the guest thread this host thread runs */

bool vm_current_cannot_move(void)
{
	return cur_vt && cur_vt->move_failed;
}

bool vm_calls_may_move(void)
{
	return cvmm_vm.nodes && cvmm_vm.nodes->interrupted;
}

bool vm_call_interrupted(void)
{
	return vm_calls_may_move() && cvmm_vm.nodes->interrupted();
}

bool vm_guest_idle(void)
{
	return __atomic_load_n(&vm_running, __ATOMIC_ACQUIRE) == 0;
}

static void vm_running_less(void)
{
	if (__atomic_sub_fetch(&vm_running, 1, __ATOMIC_ACQ_REL) == 0)
		coh_rt_idle();
}

/* The host topology pinning needs: cores and their PUs, nothing else.
 *
 * hwloc dlopens every plugin of its plugin directory at the process's
 * first hwloc_topology_init: on Debian the I/O ones (gl, opencl, pci) and
 * libxml2 XML, with libX11, libOpenCL, libpciaccess and libicu behind them.
 * That was 6 of the 18 ms of a one-node "cvmm run" on the 2-core VM, for
 * objects pinning never looks at. An empty plugin path loads none (the
 * CPU and memory discovery, linux and x86, is built into libhwloc); a
 * path the user set is kept. The variable is gone again before the guest's
 * environment is made. The x86 backend adds nothing to the cores and PUs
 * the linux backend reads from sysfs, but binds this thread to every PU in
 * turn to run cpuid there (a VM exit each); caches, groups and the rest
 * are not kept. Measured in docs/performance.md ("Start-up"). */
static hwloc_topology_t vm_topology_load(void)
{
	bool path_set = getenv("HWLOC_PLUGINS_PATH") != NULL;
	hwloc_topology_t t;
	int err;

	if (!path_set)
		setenv("HWLOC_PLUGINS_PATH", "", 1);
	err = hwloc_topology_init(&t);
	if (!path_set)
		unsetenv("HWLOC_PLUGINS_PATH");
	if (err != 0)
		return NULL;
	hwloc_topology_set_components(
		t, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
	hwloc_topology_set_all_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	hwloc_topology_set_type_filter(t, HWLOC_OBJ_CORE,
				       HWLOC_TYPE_FILTER_KEEP_ALL);
	if (hwloc_topology_load(t) != 0) {
		hwloc_topology_destroy(t);
		return NULL;
	}
	return t;
}

/* The first PU of core c (os index), -1 none. */
static int vm_core_pu(int c)
{
	hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE,
						 (unsigned)c);
	hwloc_obj_t pu = core ? hwloc_get_obj_inside_cpuset_by_type(
					topo, core->cpuset, HWLOC_OBJ_PU, 0)
			      : NULL;

	return pu ? (int)pu->os_index : -1;
}

/* Spreads this node's vCPUs over the host's PUs, one core after another;
 * agents sharing a machine start at different cores. */
static void vm_place_vcpus(vm_t *vm)
{
	int npu, j = 0;

	for (int i = 0; i < vm->nvcpus; i++)
		vm->vcpus[i].host_pu = -1;
	if (!vm->pin)
		return;
	if (!topo)
		topo = vm_topology_load();
	if (!topo)
		return;
	npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	for (int i = 0; i < vm->nvcpus && npu > 0; i++) {
		if (!vm_vcpu_local(vm, i))
			continue;
		int c = (j++ + (vm->same_host ? vm->node : 0)) % npu;

		vm->vcpus[i].host_pu = vm_core_pu(c);
	}
}

/* A vCPU come to this node, the only agent on its machine: the core
 * fewest of its vCPUs use (the lowest of equals); -1 unpinned. */
static int vm_place_one(const vm_t *vm)
{
	int npu, best = -1, best_n = 0;

	if (!vm->pin || !topo)
		return -1;
	npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	for (int c = 0; c < npu; c++) {
		int pu = vm_core_pu(c), n = 0;

		for (int i = 0; i < vm->nvcpus; i++)
			n += vm_vcpu_local(vm, i) && vm->vcpus[i].host_pu == pu;
		if (pu >= 0 && (best < 0 || n < best_n)) {
			best = pu;
			best_n = n;
		}
	}
	return best;
}

/* Agents sharing this machine (cvmm run -n) split its cores among the
 * nodes in (the nodes hosting a vCPU), so that one agent's threads do not
 * time-share a core with another's while a core of their own idles: this
 * node's share is [*c0, *c0 + *nc); with more nodes than cores, one core
 * each, round robin. */
static void vm_share(const vm_t *vm, const uint16_t *hosts, int npu, int *c0,
		     int *nc)
{
	int in = 0, rank = 0;

	for (int k = 0; k < vm->nnodes; k++) {
		bool hosts_one = false;

		for (int i = 0; i < vm->nvcpus && !hosts_one; i++)
			hosts_one = hosts[i] == k;
		if (hosts_one && k < vm->node)
			rank++;
		in += hosts_one;
	}
	if (in <= npu) {
		*c0 = rank * npu / in;
		*nc = (rank + 1) * npu / in - *c0;
	} else {
		*c0 = rank % npu;
		*nc = 1;
	}
}

int vm_vcpus_rehost(vm_t *vm, const uint16_t *hosts)
{
	int here = 0, npu, c0 = 0, nc = 0, j = 0;

	if (vm->nnodes < 2 || !vm->vcpu_node)
		return vm->nvcpus;
	npu = vm->pin && topo ? hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE)
			      : 0;
	if (npu > 0 && vm->same_host)
		vm_share(vm, hosts, npu, &c0, &nc);
	pthread_mutex_lock(&vm->lock);
	for (int i = 0; i < vm->nvcpus; i++) { /* the table, then the cores */
		bool was = vm_vcpu_local(vm, i);

		__atomic_store_n(&vm->vcpu_node[i], hosts[i], __ATOMIC_RELAXED);
		if (!vm_vcpu_local(vm, i) || !was)
			vm->vcpus[i].host_pu = -2; /* -2: to place */
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		if (!vm_vcpu_local(vm, i))
			vm->vcpus[i].host_pu = -1;
		else if (nc > 0) /* this machine's share, all re-placed */
			vm->vcpus[i].host_pu = vm_core_pu(c0 + j++ % nc);
		else if (vm->vcpus[i].host_pu == -2)
			vm->vcpus[i].host_pu = vm_place_one(vm);
		here += vm_vcpu_local(vm, i);
	}
	__atomic_add_fetch(&vm->vcpu_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->lock);
	return here;
}

void vm_set_nodes(vm_t *vm, int node, int nnodes, bool same_host, int pid0)
{
	vm->node = node;
	vm->nnodes = nnodes;
	vm->same_host = same_host;
	vm->pid = pid0;
	vm->next_tid = node == 0 ? pid0 : pid0 + (node << 20);
	if (node != 0)
		vm->stats_file = NULL; /* node 0 reports for the VM */
	if (!vm->vcpu_node)
		vm->vcpu_node = calloc((size_t)vm->nvcpus,
				       sizeof(*vm->vcpu_node));
	for (int i = 0; vm->vcpu_node && i < vm->nvcpus; i++)
		vm->vcpu_node[i] = (uint16_t)(i % nnodes);
	vm_place_vcpus(vm);
}

cvmm_status_t vm_init(vm_t *vm, int nvcpus, bool pin, bool strict)
{
	if (nvcpus < 1 || nvcpus > CVMM_MAX_VCPUS) {
		log_error("bad vcpu count %d (1..%d)", nvcpus, CVMM_MAX_VCPUS);
		return CVMM_ERR_INVALID;
	}
	vm->nvcpus = nvcpus;
	vm->pin = pin;
	vm->strict = strict;
	vm->vcpus = calloc((size_t)nvcpus, sizeof(vcpu_t));
	if (!vm->vcpus)
		return CVMM_ERR_NOMEM;
	for (int i = 0; i < nvcpus; i++)
		vm->vcpus[i].index = i;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->exit_lock, NULL);
	vm->pid = getpid();
	vm->next_tid = vm->pid;
	vm->t_start = cvmm_now_ns();
	vm_place_vcpus(vm);
	return CVMM_OK;
}

static void vm_pin_self(const vm_t *vm, int vcpu)
{
	hwloc_bitmap_t set;
	int pu = vm->vcpus[vcpu].host_pu;

	if (cur_vt)
		cur_vt->pinned_pu = pu;
	if (!topo || pu < 0)
		return;
	set = hwloc_bitmap_alloc();
	hwloc_bitmap_only(set, (unsigned)pu);
	if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0)
		log_debug("pinning vcpu %d to pu %d: %m", vcpu, pu);
	hwloc_bitmap_free(set);
}

void vm_thread_move(vm_t *vm, vthread_t *vt, int vcpu)
{
	pthread_mutex_lock(&vm->lock);
	vm->vcpus[vt->vcpu].nthreads--;
	vm->vcpus[vcpu].nthreads++;
	vt->vcpu = vcpu;
	pthread_mutex_unlock(&vm->lock);
	vm_pin_self(vm, vcpu);
}

static int vm_pick_vcpu(const vm_t *vm)
{
	int best = -1;

	for (int i = 0; i < vm->nvcpus; i++)
		if (vm_vcpu_local(vm, i) &&
		    (best < 0 || vm->vcpus[i].nthreads <
					 vm->vcpus[best].nthreads))
			best = i;
	return best < 0 ? 0 : best;
}

/* vt's trap point after a rehost: off a vCPU no longer here, or onto an
 * idler one of this node's (two threads fewer), as a new thread would be
 * placed. */
static void vm_vcpu_recheck(vm_t *vm, vthread_t *vt)
{
	unsigned gen = __atomic_load_n(&vm->vcpu_gen, __ATOMIC_ACQUIRE);
	int to;

	if (vt->vcpu_gen == gen)
		return;
	vt->vcpu_gen = gen;
	pthread_mutex_lock(&vm->lock);
	to = vm_pick_vcpu(vm);
	if (to == vt->vcpu || (vm_vcpu_local(vm, vt->vcpu) &&
			       vm->vcpus[to].nthreads + 2 >
				       vm->vcpus[vt->vcpu].nthreads))
		to = -1;
	pthread_mutex_unlock(&vm->lock);
	if (to >= 0)
		vm_thread_move(vm, vt, to);
	else if (vt->pinned_pu != vm->vcpus[vt->vcpu].host_pu)
		vm_pin_self(vm, vt->vcpu); /* its vCPU has another core now */
}

static bool vm_thread_forget(vm_t *vm, vthread_t *vt);

/* The VM counts a thread once, where it is created (vm_node_ops_t
 * thread_count, thread_start), and forgets it once, where it exits: a
 * thread that arrives from another node (vm_thread_new_tid) or leaves for
 * one was counted already. */
vthread_t *vm_thread_new(vm_t *vm, const guest_regs_t *regs)
{
	vthread_t *vt = vm_thread_new_tid(vm, regs, 0);

	if (vt && vm->nodes && vm->nodes->thread_count(vt->tid) != 0) {
		vm_thread_forget(vm, vt);
		return NULL;
	}
	return vt;
}

vthread_t *vm_thread_new_tid(vm_t *vm, const guest_regs_t *regs, int tid)
{
	vthread_t *vt;

	pthread_mutex_lock(&vm->lock);
	vt = free_blocks;
	if (vt)
		free_blocks = vt->next;
	pthread_mutex_unlock(&vm->lock);
	if (!vt)
		vt = entry_block_alloc();
	if (!vt)
		return NULL;
	memset(vt, 0, sizeof(*vt));
	vt->magic = VT_MAGIC_GUEST;
	memcpy(&vt->start, regs, sizeof(vt->start)); /* regs may be unaligned */
	vt->guest_fs = regs->fs;
	vt->start_rip = regs->rip;
	place_start(&vt->place, cvmm_now_ns());
	pthread_mutex_lock(&vm->lock);
	vt->tid = tid ? tid : vm->next_tid++;
	vt->vcpu = vm_pick_vcpu(vm);
	vt->vcpu_gen = __atomic_load_n(&vm->vcpu_gen, __ATOMIC_RELAXED);
	vm->vcpus[vt->vcpu].nthreads++;
	vm->vcpus[vt->vcpu].st.threads++;
	vt->next = vm->threads;
	vm->threads = vt;
	vm->live++;
	pthread_mutex_unlock(&vm->lock);
	return vt;
}

/* Unlinks vt; returns true when it was the last live guest thread. */
static bool vm_thread_forget(vm_t *vm, vthread_t *vt)
{
	bool last;

	pthread_mutex_lock(&vm->lock);
	for (vthread_t **pp = &vm->threads; *pp; pp = &(*pp)->next) {
		if (*pp == vt) {
			*pp = vt->next;
			break;
		}
	}
	vm->vcpus[vt->vcpu].nthreads--;
	last = --vm->live == 0;
	vt->magic = 0;
	vt->next = free_blocks;
	free_blocks = vt;
	pthread_mutex_unlock(&vm->lock);
	return last;
}

/* A host thread's CPU and run-queue ns so far; false when it is gone. */
static bool schedstat(int htid, uint64_t *run, uint64_t *wait)
{
	char path[64], buf[96];
	unsigned long long r, w;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", htid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &r, &w) != 2)
		return false;
	*run = r;
	*wait = w;
	return true;
}

static void cpu_account_locked(vm_t *vm, vthread_t *vt)
{
	int htid = __atomic_load_n(&vt->htid, __ATOMIC_ACQUIRE);
	vcpu_stats_t *st = &vm->vcpus[vt->vcpu].st;
	uint64_t run, wait;

	if (htid <= 0 || !schedstat(htid, &run, &wait))
		return;
	if (run < vt->cpu_run || wait < vt->cpu_wait)
		return; /* not this thread's counters: keep the old ones */
	vt->cpu_busy = (run - vt->cpu_run) + (wait - vt->cpu_wait);
	__atomic_fetch_add(&st->cpu_ns, run - vt->cpu_run, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st->cpu_wait_ns, wait - vt->cpu_wait,
			   __ATOMIC_RELAXED);
	vt->cpu_run = run;
	vt->cpu_wait = wait;
}

void vm_cpu_account(vm_t *vm)
{
	pthread_mutex_lock(&vm->lock);
	for (vthread_t *vt = vm->threads; vt; vt = vt->next)
		cpu_account_locked(vm, vt);
	pthread_mutex_unlock(&vm->lock);
}

static void *vt_main(void *arg)
{
	vthread_t *vt = arg;
	vm_t *vm = &cvmm_vm;
	sigset_t set;
	bool last, left;
	int tid;

	vt->agent_fs = (uint64_t)pthread_self();
	cur_vt = vt;
	__atomic_store_n(&vt->htid, (int)syscall(SYS_gettid),
			 __ATOMIC_RELEASE);
	vm_pin_self(vm, vt->vcpu);
	if (confine_thread(vt->confined_by_parent) != CVMM_OK)
		vm_exit(vm, 1, "cannot confine a guest thread");
	if (entry_thread_init(vt) != CVMM_OK)
		vm_exit(vm, 1, "cannot start a guest thread");
	pthread_mutex_lock(&vm->lock);
	vt->kickable = true; /* its altstack is up */
	pthread_mutex_unlock(&vm->lock);
	/* Created from a SIGSYS handler: SIGSYS and faults arrive blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigaddset(&set, SIGSEGV);
	sigaddset(&set, SIGBUS);
	sigaddset(&set, SIGILL);
	sigaddset(&set, SIGFPE);
	sigaddset(&set, SIGTRAP);
	sigaddset(&set, VM_SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* and no signal whose handler would run on guest code's FS and
	 * stack: the agent's SIGTERM (a node asked to leave) goes to its
	 * own threads, whichever thread created this one */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	vt->t_mark = cvmm_now_ns();
	__atomic_add_fetch(&vm_running, 1, __ATOMIC_ACQ_REL);
	vt_pause_point(vt); /* created or arrived while paused */
	/* started or arrived here: sees what its creator or its last node
	 * released (the release memory model) */
	coh_rt_sync_acquire();
	if (sigsetjmp(vt->exit_jmp, 0) == 0)
		entry_enter(vt);
	vm_running_less();
	/* no kick from here on (one already sent stays pending, blocked,
	 * and dies with the thread): its altstack goes */
	sigemptyset(&set);
	sigaddset(&set, VM_SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_mutex_lock(&vm->lock);
	vt->kickable = false;
	cpu_account_locked(vm, vt); /* its last CPU time, before it leaves */
	pthread_mutex_unlock(&vm->lock);
	entry_thread_fini(vt);
	tid = vt->tid;
	left = vt->left;
	last = vm_thread_forget(vm, vt);
	if (vm->nodes)
		vm->nodes->load_changed(vm);
	if (left)
		return NULL; /* it runs on another node now */
	if (vm->nodes)
		vm->nodes->thread_exited(vm, tid, last);
	else if (last)
		vm_exit(vm, 0, NULL);
	return NULL;
}

long vm_thread_run(vm_t *vm, vthread_t *vt)
{
	pthread_attr_t attr;
	int err;

	/* a thread inherits its creator's confinement, but cannot tell */
	vt->confined_by_parent = confine_thread_confined();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	err = pthread_create(&vt->host, &attr, vt_main, vt);
	pthread_attr_destroy(&attr);
	if (err) {
		int tid = vt->tid;
		bool last;

		log_warn("cannot start guest thread %d: %s", tid,
			 strerror(err));
		last = vm_thread_forget(vm, vt);
		/* the VM counted it: it exits without having run */
		if (vm->nodes)
			vm->nodes->thread_exited(vm, tid, last);
		return -EAGAIN;
	}
	if (vm->nodes)
		vm->nodes->load_changed(vm);
	return 0;
}

static void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* cvmm ctl pause (coh_rt_pause): a guest thread that reaches a trap point
 * or starts while its node is paused waits here, as idle as in a call;
 * the pause counts as idle time, not as guest or call time. */
static void vt_pause_point(vthread_t *vt)
{
	uint64_t t0, t1;

	if (!coh_rt_paused())
		return;
	t0 = cvmm_now_ns();
	vm_running_less();
	coh_rt_pause_wait();
	__atomic_add_fetch(&vm_running, 1, __ATOMIC_ACQ_REL);
	t1 = cvmm_now_ns();
	stat_add(&cvmm_vm.vcpus[vt->vcpu].st.idle_ns, t1 - t0);
	vt->t_mark += t1 - t0;
}

int vm_in_guest(vm_t *vm)
{
	int n = 0;

	pthread_mutex_lock(&vm->lock);
	for (vthread_t *vt = vm->threads; vt; vt = vt->next)
		if (vt->kickable &&
		    __atomic_load_n(&vt->selector, __ATOMIC_ACQUIRE) ==
			    SYSCALL_DISPATCH_FILTER_BLOCK) {
			vm_thread_kick(vm, vt);
			n++;
		}
	pthread_mutex_unlock(&vm->lock);
	return n;
}

void vt_idle_begin(vthread_t *vt)
{
	vt->t_mark = cvmm_now_ns();
	vm_running_less();
}

void vt_idle_end(vthread_t *vt)
{
	__atomic_add_fetch(&vm_running, 1, __ATOMIC_ACQ_REL);
	vt->idle_acc += cvmm_now_ns() - vt->t_mark;
}

/* Moves vt, trapped with context uc, to node target (vm_node_ops_t
 * thread_move): its registers exactly as uc holds them (at a syscall rax
 * is the call's result and rcx, r11 what the syscall instruction left; at
 * a fault rip is the faulting instruction, which runs again there), its FS
 * and GS bases and its XSAVE image. Its pins go first: nobody would drop
 * them after this host thread. On success the host thread ends here
 * through exit_jmp with vt->left set: no clear_tid store, no exit report.
 * Returns (vt goes on here) when the image cannot be carried or the send
 * failed. The time it takes is charged to *bucket, a counter of vt's
 * vCPU. */
static void vm_thread_leave(vthread_t *vt, ucontext_t *uc, int target,
			    uint64_t *bucket)
{
	guest_regs_t *r = &vt->start; /* consumed at the start: free now */
	uint64_t t0 = cvmm_now_ns(), t1, gs = 0;
	long ret = -EINVAL;

	entry_regs_from_frame(uc, r);
	r->fs = vt->guest_fs;
	/* the agent never sets GS: the thread's is the guest's */
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
	r->gs = gs;
	/* else its vector registers or a GS base a 5-level-paging host let
	 * it set would be lost (decoders take 4-level user addresses only) */
	if (r->xsave_len && r->gs < GMEM_TASK_SIZE) {
		coh_rt_release();
		coh_rt_sync_release(); /* its writes go with it */
		ret = cvmm_vm.nodes->thread_move(target, vt, r);
	}
	t1 = cvmm_now_ns();
	__atomic_fetch_add(bucket, t1 - t0, __ATOMIC_RELAXED);
	vt->t_mark = t1;
	if (ret != 0) {
		vt->move_failed = true;
		return;
	}
	vt->left = true;
	siglongjmp(vt->exit_jmp, 1);
}

/* A trap point of vt (a syscall returning, fault false; a coherence fault
 * served with bytes from node src, fault true): the only places a thread
 * moves between nodes, so it never moves in the middle of a call (a futex
 * wait included) or with agent code on its stack. *bucket: the vCPU time
 * counter of this trap.
 *
 * A thread that moved at a fault starts over at the faulting instruction,
 * which takes its pages back from the node it left. Were it to move again
 * at a fault of that same instruction, two nodes could take an
 * instruction's pages (two of them: a stack and a data page, or an access
 * across a page boundary) from each other for ever and the instruction
 * would never run. So at a fault it moves only once it has run something
 * here: its rip is no longer the one it started or arrived with. A syscall
 * that returns has run. */
static void vt_trap_point(vthread_t *vt, ucontext_t *uc, bool fault, int src,
			  uint64_t *bucket)
{
	const vm_node_ops_t *nodes = cvmm_vm.nodes;
	int target;

	vt_pause_point(vt);
	if (!nodes || cvmm_vm.exiting)
		return;
	vm_vcpu_recheck(&cvmm_vm, vt);
	target = nodes->move_where(vt, fault, src);
	if (fault && (uint64_t)uc->uc_mcontext.gregs[REG_RIP] == vt->start_rip)
		return;
	if (target >= 0 && target < cvmm_vm.nnodes && target != cvmm_vm.node)
		vm_thread_leave(vt, uc, target, bucket);
}

/* A call given up so that its thread can move (a futex wait on a node
 * being drained): the thread goes back to its syscall instruction with
 * the call's number and runs the call again where it goes next (its trap
 * point right after this moves it). Only after a syscall instruction (0f
 * 05 before rip, read through the agent view); else EINTR. */
static void vt_restart(greg_t *g, unsigned long nr)
{
	uint64_t rip = (uint64_t)g[REG_RIP];
	const uint8_t *insn;

	if (rip < GMEM_LO + 2 || rip > GMEM_HI) {
		g[REG_RAX] = -EINTR;
		return;
	}
	insn = (const uint8_t *)(uintptr_t)(rip - 2 + GMEM_DELTA);
	if (insn[0] != 0x0f || insn[1] != 0x05) {
		g[REG_RAX] = -EINTR;
		return;
	}
	g[REG_RIP] = (greg_t)(rip - 2);
	g[REG_RAX] = (greg_t)nr;
}

void vt_trap_syscall(vthread_t *vt, ucontext_t *uc)
{
	vcpu_stats_t *st = &cvmm_vm.vcpus[vt->vcpu].st;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t a[6] = { (uint64_t)g[REG_RDI], (uint64_t)g[REG_RSI],
			  (uint64_t)g[REG_RDX], (uint64_t)g[REG_R10],
			  (uint64_t)g[REG_R8],  (uint64_t)g[REG_R9] };
	uint64_t t0, t1;
	unsigned long nr = (unsigned long)g[REG_RAX];

	vt_pause_point(vt); /* not into a call while paused */
	t0 = cvmm_now_ns();
	stat_add(&st->guest_ns, t0 - vt->t_mark);
	vt->uc = uc;
	vt->idle_acc = 0;
	g[REG_RAX] = sys_dispatch(vt, nr, a);
	if (g[REG_RAX] == -VM_ERESTART)
		vt_restart(g, nr);
	vt->uc = NULL;
	/* The thread may have moved to another vCPU inside the call. */
	st = &cvmm_vm.vcpus[vt->vcpu].st;
	t1 = cvmm_now_ns();
	stat_add(&st->sys_ns, t1 - t0 - vt->idle_acc);
	stat_add(&st->idle_ns, vt->idle_acc);
	stat_add(&st->syscalls, 1);
	vt->t_mark = t1;
	vt_trap_point(vt, uc, false, -1, &st->sys_ns);
}

static const char *fault_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "segmentation fault";
	case SIGBUS: return "bus error";
	case SIGILL: return "illegal instruction";
	case SIGFPE: return "floating point exception";
	case SIGTRAP: return "trace/breakpoint trap";
	default: return "fault";
	}
}

/* Whether the guest instruction at rip, which took a write fault, is an
 * atomic read-modify-write (core/insn.h). Its bytes are read through the
 * agent view, which never faults (a page the guest unmapped meanwhile
 * reads stale or zero: at worst a wrong count), and only up to the end of
 * its page (the next one may not be valid here): an instruction that
 * crosses it counts as not atomic. */
static bool vt_atomic_at(uint64_t rip)
{
	uint64_t end = (rip | (CVMM_PAGE_SIZE - 1)) + 1;
	size_t n = end - rip < INSN_MAX_LEN ? end - rip : INSN_MAX_LEN;
	insn_atomic_t k;

	if (rip < GMEM_LO || rip >= GMEM_HI)
		return false;
	k = insn_atomic((const uint8_t *)(uintptr_t)(rip + GMEM_DELTA), n,
			NULL);
	return k == INSN_LOCKED || k == INSN_XCHG_MEM;
}

/* A guest access to a page not valid on this node (userfaultfd SIGBUS):
 * served here, on the faulting thread; true when the access can retry.
 * in_guest: guest code faulted (a trap point), not agent code. */
static bool vt_coherence_fault(vthread_t *vt, siginfo_t *si, ucontext_t *uc,
			       bool in_guest)
{
	vcpu_stats_t *st = &cvmm_vm.vcpus[vt->vcpu].st;
	bool write = uc->uc_mcontext.gregs[REG_ERR] & 2;
	bool atomic = write && in_guest &&
		      vt_atomic_at((uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
	uint64_t t0, t1;
	int src;

	if (in_guest)
		vt_pause_point(vt); /* no request while paused */
	t0 = cvmm_now_ns();
	if (coh_rt_fault((uint64_t)si->si_addr, write, atomic, &src) !=
	    CVMM_OK)
		return false;
	t1 = cvmm_now_ns();
	stat_add(&st->guest_ns, t0 - vt->t_mark);
	stat_add(&st->coherence_ns, t1 - t0);
	vt->t_mark = t1;
	if (in_guest)
		vt_trap_point(vt, uc, true, src, &st->coherence_ns);
	return true;
}

void vm_thread_kick(vm_t *vm, vthread_t *vt)
{
	int htid = __atomic_load_n(&vt->htid, __ATOMIC_ACQUIRE);

	if (vt->kickable && htid > 0 &&
	    __atomic_load_n(&vt->selector, __ATOMIC_ACQUIRE) ==
		    SYSCALL_DISPATCH_FILTER_BLOCK &&
	    syscall(SYS_tgkill, getpid(), htid, VM_SIG_KICK) != 0)
		log_debug("kicking guest thread %d: %m", vt->tid);
}

/* VM_SIG_KICK: a trap point where the guest thread is, if it is in guest
 * code (its rip in the guest window: not entry code about to enter it). */
static void vt_trap_kick(vthread_t *vt, ucontext_t *uc, bool in_guest)
{
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP], now;
	vcpu_stats_t *st;

	if (!in_guest || rip < GMEM_LO || rip >= GMEM_HI)
		return;
	st = &cvmm_vm.vcpus[vt->vcpu].st;
	now = cvmm_now_ns();
	stat_add(&st->guest_ns, now - vt->t_mark);
	vt->t_mark = now;
	vt_trap_point(vt, uc, false, -1, &st->sys_ns);
}

void vt_trap_fault(vthread_t *vt, int sig, siginfo_t *si, ucontext_t *uc,
		   bool in_guest)
{
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	char msg[256], sym[128] = "";

	if (sig == VM_SIG_KICK) {
		if (vt->magic == VT_MAGIC_GUEST)
			vt_trap_kick(vt, uc, in_guest);
		return;
	}

	if (sig == SIGBUS && cvmm_coh_on && vt->magic == VT_MAGIC_GUEST &&
	    si->si_code == BUS_ADRERR &&
	    vt_coherence_fault(vt, si, uc, in_guest))
		return;

	if (!in_guest) {
		log_error("internal error: %s at %p (rip 0x%lx)",
			  fault_name(sig), si->si_addr, rip);
		signal(sig, SIG_DFL); /* returning re-faults and dumps core */
		return;
	}
	if (cvmm_vm.image && loader_symbolize(cvmm_vm.image, rip, sym + 1,
					      sizeof(sym) - 1))
		sym[0] = ' ';
	snprintf(msg, sizeof(msg), "guest thread %d: %s at 0x%lx (rip 0x%lx%s)",
		 vt->tid, fault_name(sig), (uint64_t)si->si_addr, rip, sym);
	vm_exit(&cvmm_vm, 128 + sig, msg);
}

void vm_thread_exit(vthread_t *vt)
{
	if (vt->clear_tid) {
		uint32_t *tidp = gmem_ptr(&cvmm_gmem, vt->clear_tid, 4,
					  PROT_WRITE);

		if (tidp) {
			__atomic_store_n(tidp, 0, __ATOMIC_SEQ_CST);
			coh_rt_release();
			coh_rt_sync_release(); /* a joiner sees it all */
			futex_wake(vt->clear_tid, INT_MAX, ~0u, true);
		}
	}
	siglongjmp(vt->exit_jmp, 1);
}

void vm_exit(vm_t *vm, int status, const char *reason)
{
	pthread_mutex_lock(&vm->exit_lock);
	if (vm->exiting) {
		pthread_mutex_unlock(&vm->exit_lock);
		for (;;)
			pause();
	}
	vm->exiting = 1;
	vm->exit_status = status;
	if (reason)
		log_emit(LOG_LVL_ERROR, __FILE__, __LINE__, "%s", reason);
	if (vm->stats_file) {
		/* the CPU times of the threads still running (not when this
		 * thread holds the lock: a failure inside a thread's start) */
		if (pthread_mutex_trylock(&vm->lock) == 0) {
			pthread_mutex_unlock(&vm->lock);
			vm_cpu_account(vm);
		}
		if (vm->nodes)
			vm->nodes->collect_stats(vm);
		stats_report(vm, vm->stats_file, stderr);
	}
	if (vm->on_exit)
		vm->on_exit(status);
	_exit(status);
}

void vm_wait(vm_t *vm)
{
	for (;;)
		pause();
}
