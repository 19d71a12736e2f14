#!/usr/bin/env python3
"""cvmm benchmarks (python3 standard library only); run by "make bench".

Benchmarks, each run natively and under cvmm, alternating, REPS times:
  startup  guests/hello natively and under "cvmm run" (one node, the
           default vCPUs), alternating, STARTUP_PAIRS times: wall time of
           each whole run (fork, exec, the guest's run, exit) and its CPU
           time (user + system of the child)
           -> startup_native_ms, startup_cvmm_ms (medians), startup_ms =
           startup_cvmm_ms - startup_native_ms, and the same for CPU time
           (startup_native_cpu_ms, startup_cvmm_cpu_ms, startup_cpu_ms)
  syscall  guests/getpid ITERS: ns per syscall(SYS_getpid), natively
           (200000 calls) and under "cvmm run -v 1" (20000 calls)
           -> syscall_native_ns, syscall_cvmm_ns, syscall_ratio; the same
           for a FUTEX_WAKE_PRIVATE nobody waits for and a
           FUTEX_WAIT_PRIVATE whose value differs (futex_wake_*,
           futex_wait_eagain_*: answered before the FS switch on one node)
  clock    guests/clockloop N (N = 2000000 calls of
           clock_gettime(CLOCK_MONOTONIC), the mean ns per call on its
           stderr) natively and under "cvmm run -v 1" (on one node the
           guest's vDSO answers without a trap)
           -> clock_gettime_native_ns, clock_gettime_cvmm_ns,
           clock_gettime_ratio
  fib      guests/fib P N: P threads (the host's cpu count) each computing
           fib(N) recursively, wall time natively and under "cvmm run -v P"
           on one node -> fib_native_s, fib_cvmm_1node_s, fib_ratio_1node
           (also fib_n, fib_threads)
  faults   guests/faultbench under "cvmm run -n 2 -v 2 --transport=tcp":
           median latency (rdtsc in the guest) of a read fault on a page
           node 1 owns, a write fault on a page both nodes share, a first
           touch on node 0 (pages visited in a scattered order: each
           access a fault of its own), the mean per page of reading node
           1's pages in address order, and of node 1 writing a fresh
           mapping in address order, per run -> fault_read_remote_us,
           fault_write_remote_us, fault_local_minor_us,
           fault_read_seq_us, fault_first_touch_seq_us (with
           --page-transfer=push), and
           the same run with --page-transfer=get alternating with it
           -> fault_read_remote_get_us, fault_write_remote_get_us;
           alternating with them (unless the xp benchmark ran before in
           this run) xp_get_4k_us as in xp
           -> fault_read_remote_ratio = fault_read_remote_us / xp_get_4k_us
  uffd     bench/uffd_modes.c (no cvmm code, native only, 3 runs): median
           latency of a read that takes a userfaultfd MINOR fault on a
           memfd page, served by UFFDIO_CONTINUE from the faulting thread's
           SIGBUS handler, or by a handler thread on the same or the other
           cpu, and of a plain minor fault without uffd
           -> uffd_sigbus_us, uffd_thread_same_cpu_us,
           uffd_thread_other_cpu_us, minor_fault_baseline_us
  downgrade bench/downgrade.c (no cvmm code, native only, 3 runs): median
           cost of UFFDIO_WRITEPROTECT (an owner's downgrade) and of
           MADV_DONTNEED (an invalidation) of one written page, the other
           cpu idle or busy with another process
           -> wp_idle_us, wp_busy_us, dontneed_idle_us, dontneed_busy_us;
           with uffd and xp in the same run also
           fault_read_floor_us = uffd_sigbus_us + xp_am_4k_rtt_us +
           wp_busy_us: a trap, a request and its answer with the page,
           the owner's downgrade while the requester polls; what a remote read fault
           costs here before any cvmm code runs; and
           fault_write_floor_us = uffd_sigbus_us + xp_am_64_rtt_us +
           dontneed_busy_us: the same with the owner's invalidation
           (MADV_DONTNEED, what an owner does to its copy when it gives
           the page away exclusive); with faults in the same run too
           -> fault_read_ratio_floor = fault_read_remote_us /
           fault_read_floor_us, fault_write_ratio_floor =
           fault_write_remote_us / fault_write_floor_us
  fib_nodes guests/fib 4 N (fib's N) under "cvmm run -n K -v 4", K = 1, 2
           and 4, alternating -> fib_v4_cvmm_Knode_s and fib_ratio_2node,
           fib_ratio_4node (K nodes over one node, not over native)
  migrate  guests/getpid 1000 under "cvmm run -n 2 -v 2", with
           --migrate-every=1 (the thread moves at every call's return) and
           without, alternating: (time with - time without) / moves
           -> thread_migrate_us (what a move costs: the message with the
           registers, a host thread started, the stack's pages faulted
           back), thread_migrations (moves per run)
  leave    guests/barrier 6 2000 on "cvmm run -n 3 -v 3", and after a
           second "cvmm ctl remove-node 2": the time the leave took
           (drain, pause, hand-over, resume) and the pages handed over,
           the run's output native -> node_leave_ms, node_leave_pages;
           then guests/elastic 6 32 3000 (node 2's threads own ~10 MiB)
           the same after 1.5 s -> node_leave_big_mib (what node 2 held),
           node_leave_big_ms, node_leave_big_handover_ms (the GIVE: pages
           sent to the heir) and node_leave_mib_per_s (MiB over the
           hand-over; compare with xp_put_4k_us); then workloads/is
           -p 3 -i 60 under --memory-model=release, node 2 removed after
           1.5 s -> node_leave_release_ms, node_leave_release_homes (the
           data pages homed at node 2 handed over with their master
           copies, from its log)
  join     guests/barrier 6 2000 on "cvmm run -n 2 --max-nodes 3 -v 3",
           and after a second "cvmm ctl add-node": the time the command
           took (a new agent started, given a slot, connected both ways,
           the layout sent, every node told) and node 0's part of it
           (from the joiner's hello to the VM resumed, its log line); the
           run's output native -> node_join_ms, node_join_vm_ms
  elastic  guests/barrier 6 4000 under "cvmm run -v 4" on 2 nodes and on
           4 nodes (fixed), on 2 nodes with 2 free slots left free (a
           vCPU per slot: 1 per node, not 2), and on 2 nodes with 2 free
           slots that grow to 4 (two add-node, node 1 drained and
           undrained: its threads spread over the others) and shrink back
           to 2 (the two new nodes removed), alternating; each run's
           output native -> elastic_fixed2_s, elastic_fixed2_slots4_s,
           elastic_fixed4_s, elastic_grow_shrink_s, elastic_ratio_fixed2
           and elastic_ratio_fixed2_slots4 (grow-shrink over either)
  workloads the SPLASH-2-class programs of bench/workloads/ (fft lu radix
           ocean water barnes) and the two with sub-page sharing (is: a
           NAS IS-like sort scattering into one shared array; stencil:
           Jacobi on sub-page blocks of several threads; their multi-node
           runs are the longest, every scattered write moves a page: one
           2-node run with -p 2 takes ~30 s (is) and ~170 s (stencil) on
           the reference VM, and 4-node runs with -p 4 are expected to
           pass RUN_TIMEOUT) at their default sizes with "-p P", P the
           host's cpu count, natively and under "cvmm run -v P" on one
           node; each run's self-check must print "NAME: PASS" and the cvmm
           output must equal the native one, else the benchmark fails
           -> NAME_native_s, NAME_cvmm_1node_s, NAME_ratio_1node for each
           (also workloads_threads), and the same under "cvmm run -n K"
           for K = 2 and 4 (NAME_cvmm_Knode_s, NAME_ratio_Knode; see
           WL_NODES), those runs with --stats=FILE and the flags in
           WL_FLAGS (e.g. "--placement=auto"): the coherence faults
           (read + write) and thread migrations of each ->
           NAME_faults_Knode, NAME_migrations_Knode (medians). All of it
           again with --memory-model=release for each model of WL_MODELS
           (default both): NAME_cvmm_Knode_release_s against native runs
           of its own (NAME_native_release_s), NAME_ratio_Knode_release,
           NAME_faults/_diffs/_notices_Knode_release (diffs sent, write
           notices), NAME_seqfault/_datafault/_handover_Knode_release_s
           (seconds of fault time on pages under the sequential protocol
           and on data pages, every vCPU's; of hand-overs waiting for a
           release). splash6_geomean_Knode[_release]: the geometric mean
           of the six SPLASH-2-class ratios (issues 13, 14). Then
           bench/report draws bench/out/report.html
  workloads_small  the same eight programs at small sizes (WL_SMALL below:
           ~50 ms each natively with 2 threads on the 2-core reference
           VM, where start-up and first touch weigh most) with "-p P", P
           the host's cpu count (or WL_P), natively and under "cvmm run
           -v P" on one node, WL_SMALL_REPS times, same checks
           -> NAME_small_native_s, NAME_small_cvmm_1node_s,
           NAME_small_ratio_1node (also workloads_small_threads)

Medians go into bench/out/results.json, a flat JSON object of named numbers
merged into the existing file (keys of other benchmarks are kept; a key
this run could not measure is removed); a table with median, min and max is
printed. A multi-node measurement (faults, fib_nodes) that fails is written
as null with the reason in KEY_error (a string) and not repeated.

Environment:
  BENCH   run only these benchmarks, comma separated, in the default
          order (startup, syscall, clock, fib, xp, faults, uffd,
          downgrade, fib_nodes, migrate, leave, join, elastic,
          workloads_small,
          workloads, or one
          workload: fft, lu, radix, ocean, water, barnes, is, stencil)
  BUILD   build directory (default build; --build overrides)
  CVMM    cvmm binary (default $BUILD/cvmm)
  REPS    repetitions (default 5; 3 for the workloads and uffd, 10
          for workloads_small; for startup the pairs, default
          STARTUP_PAIRS)
  FIB_N   fib argument (default 46: about 2.5 s natively with 2 threads on
          the 2-core reference VM); "auto" calibrates to about 2 s natively
  FIB_P   threads for fib (default: cpus this process may run on)
  WL_P    threads and vCPUs for the workloads, on every node count
          (default: the cpu count, at least the largest node count)
  WL_NODES  node counts to run the workloads on under cvmm, comma
          separated (default 1,2,4; on the 2-core reference VM the 2- and
          4-node runs take ~15 minutes per repetition: WL_NODES=1 skips
          them)
  WL_MODELS memory models for the workloads, comma separated (default
          sequential,release)

Exit status 1 when any run failed (the results obtained are still written).
"""

