"""Sandbox bootstrap: run as `python -I -S _sandbox_boot.py WORKDIR SETTINGS_JSON`, never imported.

It joins the run's control groups (when the settings name some), then in a new mount, network, PID, IPC and UTS
namespace (plus a user namespace when not root) builds a new root file system in memory: read-only binds of the
interpreter, its standard library and the shared libraries they load (nothing else of the host), /dev/null and
the random devices, a fresh /proc, and a size-bounded tmpfs on /tmp holding a copy of WORKDIR/main.py. It
pivots into that root, detaches the host's, sets resource limits, drops to an unprivileged user with no
capabilities, and execs Python on /tmp/main.py with a clean environment.
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
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
DEVICES = ("null", "zero", "full", "random", "urandom")
SANDBOX_UID = 1000  # the uid inside a user namespace: not 0, so exec leaves the process without capabilities
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def fail(message):
    os.write(2, f"graphwright-sandbox: {message}\n".encode())
    os._exit(125)


def check(result, what):
    if result != 0:
        fail(f"{what}: {os.strerror(ctypes.get_errno())}")


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    return libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data))


def write(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def kept_flags(path):
    """The flags a read-only remount of a bind of `path` must keep (a user namespace may not drop locked ones)."""
    flags = os.statvfs(path).f_flag
    keep = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    return keep | (MS_RELATIME if flags & 4096 else 0)  # ST_RELATIME


def bind(source, root, *, writable=False, extra=0):
    """Bind host path `source` at the same path under `root`, read-only unless `writable`."""
    target = root + source
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    check(mount(source, target, None, MS_BIND | MS_REC), f"binding {source}")
    if not writable:
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | kept_flags(source) | extra
        check(mount(None, target, None, flags), f"making {source} read-only")


def build_root(workdir, settings):
    """Make the sandbox's root file system under WORKDIR/root and pivot into it."""
    check(mount(None, "/", None, MS_REC | MS_PRIVATE), "making mounts private")
    root = os.path.join(workdir, "root")
    check(mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755"), "mounting the root")
    for path in settings["binds"]:
        bind(path, root)
    for path in settings["masks"]:  # installed packages inside a bound folder: hidden under an empty tmpfs
        check(mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555"), f"hiding {path}")
    for path, target in settings["links"]:
        os.makedirs(os.path.dirname(root + path), mode=0o755, exist_ok=True)
        os.symlink(target, root + path)
    for device in DEVICES:
        bind(f"/dev/{device}", root, writable=True)
        check(mount(None, root + f"/dev/{device}", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | kept_flags(f"/dev/{device}")), "locking /dev")
    tmp = os.path.join(root, "tmp")
    os.mkdir(tmp)
    size = f"size={settings['tmp_bytes']},nr_inodes={settings['tmp_files']},mode=1777"
    check(mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, size), "mounting /tmp")
    with open(os.path.join(workdir, "main.py"), "rb") as src, open(os.path.join(tmp, "main.py"), "wb") as dst:
        dst.write(src.read())
    os.chmod(os.path.join(tmp, "main.py"), 0o644)
    os.mkdir(os.path.join(root, "proc"))
    check(mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC), "mounting /proc")
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        fail(f"no pivot_root system call number known for {os.uname().machine}")
    os.chdir(root)
    check(libc.syscall(number, b".", b"."), "pivoting into the new root")  # the host's root is now stacked under it
    check(libc.umount2(b".", MNT_DETACH), "detaching the host's root")
    os.chdir("/")
    check(mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None), "making / read-only")


def join_groups(paths):
    for path in paths:
        try:
            write(path, str(os.getpid()))
        except OSError as exc:
            fail(f"joining the control group {path}: {exc.strerror}")


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
    join_groups(limits["cgroups"])  # before any fork: every process of the sandbox shares one budget
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
    build_root(workdir, limits)
    code = os.fork()  # PID 1 ignores signals it has no handler for (SIGXCPU too): the code runs as PID 2
    if code:
        while True:  # PID 1 reaps every orphan and ends with the code's status, taking the namespace along
            pid, status = os.wait()
            if pid == code:
                os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    set_limits(limits)
    if as_root:  # a user id of its own: RLIMIT_NPROC then counts only this sandbox's processes
        os.setgroups([])
        os.setgid(limits["uid"])
        os.setuid(limits["uid"])
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "setting the parent-death signal")
    os.chdir("/tmp")
    python = limits["python"]
    os.execve(python, [python, "-I", "-B", "/tmp/main.py"], CLEAN_ENV)


if __name__ == "__main__":
    main()
