"""The container mode's confinement: run as `python -s confine.py SPEC -- COMMAND...` after setpriv
has dropped to the grading's own unprivileged uid, inside a container where namespaces are refused
(Docker's default seccomp profile, Gradescope, AutoDL, Kubernetes pods).

It applies, then execs COMMAND (the probe), so everything the student's code starts inherits them:
- Landlock (py-landlock, kernels 5.13+): the host read-only only where SPEC lists it (the Python
  environment, the fixtures, the probes, /usr, /etc ...), read-write only the run's own copy, output
  and tmp folders (TMPDIR; not the shared /tmp or /dev/shm); everything else, the judge's files and
  other students' work included, cannot be opened. ABI 4+: TCP bind and
  connect only to the run's own ports. ABI 6+: signals and abstract UNIX sockets only within the run.
- seccomp (pyseccomp over libseccomp): no new namespaces, mounts, ptrace, kernel keyrings, BPF,
  perf, io_uring (which Landlock and seccomp do not see), no UDP or raw sockets (no DNS, no pings).

Trusted code of ours, but it runs in the untrusted process: it must not print anything but its own
failure, which it reports with exit code 125 so the judge can tell a broken sandbox from the student.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import sys

FAILED = 125   # the sandbox itself failed (grader.sandbox reads it as the grader's failure)
PR_SET_PDEATHSIG = 1

# syscalls the student's code never needs, refused with EPERM
REFUSED = ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
           "process_vm_writev", "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "keyctl", "add_key",
           "request_key", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "move_mount",
           "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "init_module", "finit_module",
           "delete_module", "swapon", "swapoff", "reboot", "acct", "quotactl", "open_by_handle_at")
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM = 1


def landlock(spec: dict) -> str:
    from py_landlock import AccessFs, Landlock, get_abi_version

    abi = int(get_abi_version())
    rule = Landlock(strict=False)
    read = AccessFs.READ_FILE | AccessFs.READ_DIR | AccessFs.EXECUTE
    write = read | AccessFs.WRITE_FILE | AccessFs.TRUNCATE | AccessFs.REMOVE_DIR | AccessFs.REMOVE_FILE | \
        AccessFs.MAKE_DIR | AccessFs.MAKE_REG | AccessFs.MAKE_SOCK | AccessFs.MAKE_FIFO | AccessFs.MAKE_SYM | \
        AccessFs.REFER
    file_only = AccessFs.READ_FILE | AccessFs.WRITE_FILE | AccessFs.EXECUTE | AccessFs.TRUNCATE
    devices = [p for p in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
               if os.path.exists(p)]
    for paths, access in ((spec["read"], read), (spec["write"], write),
                          (devices, AccessFs.READ_FILE | AccessFs.WRITE_FILE)):
        for path in paths:
            if os.path.isdir(path):
                rule.add_path_rule(path, access=access)
            elif os.path.exists(path):   # a file takes only a file's rights
                rule.add_path_rule(path, access=access & file_only)
    # TCP: connect only to the run's own ports; bind those and port 0 (an ephemeral port, as gloo
    # and a server asked for port 0 take), no other fixed port
    rule.allow_network(0, *spec.get("ports", []), bind=True, connect=False)
    if spec.get("ports"):
        rule.allow_network(*spec["ports"], bind=False, connect=True)
    rule.apply()
    return f"landlock ABI {abi}"


def seccomp() -> None:
    import pyseccomp as sc

    f = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in REFUSED:
        try:
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        except (ValueError, RuntimeError, OSError):   # a syscall this kernel or libseccomp does not know
            pass
    for flag in NAMESPACE_FLAGS:
        f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")   # its flags are behind a pointer: glibc falls back to clone
    for domain in range(3, 46):   # only UNIX, IP (TCP) and netlink sockets
        if domain not in (AF_INET6, AF_NETLINK):
            f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.EQ, domain))
    for domain in (AF_INET, AF_INET6):
        for kind in (2, 3, 4, 5, 10):   # UDP, raw, RDM, SEQPACKET, PACKET
            f.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.EQ, domain), sc.Arg(1, sc.MASKED_EQ, 0xF, kind))
    f.load()


def main(argv: list[str]) -> None:
    try:
        split = argv.index("--")
        spec, command = json.loads(argv[split - 1]), argv[split + 1:]
        os.umask(0o077)
        # no pid namespace here: the probe dies with the judge that started it (what bwrap's
        # --die-with-parent gives); what it started is killed by uid when its run ends
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if spec.get("landlock"):
            landlock(spec)
        seccomp()
    except Exception as exc:  # noqa: BLE001 - any failure here is the sandbox's, never the student's
        print(f"grader-confine: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(FAILED)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