import argparse
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")
RESULTS = os.path.join(OUT_DIR, "results.json")
RUN_TIMEOUT = 600
FIB_N_DEFAULT = 46
FIB_TARGET_S = 2.0
GOLDEN = (1 + 5 ** 0.5) / 2
# The six SPLASH-2-class workloads: the geometric means of issues 13 and 14
# (<workload>_ratio_Knode) are over these six only; is and stencil (issue
# 14's scatter and sub-page blocks) are rows of their own.
SPLASH6 = ("fft", "lu", "radix", "ocean", "water", "barnes")
WORKLOADS = SPLASH6 + ("is", "stencil")
WL_REPS = 3
# The small-size row: each ~50 ms natively with -p 2 on the 2-core
# reference VM (medians of quiet runs 35-50 ms), so that what cvmm adds
# once per run (start-up, first touch, thread creation) shows.
WL_SMALL = {"fft": ("-m", "18"), "lu": ("-n", "512", "-b", "16"),
            "radix": ("-n", "1048576", "-r", "1024"),
            "ocean": ("-n", "384"), "water": ("-n", "1000", "-s", "20"),
            "barnes": ("-n", "3000", "-s", "2"),
            "is": ("-n", "524288", "-m", "32768"),
            "stencil": ("-n", "512", "-s", "50")}
WL_SMALL_REPS = 10
# clock: calls per run of guests/clockloop (~25 ns each natively and
# through the guest's vDSO; ~10 us each if they trapped)
CLOCK_CALLS = 2000000
# A run of hello takes ~1 ms natively: many alternating pairs, so that the
# median difference is not the noise of a shared 2-core VM.
STARTUP_PAIRS = 30
# Node counts the workloads run on under cvmm (WL_NODES overrides):
# NAME_cvmm_Knode_s / NAME_ratio_Knode for each K.
WL_NODES = (1, 2, 4)
UFFD_REPS = 3
UFFD_KEYS = ("uffd_sigbus_us", "uffd_thread_same_cpu_us",
             "uffd_thread_other_cpu_us", "minor_fault_baseline_us")
DOWNGRADE_KEYS = ("wp_idle_us", "wp_busy_us", "dontneed_idle_us",
                  "dontneed_busy_us")
XP_KEYS = ("xp_get_4k_us", "xp_put_4k_us", "xp_am_64_rtt_us",
           "xp_am_4k_rtt_us", "xp_fadd_us")


class RunError(Exception):
    pass


