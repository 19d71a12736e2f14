#!/usr/bin/env python3
"""leak.py CVMM PID...: what a guest that found one agent pointer could
compute, read from the outside (/proc/PID/maps), for the attack guests.

Prints, for the agent process(es) given, one "name 0xaddr" line each:
  syscall_ret  a `syscall; ret` sequence in the agent's libc (host calls
               from outside the guest window: allowed by --entry seccomp's
               trap filter, trapped by Syscall User Dispatch)
  stub         the syscall instruction of cvmm_sigreturn_stub (the one
               place Syscall User Dispatch lets through)
  agent_text   the first executable byte of the cvmm binary
  agent_data   the first writable byte of the cvmm binary (.data)
Every PID must map these at the same addresses (run the agents with
ASLR off: setarch -R); otherwise the guest could not use one set of
addresses on every node, and the script fails with one line."""
import re
import subprocess
import sys


def maps(pid):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)", line)
            if m:
                out.append((int(m[1], 16), int(m[2], 16), m[3], int(m[4], 16), m[5].strip()))
    return out


def symbol(binary, name):
    nm = subprocess.run(["nm", binary], capture_output=True, text=True, check=True)
    for line in nm.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] == name:
            return int(f[0], 16)
    sys.exit(f"leak.py: no symbol {name} in {binary}")


def file_base(mp, path):
    """Load base of an ELF file: start of its mapping at file offset 0."""
    for lo, hi, perm, off, p in mp:
        if p == path and off == 0:
            return lo
    sys.exit(f"leak.py: {path} is not mapped")


def gadget(mp, pattern):
    """First occurrence of pattern in an executable mapping of libc."""
    for lo, hi, perm, off, p in mp:
        if "x" in perm and re.search(r"/libc[.-]", p):
            with open(p, "rb") as f:
                f.seek(off)
                data = f.read(hi - lo)
            i = data.find(pattern)
            if i >= 0:
                return lo + i
    sys.exit("leak.py: no libc gadget found")


def leak(cvmm, pid):
    mp = maps(pid)
    exe = next(p for lo, hi, perm, off, p in mp if p.endswith("/" + cvmm.split("/")[-1]))
    base = file_base(mp, exe)
    text = next(lo for lo, hi, perm, off, p in mp if p == exe and "x" in perm)
    data = next(lo for lo, hi, perm, off, p in mp if p == exe and "w" in perm)
    return {
        "syscall_ret": gadget(mp, b"\x0f\x05\xc3"),
        "stub": base + symbol(cvmm, "cvmm_sigreturn_stub") + 5,
        "agent_text": text,
        "agent_data": data,
    }


def main():
    cvmm = sys.argv[1]
    sets = [leak(cvmm, pid) for pid in sys.argv[2:]]
    for s in sets[1:]:
        if s != sets[0]:
            sys.exit("leak.py: the agents' layouts differ (ASLR on?)")
    for k, v in sets[0].items():
        print(f"{k} {v:#x}")


main()
