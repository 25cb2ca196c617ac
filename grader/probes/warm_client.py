# The warm interpreter's client (grader/warm.py): inside a sandbox it is `python`, `python3` and
# `deepspeed` on PATH. The judge writes a copy under each name with this interpreter in its shebang and
# REAL (name -> the real program), SOCKET (the run's socket) and DROP (setpriv's argv to uid 65534)
# above this text. Stdlib only, started with -sSE: ~20 ms where a cold interpreter with torch takes
# seconds. The one at the top of a bubblewrap run is root (nothing the student's code signals can end
# it); it runs nothing of the student's, and drops to uid 65534 (DROP) where it starts cold.
#
# It asks the run's server to serve this process (argv, environment, folder, umask and its stdin, stdout
# and stderr); then it only waits, passing on the signals it gets, and ends as the served process
# ended. Whatever the server cannot serve exactly ("cold"), or no server at all, gets the real program.
import json
import os
import signal
import socket
import struct
import sys

NAME = os.path.basename(sys.argv[0])
ARGS = sys.argv[1:]
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def cold(why=""):
    if why and os.environ.get("GRADER_WARM_DEBUG"):
        sys.stderr.write(f"[grader-warm] {NAME} {ARGS[:3]}: cold: {why}\n")
    real = REAL.get(NAME) or REAL["python"]  # noqa: F821  (REAL: in the header)
    if os.getuid() == 0:
        os.execvp(DROP[0], [*DROP, real, *ARGS])  # noqa: F821  (DROP: in the header)
    os.execv(real, [real, *ARGS])


def parse():
    """What `python ARGS` runs: (kind, target, args), or None for what the server does not serve."""
    if NAME == "deepspeed":
        return "script", REAL["deepspeed"], ARGS  # noqa: F821
    i, user_site, how = 0, True, None
    while i < len(ARGS) and how is None:
        option = ARGS[i]
        if option in ("-c", "-m") and i + 1 < len(ARGS):
            how = ("code" if option == "-c" else "module"), ARGS[i + 1], ARGS[i + 2:]
        elif not option.startswith("-"):   # a script: a file (not a folder or zip)
            how = ("script", option, ARGS[i + 1:]) if os.path.isfile(option) else None
            break
        elif option == "-" or not set(option[1:]) <= set("usB"):
            return None   # stdin, another option (-u is given by PYTHONUNBUFFERED, -B as set)
        user_site = user_site and "s" not in option
        i += 1
    # the server has no user site-packages (-s): a process that would have one starts cold
    if how is None or user_site and os.path.isdir(
            os.path.expanduser(f"~/.local/lib/python3.{sys.version_info.minor}/site-packages")):
        return None
    return how


def ask(how):
    kind, target, args = how
    umask = os.umask(0)
    os.umask(umask)
    request = json.dumps({"program": NAME, "run": kind, "target": target, "args": args, "env": dict(os.environ),
                          "cwd": os.getcwd(), "umask": umask, "ppid": os.getppid()}).encode()
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(SOCKET)  # noqa: F821  (SOCKET: in the header)
    socket.send_fds(conn, [struct.pack("!I", len(request))], [0, 1, 2])
    conn.sendall(request)
    return conn


def link(pid):
    """For the run clock (grader/probes/run_clock.py): the served process counts as this one's child."""
    folder = os.environ.get("GRADER_WARM_LINKS")
    if not folder:
        return
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
            os.chmod(folder, 0o1777)   # the root client at the top makes it: the others write theirs too
        with open(os.path.join(folder, str(os.getpid())), "w") as handle:
            handle.write(str(pid))
    except OSError:
        pass


def inherited():
    """Descriptors besides stdin, stdout and stderr that this process was given (a multiprocessing
    spawn's pipe): a served process gets only those three, so such a process starts cold."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.fstat(fd)   # the listing's own descriptor is closed by now
                found.append(fd)
            except OSError:
                pass
    return found


def main():
    how = parse()
    if how is None:
        cold("an option the server does not serve")
    if inherited():
        cold("descriptors beyond stdin, stdout and stderr")
    try:
        conn = ask(how)
    except OSError as exc:
        cold(f"no server: {exc}")
    answers = conn.makefile("rb")
    first = answers.readline()
    message = json.loads(first) if first else {"cold": "no answer"}
    if "pid" not in message:
        conn.close()
        cold(message.get("cold", "refused"))
    served = message["pid"]
    link(served)
    for sig in FORWARDED:
        signal.signal(sig, lambda number, frame: os.kill(served, number))
    line = answers.readline()
    end = json.loads(line) if line else {"exit": 1}
    if "signal" in end:
        signal.signal(end["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), end["signal"])
    os._exit(int(end.get("exit", 1)) & 0xFF)


main()