class Bench:
    def __init__(self, build, cvmm):
        self.guests = os.path.join(build, "guests")
        self.workloads = os.path.join(build, "workloads")
        self.cvmm = cvmm
        self.samples = {}  # name -> list of values
        self.results = {}  # name -> number for results.json
        self.missing = set()  # keys of this run without a value
        self.errors = []
        self.scratch = tempfile.mkdtemp(prefix="cvmm-bench.")

    def guest(self, name):
        path = os.path.join(self.guests, name)
        if not os.access(path, os.X_OK):
            raise RunError("no guest %s (run make guests)" % path)
        return path

    def workload(self, name):
        path = os.path.join(self.workloads, name)
        if not os.access(path, os.X_OK):
            raise RunError("no workload %s (run make workloads)" % path)
        return path

    def run(self, argv, under_cvmm, vcpus=1, nodes=1, flags=(),
            with_stderr=False):
        """Runs argv (natively or under cvmm, on nodes > 1 with -n, with the
        extra cvmm run flags; vcpus None: cvmm's default) in the scratch
        directory; returns (stdout, seconds), with_stderr (stdout,
        stderr, seconds). Raises RunError on failure."""
        if under_cvmm:
            if not os.access(self.cvmm, os.X_OK):
                raise RunError("no cvmm binary at %s" % self.cvmm)
            multi = ["-n", str(nodes)] if nodes > 1 else []
            v = ["-v", str(vcpus)] if vcpus is not None else []
            argv = [self.cvmm, "run"] + multi + list(flags) + v + [
                "--root", self.scratch, "--"] + argv
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, cwd=self.scratch, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RunError("%s: timed out after %d s"
                           % (" ".join(argv), RUN_TIMEOUT))
        secs = time.perf_counter() - t0
        out = p.stdout.decode(errors="replace")
        if p.returncode != 0:
            err = p.stderr.decode(errors="replace").strip().splitlines()
            raise RunError("%s: exit status %d%s"
                           % (" ".join(argv), p.returncode,
                              (": " + err[-1]) if err else ""))
        if with_stderr:
            return out, p.stderr.decode(errors="replace"), secs
        return out, secs

    def sample(self, name, fn):
        """Appends fn() to the samples of name; a failure is recorded once
        per name and the sample skipped."""
        try:
            v = fn()
        except RunError as e:
            if not any(n == name for n, _ in self.errors):
                self.errors.append((name, str(e)))
                print("  %s: FAILED: %s" % (name, e), file=sys.stderr)
            return None
        self.samples.setdefault(name, []).append(v)
        return v

    def median(self, name):
        s = self.samples.get(name)
        if not s:
            self.missing.add(name)
            return None
        m = statistics.median(s)
        self.results[name] = m
        return m

    def failed(self, name):
        return any(n == name for n, _ in self.errors)

    def error_of(self, name):
        return next((e for n, e in self.errors if n == name), "no samples")

    def null(self, name, error):
        """name is written as null with the error next to it
        (name_error)."""
        self.results[name] = None
        self.results[name + "_error"] = error

    def median_or_null(self, name, run_name):
        """The median of name, or (no sample: its runs, recorded under
        run_name, failed) null with the error as name_error."""
        m = self.median(name)
        if m is None:
            self.missing.discard(name)
            self.null(name, self.error_of(run_name))
        else:
            self.missing.add(name + "_error")
        return m

    def ratio_or_null(self, name, num, den):
        """num / den, or null with the reason as name_error."""
        a, b = self.results.get(num), self.results.get(den)
        if a is not None and b:
            self.results[name] = a / b
            self.missing.add(name + "_error")
        else:
            bad = num if a is None else den
            self.null(name, "%s not measured: %s" % (
                bad, self.results.get(bad + "_error", "no samples")))

    def ratio(self, name, num, den):
        a, b = self.results.get(num), self.results.get(den)
        if a is not None and b:
            self.results[name] = a / b
        else:
            self.missing.add(name)

    # ---- benchmarks ------------------------------------------------------
    def bench_startup(self, reps):
        """What starting a VM costs: guests/hello natively and under "cvmm
        run" on one node with the default vCPUs (as a user types it),
        alternating; the difference of the medians, wall and CPU time."""
        reps = int(os.environ.get("REPS") or STARTUP_PAIRS)
        g = self.guest("hello")

        def hello(under_cvmm):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            out, secs = self.run([g], under_cvmm, None)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if "hello, world" not in out:
                raise RunError("hello: wrong output %r" % out[-200:])
            cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            return secs * 1e3, cpu * 1e3

        print("startup: hello natively vs cvmm run (1 node), %d pairs"
              % reps)
        for _ in range(reps):
            for name, cvmm in (("native", False), ("cvmm", True)):
                r = self.sample("startup_%s" % name, lambda: hello(cvmm))
                if r:
                    self.sample("startup_%s_ms" % name, lambda: r[0])
                    self.sample("startup_%s_cpu_ms" % name, lambda: r[1])
        for k in ("", "_cpu"):
            native = self.median("startup_native%s_ms" % k)
            cvmm = self.median("startup_cvmm%s_ms" % k)
            if native is not None and cvmm is not None:
                self.results["startup%s_ms" % k] = cvmm - native
            else:
                self.missing.add("startup%s_ms" % k)

    def bench_syscall(self, reps):
        g = self.guest("getpid")

        def call_ns(iters, under_cvmm):
            out, _ = self.run([g, str(iters)], under_cvmm, 1)
            got = {}
            for key in ("getpid_ns", "futex_wake_ns", "futex_wait_eagain_ns"):
                m = re.search(r"^%s ([0-9.]+)$" % key, out, re.M)
                if not m:
                    raise RunError("getpid: no %s line in %r" % (key, out))
                got[key] = float(m.group(1))
            return got

        def take(name, iters, under_cvmm):
            got = {}

            def first():
                got.update(call_ns(iters, under_cvmm))
                return got["getpid_ns"]

            if self.sample("syscall_%s_ns" % name, first) is None:
                return
            self.sample("futex_wake_%s_ns" % name,
                        lambda: got["futex_wake_ns"])
            self.sample("futex_wait_eagain_%s_ns" % name,
                        lambda: got["futex_wait_eagain_ns"])

        print("syscall: getpid and two futex calls (one node: answered "
              "before the FS switch), native 200000 calls vs cvmm -v 1 "
              "20000 calls, %d reps" % reps)
        for _ in range(reps):
            take("native", 200000, False)
            take("cvmm", 20000, True)
        for key in ("syscall", "futex_wake", "futex_wait_eagain"):
            self.median("%s_native_ns" % key)
            self.median("%s_cvmm_ns" % key)
            self.ratio("%s_ratio" % key, "%s_cvmm_ns" % key,
                       "%s_native_ns" % key)

    def bench_clock(self, reps):
        """clock_gettime(CLOCK_MONOTONIC): guests/clockloop natively and
        under cvmm run -v 1, alternating."""
        g = self.guest("clockloop")

        def clock_ns(under_cvmm):
            out, err, _ = self.run([g, str(CLOCK_CALLS)], under_cvmm, 1,
                                   with_stderr=True)
            m = re.search(r"^clock_gettime_ns ([0-9.]+)$", err, re.M)
            if not m or out.strip() != "ok":
                raise RunError("clockloop: no clock_gettime_ns line or "
                               "not ok: %r %r" % (out[-100:], err[-200:]))
            return float(m.group(1))

        print("clock: clock_gettime, %d calls, native vs cvmm -v 1, %d "
              "reps" % (CLOCK_CALLS, reps))
        for _ in range(reps):
            self.sample("clock_gettime_native_ns", lambda: clock_ns(False))
            self.sample("clock_gettime_cvmm_ns", lambda: clock_ns(True))
        self.median("clock_gettime_native_ns")
        self.median("clock_gettime_cvmm_ns")
        self.ratio("clock_gettime_ratio", "clock_gettime_cvmm_ns",
                   "clock_gettime_native_ns")

    def fib_n(self, g, p):
        n = os.environ.get("FIB_N", "")
        if n and n != "auto":
            return int(n)
        if n != "auto":
            return FIB_N_DEFAULT
        base = 40
        _, t = self.run([g, str(p), str(base)], False)
        t = max(t, 1e-3)
        n = base + round(math.log(FIB_TARGET_S / t) / math.log(GOLDEN))
        print("fib: calibrated: fib(%d) took %.3f s -> N = %d"
              % (base, t, n))
        return n

    def bench_fib(self, reps):
        g = self.guest("fib")
        p = int(os.environ.get("FIB_P", "0")) or len(os.sched_getaffinity(0))
        n = self.fib_n(g, p)
        expect = "total = %d" % (p * fib_iter(n))

        def fib_s(under_cvmm):
            out, secs = self.run([g, str(p), str(n)], under_cvmm, p)
            if expect not in out:
                raise RunError("fib: wrong output %r" % out[-200:])
            return secs

        print("fib: %d threads, fib(%d), native vs cvmm -v %d (1 node), "
              "%d reps" % (p, n, p, reps))
        for _ in range(reps):
            self.sample("fib_native_s", lambda: fib_s(False))
            self.sample("fib_cvmm_1node_s", lambda: fib_s(True))
        self.results["fib_n"] = n
        self.results["fib_threads"] = p
        self.median("fib_native_s")
        self.median("fib_cvmm_1node_s")
        self.ratio("fib_ratio_1node", "fib_cvmm_1node_s", "fib_native_s")

    def json_run(self, argv, env=None):
        """Runs argv; returns the JSON object on the last line of its
        stdout ({} for none). Raises RunError on failure."""
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RunError("%s: timed out after %d s"
                           % (" ".join(argv), RUN_TIMEOUT))
        if p.returncode != 0:
            raise RunError("%s: exit status %d: %s" % (
                " ".join(argv), p.returncode,
                p.stderr.decode(errors="replace").strip()[-200:]))
        line = p.stdout.decode(errors="replace").strip().splitlines()
        return json.loads(line[-1]) if line else {}

    def xp_sample(self, keys=XP_KEYS):
        """One transport measurement between two agents (cvmm run -n 2
        --selftest=bench over tcp): samples each of keys it reports."""
        xp = self.sample("xp", lambda: self.json_run(
            [self.cvmm, "run", "-n", "2", "--transport=tcp",
             "--selftest=bench"])) or {}
        for k in keys:
            if k in xp:
                self.sample(k, lambda k=k: float(xp[k]))

    def bench_xp(self, reps):
        """The transport between two agents (cvmm run -n 2 --selftest=bench
        over tcp) and, alternating with it, the same 4 KiB get by a minimal
        UCP program (bench/raw_ucp_get.c) on the same transport."""
        raw = os.path.join(os.path.dirname(self.guests), "bench",
                           "raw_ucp_get")
        if not os.access(raw, os.X_OK):
            raise RunError("no %s (run make bench)" % raw)
        env = dict(os.environ, UCX_TLS="tcp,self")

        print("xp: 2 agents over tcp, median of 2000 ops per run, vs a "
              "minimal UCP get, %d reps" % reps)
        for _ in range(reps):
            self.xp_sample()
            self.sample("raw_get_4k_us", lambda: float(
                self.json_run([raw, "5000"], env)["raw_get_4k_us"]))
        for k in XP_KEYS + ("raw_get_4k_us",):
            self.median(k)
        self.ratio("xp_get_ratio_raw", "xp_get_4k_us", "raw_get_4k_us")

    def bench_faults(self, reps):
        """Coherence fault latency: guests/faultbench under cvmm run -n 2
        -v 2 (over tcp, like xp), and, alternating with it unless the xp
        benchmark already measured it in this run, xp_get_4k_us, so that
        fault_read_remote_ratio comes from one run."""
        g = self.guest("faultbench")
        keys = ("fault_read_remote_us", "fault_write_remote_us",
                "fault_local_minor_us", "fault_read_seq_us",
                "fault_first_touch_seq_us")
        get_keys = ("fault_read_remote_us", "fault_write_remote_us")
        with_xp = not self.samples.get("xp_get_4k_us")

        def faults(how="push"):
            out, _ = self.run([g], True, 2, 2,
                              ["--transport=tcp", "--page-transfer=" + how])
            m = re.search(r"^faultbench (.*)$", out, re.M)
            if not m:
                raise RunError("faultbench: no result line in %r"
                               % out[-200:])
            vals = dict(kv.split("=", 1) for kv in m.group(1).split())
            if any(k not in vals for k in keys):
                raise RunError("faultbench: missing keys in %r" % m.group(0))
            return {k: float(vals[k]) for k in keys}

        print("faults: faultbench, cvmm -n 2 -v 2 over tcp, median of 512 "
              "pages per run%s, %d reps"
              % (", vs xp get 4 KiB" if with_xp else "", reps))
        for _ in range(reps):
            if self.failed("faultbench"):
                break  # a multi-node failure: no point in repeating it
            f = self.sample("faultbench", faults) or {}
            for k in f:
                self.sample(k, lambda k=k: f[k])
            f = self.sample("faultbench", lambda: faults("get")) or {}
            for k in get_keys:
                if k in f:
                    self.sample(k.replace("_us", "_get_us"),
                                lambda k=k: f[k])
            if with_xp:
                self.xp_sample(("xp_get_4k_us",))
        for k in keys + tuple(k.replace("_us", "_get_us")
                              for k in get_keys):
            self.median_or_null(k, "faultbench")
        if with_xp:
            self.median("xp_get_4k_us")
        self.ratio_or_null("fault_read_remote_ratio", "fault_read_remote_us",
                           "xp_get_4k_us")

    def bench_uffd(self, reps):
        """userfaultfd MINOR fault service on shared memory, SIGBUS
        handler vs handler thread (same / other cpu), and a plain minor
        fault: bench/uffd_modes.c, natively, per-key medians of its runs
        (each the median of 4096 pages x 5 interleaved rounds)."""
        reps = int(os.environ.get("REPS") or UFFD_REPS)
        prog = os.path.join(os.path.dirname(self.guests), "bench",
                            "uffd_modes")
        if not os.access(prog, os.X_OK):
            raise RunError("no %s (run make bench)" % prog)

        print("uffd: MINOR fault via SIGBUS vs handler thread vs plain "
              "minor fault, 4096 pages x 5 rounds per run, %d reps" % reps)
        for _ in range(reps):
            r = self.sample("uffd_modes", lambda: self.json_run([prog])) or {}
            for k in UFFD_KEYS:
                if r.get(k) is not None:  # other_cpu: null on one cpu
                    self.sample(k, lambda k=k: float(r[k]))
        for k in UFFD_KEYS:
            self.median(k)

    def bench_downgrade(self, reps):
        """The TLB flush in a remote fault: bench/downgrade.c, natively,
        per-key medians of its runs; and the floor of a remote read fault
        when uffd and xp ran in this run too."""
        reps = int(os.environ.get("REPS") or UFFD_REPS)
        prog = os.path.join(os.path.dirname(self.guests), "bench",
                            "downgrade")
        if not os.access(prog, os.X_OK):
            raise RunError("no %s (run make bench)" % prog)

        print("downgrade: write-protect and DONTNEED of a written page, "
              "other cpu idle / busy, 2048 pages x 3 rounds per run, %d "
              "reps" % reps)
        for _ in range(reps):
            r = self.sample("downgrade", lambda: self.json_run([prog])) or {}
            for k in DOWNGRADE_KEYS:
                if r.get(k) is not None:  # busy: null on one cpu
                    self.sample(k, lambda k=k: float(r[k]))
        for k in DOWNGRADE_KEYS:
            self.median(k)
        # A remote fault's floor: the trap, a request and its answer, and
        # what the owner does to its copy while the requester polls (a
        # read: write-protect, a write: MADV_DONTNEED; docs/coherence.md)
        # A read brings the page (the answer is 4 KiB); faultbench's write
        # faults upgrade a copy the writer holds (no bytes move).
        for kind, rtt, flush in (
                ("read", "xp_am_4k_rtt_us", "wp_busy_us"),
                ("write", "xp_am_64_rtt_us", "dontneed_busy_us")):
            floor = "fault_%s_floor_us" % kind
            ratio = "fault_%s_ratio_floor" % kind
            fault = "fault_%s_remote_us" % kind
            parts = [self.results.get(k) for k in
                     ("uffd_sigbus_us", rtt, flush)]
            if any(v is None for v in parts):  # not all in this run
                self.missing.update((floor, ratio, ratio + "_error"))
                continue
            self.results[floor] = sum(parts)
            print("  %s = %.1f (sigbus %.1f + am rtt %.1f + %s %.1f)"
                  % (floor, sum(parts), parts[0], parts[1],
                     flush[:-3].replace("_", " "), parts[2]))
            if fault in self.results:  # faults ran in this run
                self.ratio_or_null(ratio, fault, floor)
            else:
                self.missing.update((ratio, ratio + "_error"))

    def bench_fib_nodes(self, reps):
        """Parallel fib with 4 threads on 4 vCPUs over 2 and 4 nodes
        against one node, alternating."""
        g = self.guest("fib")
        p = 4
        n = self.fib_n(g, p)
        expect = "total = %d" % (p * fib_iter(n))

        def fib_s(nodes):
            out, secs = self.run([g, str(p), str(n)], True, p, nodes)
            if expect not in out:
                raise RunError("fib: wrong output %r" % out[-200:])
            return secs

        print("fib_nodes: %d threads, fib(%d), cvmm -v %d on 2 and 4 nodes "
              "vs 1 node, %d reps" % (p, n, p, reps))
        for _ in range(reps):
            for k in (1, 2, 4):
                name = "fib_v4_cvmm_%dnode_s" % k
                if not self.failed(name):
                    self.sample(name, lambda k=k: fib_s(k))
        for k in (1, 2, 4):
            name = "fib_v4_cvmm_%dnode_s" % k
            self.median_or_null(name, name)
        for k in (2, 4):
            self.ratio_or_null("fib_ratio_%dnode" % k,
                               "fib_v4_cvmm_%dnode_s" % k,
                               "fib_v4_cvmm_1node_s")

    def bench_migrate(self, reps):
        """A guest thread moving between two nodes: guests/getpid ITERS on
        "cvmm run -n 2 -v 2" with --migrate-every=1 (its main thread moves
        at every call's return, 3 ITERS + warm-up calls) and without,
        alternating; a sample is (time with - time without) / moves (the
        --stats count of the run with)."""
        g = self.guest("getpid")
        iters = 1000
        stats = os.path.join(self.scratch, "migrate.json")

        def one(every):
            flags = ["--stats=" + stats]
            if every:
                flags.append("--migrate-every=1")
            _, secs = self.run([g, str(iters)], True, 2, 2, flags)
            return secs, stats_counts(stats)[1]

        def move_us():
            plain, _ = one(False)
            moving, moves = one(True)
            if moves < iters:
                raise RunError("migrate: %d moves, expected %d or more"
                               % (moves, iters))
            self.sample("thread_migrations", lambda: moves)
            return (moving - plain) / moves * 1e6

        print("migrate: getpid %d on 2 nodes, moving at every call and "
              "not, %d reps" % (iters, reps))
        for _ in range(reps):
            if not self.failed("thread_migrate_us"):
                self.sample("thread_migrate_us", move_us)
        self.median_or_null("thread_migrate_us", "thread_migrate_us")
        self.median("thread_migrations")

    def bench_leave(self, reps):
        """A node leaving a running VM: guests/barrier 6 2000 on
        "cvmm run -n 3 -v 3"; after a second "cvmm ctl remove-node 2"
        (its own control directory); the answer gives the time and the
        pages handed over; the run must end with the native output."""
        g = self.guest("barrier")
        args = [g, "6", "2000"]
        expect, _ = self.run(args, False)

        def one():
            ans, _ = self.removed("leave", ["-n", "3", "-v", "3", "--"] +
                                  args, expect, 1.0)
            m = re.search(r"took its roles and (\d+) pages .* in (\d+) ms",
                          ans)
            if not m:
                raise RunError("leave: %r" % ans.strip()[-200:])
            self.sample("node_leave_pages", lambda: int(m.group(1)))
            return float(m.group(2))

        print("leave: barrier 6 2000 on 3 nodes, node 2 removed after "
              "1 s, %d reps" % reps)
        for _ in range(reps):
            if not self.failed("node_leave_ms"):
                self.sample("node_leave_ms", one)
        self.median_or_null("node_leave_ms", "node_leave_ms")
        self.median("node_leave_pages")

        # a node owning MiBs: elastic's threads own slices of 32 MiB
        g = self.guest("elastic")
        args = [g, "6", "32", "3000"]
        expect, _ = self.run(args, False)

        def big():
            ans, _ = self.removed("leave-big", ["-n", "3", "-v", "3", "--"] +
                                  args, expect)
            m = re.search(r"and (\d+) pages \(([0-9.]+) MiB\) in (\d+) ms "
                          r"\(hand-over ([0-9.]+) ms\)", ans)
            if not m:
                raise RunError("leave elastic: %r" % ans.strip()[-200:])
            mib, handover = float(m.group(2)), float(m.group(4))
            self.sample("node_leave_big_mib", lambda: mib)
            self.sample("node_leave_big_ms", lambda: float(m.group(3)))
            self.sample("node_leave_big_handover_ms", lambda: handover)
            return mib / (handover / 1e3) if handover > 0 else 0.0

        print("leave: elastic 6 32 3000 on 3 nodes, node 2 (owning ~10 MiB) "
              "removed after 1.5 s, %d reps" % reps)
        for _ in range(reps):
            if not self.failed("node_leave_mib_per_s"):
                self.sample("node_leave_mib_per_s", big)
        self.median_or_null("node_leave_mib_per_s", "node_leave_mib_per_s")
        for k in ("node_leave_big_mib", "node_leave_big_ms",
                  "node_leave_big_handover_ms"):
            self.median(k)

        # the release model: the leaver's data pages' homes move too
        w = self.workload("is")
        args = [w, "-p", "3", "-i", "60"]
        expect, _ = self.run(args, False)

        def rel():
            ans, err = self.removed("leave-rel", [
                "-n", "3", "-v", "3", "--memory-model=release",
                "--log-level", "info", "--"] + args, expect)
            m = re.search(r" in (\d+) ms \(hand-over", ans)
            h = re.search(r"node 2 handed .* \((\d+) homes of the release",
                          err)
            if not m or not h:
                raise RunError("leave release: %r" % ans.strip()[-200:])
            self.sample("node_leave_release_homes", lambda: int(h.group(1)))
            return float(m.group(1))

        print("leave: is -p 3 -i 60 under the release model on 3 nodes, "
              "node 2 removed after 1.5 s, %d reps" % reps)
        for _ in range(reps):
            if not self.failed("node_leave_release_ms"):
                self.sample("node_leave_release_ms", rel)
        self.median_or_null("node_leave_release_ms", "node_leave_release_ms")
        self.median("node_leave_release_homes")

    def removed(self, name, argv, expect, after=1.5):
        """Runs "cvmm run ARGV" served, removes node 2 after AFTER s and
        waits for the end (output native, status 0): ctl's answer and the
        run's stderr."""
        p, env = self.served(name, argv)
        time.sleep(after)
        try:
            ans = self.ctl(env, "remove-node", "2")
        except RunError:
            p.kill()
            p.communicate()
            raise
        return ans, self.finish(name, p, expect)

    def served(self, name, argv):
        """Starts "cvmm run ARGV" with a control directory of its own;
        returns the process and the environment for cvmm ctl."""
        xdg = os.path.join(self.scratch, "xdg-" + name)
        os.makedirs(xdg, mode=0o700, exist_ok=True)
        env = dict(os.environ, XDG_RUNTIME_DIR=xdg)
        p = subprocess.Popen(
            [self.cvmm, "run", "--root", self.scratch] + argv,
            cwd=self.scratch, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        return p, env

    def ctl(self, env, *args):
        a = subprocess.run([self.cvmm, "ctl"] + list(args), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if a.returncode != 0:
            raise RunError("ctl %s: %s" % (" ".join(args),
                                           a.stderr.decode(
                                               errors="replace")[-200:]))
        return a.stdout.decode(errors="replace")

    def finish(self, what, p, expect):
        """The served run's end: its output native, status 0; its stderr."""
        try:
            out, err = p.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            raise RunError("%s: the run did not end" % what)
        if p.returncode != 0 or out.decode(errors="replace") != expect:
            raise RunError("%s: run status %d or output not native"
                           % (what, p.returncode))
        return err.decode(errors="replace")

    def bench_join(self, reps):
        """A node joining a running VM: guests/barrier 6 2000 on "cvmm run
        -n 2 --max-nodes 3 -v 3"; after a second "cvmm ctl add-node" (its
        wall time), node 0's "join: ... in N ms" line."""
        g = self.guest("barrier")
        expect, _ = self.run([g, "6", "2000"], False)

        def one():
            p, env = self.served("join", [
                "-n", "2", "--max-nodes", "3", "-v", "3", "--log-level",
                "info", "--", g, "6", "2000"])
            time.sleep(1.0)
            t0 = time.monotonic()
            try:
                ans = self.ctl(env, "add-node")
            except RunError:
                p.kill()
                p.communicate()
                raise
            wall = (time.monotonic() - t0) * 1e3
            err = self.finish("join", p, expect)
            m = re.search(r"join: node 2 joined \(epoch 2\) .* in (\d+) ms",
                          err)
            if "node 2 joined the VM" not in ans or not m:
                raise RunError("join: %r" % ans.strip()[-200:])
            self.sample("node_join_vm_ms", lambda: float(m.group(1)))
            return wall

        print("join: barrier 6 2000 on 2 nodes, cvmm ctl add-node after "
              "1 s, %d reps" % reps)
        for _ in range(reps):
            if not self.failed("node_join_ms"):
                self.sample("node_join_ms", one)
        self.median_or_null("node_join_ms", "node_join_ms")
        self.median("node_join_vm_ms")

    def bench_elastic(self, reps):
        """guests/barrier 6 4000 with -v 4: on 2 nodes, on 4, and on 2
        growing to 4 and shrinking back, alternating (wall times)."""
        g = self.guest("barrier")
        args = ["--", g, "6", "4000"]
        expect, _ = self.run([g, "6", "4000"], False)

        def fixed(k, slots=0):
            t0 = time.monotonic()
            more = ["--max-nodes", str(slots)] if slots else []
            p, _ = self.served("efixed", ["-n", str(k), "-v", "4"] + more +
                               args)
            self.finish("elastic %d nodes" % k, p, expect)
            return time.monotonic() - t0

        def grow_shrink():
            t0 = time.monotonic()
            p, env = self.served("egrow", ["-n", "2", "--max-nodes", "4",
                                           "-v", "4"] + args)
            try:
                time.sleep(0.5)
                self.ctl(env, "add-node")
                self.ctl(env, "add-node")
                self.ctl(env, "drain", "1")
                self.ctl(env, "undrain", "1")
                time.sleep(1.0)
                self.ctl(env, "remove-node", "3")
                self.ctl(env, "remove-node", "2")
            except RunError:
                p.kill()
                p.communicate()
                raise
            self.finish("elastic grow-shrink", p, expect)
            return time.monotonic() - t0

        print("elastic: barrier 6 4000 -v 4 on 2, 4, and 2->4->2 nodes, "
              "%d reps" % reps)
        for _ in range(reps):
            for name, fn in (("elastic_fixed2_s", lambda: fixed(2)),
                             ("elastic_fixed2_slots4_s",
                              lambda: fixed(2, 4)),
                             ("elastic_fixed4_s", lambda: fixed(4)),
                             ("elastic_grow_shrink_s", grow_shrink)):
                if not self.failed(name):
                    self.sample(name, fn)
        for name in ("elastic_fixed2_s", "elastic_fixed2_slots4_s",
                     "elastic_fixed4_s", "elastic_grow_shrink_s"):
            self.median_or_null(name, name)
        gs = self.results.get("elastic_grow_shrink_s")
        for ratio, base in (("elastic_ratio_fixed2", "elastic_fixed2_s"),
                            ("elastic_ratio_fixed2_slots4",
                             "elastic_fixed2_slots4_s")):
            if gs and self.results.get(base):
                self.results[ratio] = gs / self.results[base]

    def bench_workloads(self, reps, names=WORKLOADS):
        """The workloads (all, or the one BENCH names), each natively and
        under cvmm on every node count of WL_NODES, alternating."""
        reps = int(os.environ.get("REPS") or WL_REPS)
        nodes = wl_nodes()
        # as many vCPUs as the largest node count needs, on every count
        p = int(os.environ.get("WL_P") or 0) or max(
            len(os.sched_getaffinity(0)), max(nodes))
        self.results["workloads_threads"] = p
        for name in names:
            for model in wl_models():
                key = name if model == "sequential" else name + "_" + model
                try:
                    self.bench_workload(name, reps, p, nodes, model=model)
                except RunError as e:
                    self.errors.append((key, str(e)))
                    print("  %s: FAILED: %s" % (key, e), file=sys.stderr)
        # issues 13 and 14: the geometric mean of the six SPLASH-2-class
        # workloads' ratios, per node count and model
        for model in wl_models():
            sfx = "" if model == "sequential" else "_" + model
            for k in nodes:
                vals = [self.results.get("%s_ratio_%dnode%s" % (n, k, sfx))
                        for n in SPLASH6]
                key = "splash6_geomean_%dnode%s" % (k, sfx)
                if all(isinstance(v, (int, float)) and v > 0 for v in vals):
                    self.results[key] = math.exp(
                        sum(math.log(v) for v in vals) / len(vals))
                else:
                    self.results[key] = None

    def bench_workloads_small(self, reps):
        """The workloads at the small sizes of WL_SMALL, natively and under
        cvmm on one node, alternating: NAME_small_*."""
        reps = int(os.environ.get("REPS") or WL_SMALL_REPS)
        p = int(os.environ.get("WL_P") or 0) or len(os.sched_getaffinity(0))
        self.results["workloads_small_threads"] = p
        for name in WORKLOADS:
            try:
                self.bench_workload(name, reps, p, (1,), WL_SMALL[name],
                                    name + "_small")
            except RunError as e:
                self.errors.append((name + "_small", str(e)))
                print("  %s_small: FAILED: %s" % (name, e), file=sys.stderr)

    def bench_workload(self, name, reps, p, nodes, args=(), key=None,
                       model="sequential"):
        """name with args and -p p natively and under cvmm -v p on each
        node count of nodes, alternating; keys start with key (default
        name). Runs on several nodes write --stats, whose fault counts
        become key_faults_Knode. model "release": the cvmm runs use
        --memory-model=release and their keys end in _release
        (NAME_cvmm_Knode_release_s, NAME_ratio_Knode_release, and from
        --stats NAME_diffs_Knode_release, NAME_notices_Knode_release)."""
        g = self.workload(name)
        key = key or name
        sfx = "" if model == "sequential" else "_" + model
        mflags = [] if model == "sequential" else ["--memory-model=" + model]
        native = []  # the first native stdout, which every run must match
        stats = os.path.join(self.scratch, ".cvmm-stats.json")

        def run_s(under_cvmm, k=1):
            flags = (["--stats=" + stats] + wl_flags()
                     if under_cvmm and k > 1 else [])
            if under_cvmm:
                flags = flags + mflags
            out, secs = self.run([g] + list(args) + ["-p", str(p)],
                                 under_cvmm, p, k, flags)
            lines = out.strip().splitlines()
            last = lines[-1] if lines else "(no output)"
            if not last.startswith(name + ": PASS"):
                raise RunError("%s: self-check failed%s: %s"
                               % (name, " under cvmm" if under_cvmm else "",
                                  last))
            if not native:
                native.append(out)
            elif out != native[0]:
                diff = [(x, y) for x, y in zip(out.splitlines() + [""],
                                               native[0].splitlines() + [""])
                        if x != y] or [(out[-80:], native[0][-80:])]
                raise RunError("%s: output differs from the native run's: "
                               "%r, native %r" % ((name,) + diff[0]))
            if under_cvmm and k > 1:
                counts = stats_counts(stats)
                self.sample("%s_faults_%dnode%s" % (key, k, sfx),
                            lambda: counts[0])
                self.sample("%s_migrations_%dnode%s" % (key, k, sfx),
                            lambda: counts[1])
                if sfx:
                    self.sample("%s_diffs_%dnode%s" % (key, k, sfx),
                                lambda: counts[2])
                    self.sample("%s_notices_%dnode%s" % (key, k, sfx),
                                lambda: counts[3])
                    for i, what in ((4, "seqfault"), (5, "datafault"),
                                    (6, "handover")):
                        self.sample("%s_%s_%dnode%s_s" % (key, what, k,
                                                           sfx),
                                    lambda i=i: counts[i])
            return secs

        print("%s: %s-p %d, native vs cvmm -v %d on %s node(s), %d reps"
              % (key, "".join(a + " " for a in args), p, p,
                 "/".join(map(str, nodes)), reps))
        # the release rows have native runs of their own, alternating with
        # them as the sequential rows' do: NAME_native_release_s
        nkey = key + "_native" + sfx + "_s"
        for _ in range(reps):
            self.sample(nkey, lambda: run_s(False))
            for k in nodes:
                self.sample("%s_cvmm_%dnode%s_s" % (key, k, sfx),
                            lambda: run_s(True, k))
        self.median(nkey)
        for k in nodes:
            self.median("%s_cvmm_%dnode%s_s" % (key, k, sfx))
            self.ratio("%s_ratio_%dnode%s" % (key, k, sfx),
                       "%s_cvmm_%dnode%s_s" % (key, k, sfx), nkey)
            if k > 1:
                self.median("%s_faults_%dnode%s" % (key, k, sfx))
                self.median("%s_migrations_%dnode%s" % (key, k, sfx))
                if sfx:
                    self.median("%s_diffs_%dnode%s" % (key, k, sfx))
                    self.median("%s_notices_%dnode%s" % (key, k, sfx))
                    for what in ("seqfault", "datafault", "handover"):
                        self.median("%s_%s_%dnode%s_s" % (key, what, k,
                                                          sfx))

    # ---- output ------------------------------------------------------------
    def table(self):
        print()
        print("%-28s %12s %12s %12s %5s" % ("benchmark", "median", "min",
                                            "max", "runs"))
        for name in sorted(self.results):
            s = self.samples.get(name)
            if name.endswith("_error"):
                continue
            if self.results[name] is None:
                print("%-28s %12s" % (name, "null"))
            elif s:
                print("%-28s %12.4g %12.4g %12.4g %5d"
                      % (name, statistics.median(s), min(s), max(s), len(s)))
            else:
                print("%-28s %12.4g" % (name, self.results[name]))
        for name, err in self.errors:
            print("%-28s FAILED: %s" % (name, err))

    def write(self):
        os.makedirs(OUT_DIR, exist_ok=True)
        data = {}
        try:
            with open(RESULTS) as f:
                old = json.load(f)
            if isinstance(old, dict):
                data = old
        except (OSError, ValueError):
            pass
        for k in self.missing:  # no stale value next to fresh ones
            data.pop(k, None)
        data.update(self.results)
        tmp = RESULTS + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, RESULTS)
        print("\nwrote %s" % os.path.relpath(RESULTS))


def fib_iter(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def stats_counts(path):
    """The coherence faults (read + write, every node's) and the thread
    migrations of the --stats JSON file cvmm wrote at path
    (src/core/stats.c); removes the file."""
    try:
        with open(path) as f:
            doc = json.load(f)
        os.unlink(path)
        rel = doc.get("release") or {}
        return (int(doc["faults"]["read"]) + int(doc["faults"]["write"]),
                int(doc.get("migrations", {}).get("total", 0)),
                int(rel.get("diffs_sent", 0)),
                int(rel.get("write_notices", 0)),
                rel.get("seq_page_fault_ns", 0) / 1e9,
                rel.get("data_page_fault_ns", 0) / 1e9,
                rel.get("handover_release_ns", 0) / 1e9)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RunError("--stats file %s: no fault counts (%s)" % (path, e))


def wl_flags():
    """Extra cvmm run flags of the multi-node workload runs (WL_FLAGS,
    split at spaces: "--placement=auto --read-ahead=0")."""
    return (os.environ.get("WL_FLAGS") or "").split()


def wl_models():
    """Memory models the workloads run in (WL_MODELS, e.g. "sequential" or
    "sequential,release"; default both)."""
    v = os.environ.get("WL_MODELS", "") or "sequential,release"
    models = [m.strip() for m in v.split(",") if m.strip()]
    for m in models:
        if m not in ("sequential", "release"):
            sys.exit("WL_MODELS: unknown memory model %r" % m)
    return models


def wl_nodes():
    """Node counts for the workloads: WL_NODES (e.g. "1,2,4") or the
    default."""
    v = os.environ.get("WL_NODES", "")
    if not v:
        return WL_NODES
    try:
        nodes = tuple(int(x) for x in v.split(",") if x.strip())
    except ValueError:
        nodes = ()
    if not nodes or min(nodes) < 1:
        raise RunError("WL_NODES must be node counts like 1,2,4, not %r" % v)
    return nodes


# Run by default, in this order.
BENCHES = {"startup": Bench.bench_startup,
           "syscall": Bench.bench_syscall, "clock": Bench.bench_clock,
           "fib": Bench.bench_fib,
           "xp": Bench.bench_xp, "faults": Bench.bench_faults,
           "uffd": Bench.bench_uffd, "downgrade": Bench.bench_downgrade,
           "fib_nodes": Bench.bench_fib_nodes,
           "migrate": Bench.bench_migrate,
           "leave": Bench.bench_leave,
           "join": Bench.bench_join, "elastic": Bench.bench_elastic,
           "workloads_small": Bench.bench_workloads_small,
           "workloads": Bench.bench_workloads}
# Also selectable with BENCH: one workload.
ONLY = dict(BENCHES)
for _w in WORKLOADS:
    ONLY[_w] = (lambda w: lambda b, reps: b.bench_workloads(reps, (w,)))(_w)


def main():
    ap = argparse.ArgumentParser(description="cvmm benchmarks")
    ap.add_argument("--build", default=os.environ.get("BUILD") or "build")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    cvmm = os.path.abspath(os.environ.get("CVMM") or
                           os.path.join(build, "cvmm"))
    reps = int(os.environ.get("REPS") or 5)
    only = [x for x in (os.environ.get("BENCH") or "").split(",") if x]
    if any(x not in ONLY for x in only):
        print("BENCH must be one or more (comma separated) of: %s"
              % " ".join(sorted(ONLY)), file=sys.stderr)
        return 2
    b = Bench(build, cvmm)
    try:
        for name, fn in (ONLY if only else BENCHES).items():
            if not only or name in only:
                try:
                    fn(b, reps)
                except RunError as e:
                    b.errors.append((name, str(e)))
                    print("  %s: FAILED: %s" % (name, e), file=sys.stderr)
    finally:
        shutil.rmtree(b.scratch, ignore_errors=True)
    b.table()
    b.write()
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main())
