# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Kernel isolation of the PromptPO sandbox: bubblewrap namespaces plus a seccomp allow-list.

The child (`sandbox_child.py`) is started by `bwrap` in new user, pid, network, ipc, uts and
cgroup namespaces, as uid/gid 65534 inside, with a fresh /proc (only its own processes), no
network interface but its own loopback, and a read-only root that holds only what the
interpreter and numpy load: the executable, its ELF loader, the shared libraries it maps, the
standard library (its site-packages hidden) and the numpy package. Everything else on the
machine does not exist for it. After its imports the child installs a seccomp filter
(compiled here with libseccomp, through `pyseccomp`) that allows only the system calls a
running policy needs: no open, socket, fork, exec, kill, ptrace or mount; anything else
fails with EPERM.

`problem()` says which piece is missing on this machine (None when all are there).
"""

import errno
import functools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

# What a policy may still do once shut in: compute, read its request, write its answer, exit.
ALLOWED_SYSCALLS = (
    'read',
    'write',
    'readv',
    'writev',
    'close',
    'fstat',
    'newfstatat',
    'lseek',
    'mmap',
    'munmap',
    'mprotect',
    'mremap',
    'madvise',
    'brk',
    'rt_sigaction',
    'rt_sigprocmask',
    'rt_sigreturn',
    'sigaltstack',
    'futex',
    'getrandom',
    'clock_gettime',
    'clock_getres',
    'gettimeofday',
    'nanosleep',
    'clock_nanosleep',
    'sched_yield',
    'sched_getaffinity',
    'getrusage',
    'getpid',
    'gettid',
    'getuid',
    'geteuid',
    'getgid',
    'getegid',
    'exit',
    'exit_group',
    'restart_syscall',
)
SANDBOX_UID = 65534
INSTALL_HINT = (
    'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and the pinned Python '
    'packages (make setup), or run with promptpo.sandbox:=rlimits (weaker)'
)


def interpreter() -> str:
    """Return the real interpreter binary (a venv's python is a symlink to it)."""
    return os.path.realpath(sys.executable)


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes:
    """Compile the seccomp-BPF allow-list (default: EPERM) for this machine's architecture."""
    import pyseccomp

    syscall_filter = pyseccomp.SyscallFilter(defaction=pyseccomp.ERRNO(errno.EPERM))
    for name in ALLOWED_SYSCALLS:
        try:
            syscall_filter.add_rule(pyseccomp.ALLOW, name)
        except (ValueError, RuntimeError, OSError):  # not a system call on this architecture
            continue
    with tempfile.TemporaryFile() as out:
        syscall_filter.export_bpf(out)
        out.seek(0)
        return out.read()


def _elf_interpreter(path: str) -> str | None:
    """PT_INTERP of a 64-bit little-endian ELF executable (its dynamic loader), if any."""
    with open(path, 'rb') as f:
        head = f.read(64)
        if head[:4] != b'\x7fELF' or head[4] != 2 or head[5] != 1:
            return None
        phoff, phentsize, phnum = (
            struct.unpack_from('<Q', head, 32)[0],
            *struct.unpack_from('<HH', head, 54),
        )
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, offset, _, _, size = struct.unpack('<IIQQQQ', f.read(40))
            if p_type == 3:  # PT_INTERP
                f.seek(offset)
                return f.read(size).rstrip(b'\0').decode()
    return None


def _stdlib() -> str:
    """Return the base interpreter's stdlib (a venv's sysconfig paths point into the venv)."""
    return os.path.dirname(os.__file__)


def _aliases(files: list[str]) -> set[str]:
    """Symlinks next to `files` that point at them (sonames such as libz.so.1)."""
    targets = set(files)
    found = set()
    for folder in {os.path.dirname(f) for f in files}:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink() and os.path.realpath(entry.path) in targets:
                    found.add(entry.path)
    return found


@functools.lru_cache(maxsize=8)
def read_only_binds(python: str, numpy_path: str, child: str) -> tuple[str, ...]:
    """Return the paths the child reads before it shuts itself in, found by a probe run.

    The probe is the child itself, run once without a sandbox (no policy code): it imports
    what it imports for a policy and lists the files it has mapped (shared libraries).
    """
    probe = subprocess.run(
        [python, '-I', '-S', child, '--probe', numpy_path],
        capture_output=True,
        timeout=60,
        # The loader finds libpython the way it did for this process (RUNPATH, or
        # LD_LIBRARY_PATH for a relocated interpreter).
        env={'OPENBLAS_NUM_THREADS': '1', 'LD_LIBRARY_PATH': os.environ.get('LD_LIBRARY_PATH', '')},
        cwd='/',
        check=False,
    )
    if probe.returncode != 0:
        tail = probe.stderr.decode(errors='replace').strip().splitlines()[-1:] or ['no output']
        raise RuntimeError(f'the sandbox child does not start: {tail[0]}')
    mapped = json.loads(probe.stdout)['mapped']
    paths = {python, child, *mapped, *_aliases(mapped)}
    paths.add(_stdlib())
    numpy_dir = Path(numpy_path)
    paths.update(str(p) for p in (numpy_dir / 'numpy', numpy_dir / 'numpy.libs') if p.exists())
    dirs = [p for p in paths if os.path.isdir(p)]
    inside = {p for p in paths for d in dirs if p != d and p.startswith(d + os.sep)}
    return tuple(sorted(p for p in paths - inside if os.path.exists(p)))


def bwrap_command(python: str, numpy_path: str, child: str) -> list[str]:
    """Return the bwrap arguments that start a command shut in (it follows `--`)."""
    bwrap = shutil.which('bwrap')
    if bwrap is None:
        raise RuntimeError('bubblewrap (bwrap) is not installed')
    cmd = [bwrap, '--unshare-all', '--unshare-user', '--uid', str(SANDBOX_UID)]
    cmd += ['--gid', str(SANDBOX_UID), '--die-with-parent', '--new-session', '--cap-drop', 'ALL']
    binds = read_only_binds(python, numpy_path, child)
    for path in binds:
        cmd += ['--ro-bind', path, path]
    loader = _elf_interpreter(python)
    if loader and os.path.realpath(loader) != loader:  # e.g. /lib64/ld-linux-x86-64.so.2
        cmd += ['--ro-bind', os.path.realpath(loader), loader]
    stdlib_site = Path(_stdlib()) / 'site-packages'
    if stdlib_site.is_dir():  # the base interpreter's own packages: hidden
        cmd += ['--tmpfs', str(stdlib_site)]
    # Every shared library where the loader looks first: its RUNPATH or ld.so.cache may name
    # paths that are not there inside.
    libraries = sorted({os.path.dirname(p) for p in binds if '.so' in os.path.basename(p)})
    cmd += ['--setenv', 'LD_LIBRARY_PATH', ':'.join(libraries)]
    cmd += ['--proc', '/proc', '--remount-ro', '/', '--chdir', '/', '--']
    return cmd


@functools.lru_cache(maxsize=1)
def _check(python: str, numpy_path: str, child: str) -> str | None:
    if shutil.which('bwrap') is None:
        return 'bubblewrap (bwrap) is not installed'
    try:
        seccomp_program()
    except ImportError:
        return 'the Python package pyseccomp is not installed'
    except (OSError, RuntimeError, AttributeError) as exc:  # libseccomp.so.2 missing or broken
        return f'libseccomp does not work here ({type(exc).__name__}: {exc})'
    try:
        cmd = bwrap_command(python, numpy_path, child)
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
        return str(exc)
    trial = subprocess.run(  # the child's own imports, shut in
        [*cmd, python, '-I', '-S', child, '--probe', numpy_path],
        capture_output=True,
        timeout=60,
        env={},
        check=False,
    )
    if trial.returncode != 0:
        tail = trial.stderr.decode(errors='replace').strip().splitlines()[-1:] or ['no output']
        return f'bubblewrap cannot create the sandbox here (user namespaces disabled?): {tail[0]}'
    return None


def problem(numpy_path: str, child: str) -> str | None:
    """Return what kernel isolation lacks on this machine, or None (checked once)."""
    return _check(interpreter(), numpy_path, child)
