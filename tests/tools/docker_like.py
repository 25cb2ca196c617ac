"""Run a command under a Docker-like confinement: `python docker_like.py COMMAND...`.

Docker's default seccomp profile refuses a root process new namespaces and mounts (unshare, setns,
mount, the namespace flags of clone; clone3 answers ENOSYS so libc falls back to clone), which is
what Gradescope, AutoDL and most Kubernetes pods give the grader (containers/bubblewrap#505). The
tests grade under this filter to show the container mode's verdicts equal bubblewrap's. Only the
namespace and mount calls are refused: the capabilities Docker keeps (setuid, chown) stay.
"""
import errno
import os
import sys

import pyseccomp as sc

REFUSED = ("unshare", "setns", "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount")
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def confine() -> None:
    f = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in REFUSED:
        f.add_rule(sc.ERRNO(errno.EPERM), name)
    for flag in NAMESPACE_FLAGS:
        f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    f.load()


if __name__ == "__main__":
    confine()
    os.environ["GRADER_DOCKER_LIKE"] = "1"   # for the tests' own skips, never read by the grader
    os.execvp(sys.argv[1], sys.argv[1:])
