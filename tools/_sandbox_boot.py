"""Sandbox bootstrap: run as `python -I -S _sandbox_boot.py WORKDIR LIMITS_JSON`, never imported.

In a new mount, network, PID, IPC and UTS namespace (plus a user namespace when not root) it mounts a fresh
/proc, binds WORKDIR over /tmp, makes every other mount read-only, sets resource limits, drops to an
unprivileged user with no capabilities, and execs Python on WORKDIR/main.py with a clean environment.
Exit code 125 with a message on stderr means the sandbox could not be set up (nothing ran).
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
NOBODY = 65534
SANDBOX_UID = 1000  # the uid inside a user namespace: not 0, so exec leaves the process without capabilities
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]


def fail(message):
    os.write(2, f"graphwright-sandbox: {message}\n".encode())
    os._exit(125)


def check(result, what):
    if result != 0:
        fail(f"{what}: {os.strerror(ctypes.get_errno())}")


def mount(source, target, fstype, flags):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    return libc.mount(enc(source), enc(target), enc(fstype), flags, None)


def write(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def mount_points():
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4]
            points.append(point.encode().decode("unicode_escape"))
    return points


def lock_down_filesystem(workdir):
    check(mount(None, "/", None, MS_REC | MS_PRIVATE), "making mounts private")
    check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC), "mounting /proc")
    check(mount(workdir, "/tmp", None, MS_BIND), "binding the work folder on /tmp")
    for point in mount_points():
        if point == "/tmp" or point.startswith("/tmp/"):
            continue
        try:
            flags = os.statvfs(point).f_flag
        except OSError:
            continue
        keep = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
        keep |= MS_RELATIME if flags & 4096 else 0  # ST_RELATIME
        if mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep) != 0 and point == "/":
            check(-1, "making / read-only")
    check(mount(None, "/tmp", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV), "making /tmp writable")


def set_limits(limits):
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main():
    workdir, limits = sys.argv[1], json.loads(sys.argv[2])
    as_root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    check(libc.unshare(flags | (0 if as_root else CLONE_NEWUSER)), "creating namespaces")
    if not as_root:
        write("/proc/self/setgroups", "deny")
        write("/proc/self/uid_map", f"{SANDBOX_UID} {uid} 1")
        write("/proc/self/gid_map", f"{SANDBOX_UID} {gid} 1")
    child = os.fork()  # the child is PID 1 of the new PID namespace: when it ends, everything in it ends
    if child:
        signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
        _, status = os.waitpid(child, 0)
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status))
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "setting the parent-death signal")
    lock_down_filesystem(workdir)
    code = os.fork()  # PID 1 ignores signals it has no handler for (SIGXCPU too): the code runs as PID 2
    if code:
        while True:  # PID 1 reaps every orphan and ends with the code's status, taking the namespace along
            pid, status = os.wait()
            if pid == code:
                os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    set_limits(limits)
    if as_root:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "setting the parent-death signal")
    os.chdir("/tmp")
    python = limits["python"]
    os.execve(python, [python, "-I", "-B", "/tmp/main.py"], CLEAN_ENV)


if __name__ == "__main__":
    main()
