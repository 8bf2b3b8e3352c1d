# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sandbox's child process: run LLM-written code under limits, answer in JSON on stdout.

Started by `icpi_ros.core.promptpo.sandbox` as `python -I -S <this file>` (no site-packages, no
PYTHON* variables, no current directory on the path), with a minimal environment. It reads
a JSON request from stdin ({code, numpy_path, memory_mb, cpu_s, seccomp, ...}), imports
numpy, then shuts itself in (`apply_limits`, then the seccomp filter the parent compiled, if
any) and only then compiles and runs the code with restricted builtins and an importer that
hands out filtered copies of math and numpy. Two modes:

- one shot (no argument): the request is all of stdin; it calls `policy(goal)` (or else
  `Policy().act(goal)`) and writes one JSON line: {"ok": true, "theta": [...], ...} or not.
- `--serve`: length-prefixed JSON frames both ways; it instantiates one class of the code
  and answers calls of its methods until stdin closes (`serve`; `policy_process.py`).

`--probe NUMPY_PATH` imports what a run imports and lists the files it mapped (what the kernel
sandbox must provide). This file imports nothing from icpi_ros: it runs by path.
"""

import base64
import json
import math
import os
import sys
import types

# Only these modules may be imported by the policy code (the static check says the same).
ALLOWED_MODULES = ('math', 'numpy', 'numpy.linalg', 'numpy.random', 'numpy.fft')
# numpy names withheld from the policy code: file I/O, introspection, escape hatches.
# fmt: off
NUMPY_DENIED = frozenset({
    'DataSource', 'ctypeslib', 'distutils', 'f2py', 'fromfile', 'fromregex', 'genfromtxt',
    'get_include', 'info', 'lib', 'load', 'loadtxt', 'memmap', 'save', 'savetxt', 'savez',
    'savez_compressed', 'show_config', 'show_runtime', 'test', 'testing',
})
SAFE_BUILTINS = (
    'abs', 'all', 'any', 'bool', 'classmethod', 'complex', 'dict', 'divmod', 'enumerate',
    'filter', 'float', 'frozenset', 'int', 'isinstance', 'iter', 'len', 'list', 'map', 'max',
    'min', 'next', 'pow', 'property', 'range', 'repr', 'reversed', 'round', 'set', 'slice',
    'sorted', 'staticmethod', 'str', 'sum', 'tuple', 'zip', 'ArithmeticError', 'AssertionError',
    'Exception', 'FloatingPointError', 'IndexError', 'KeyError', 'LookupError', 'MemoryError',
    'NotImplementedError', 'OverflowError', 'RuntimeError', 'StopIteration', 'TypeError',
    'ValueError', 'ZeroDivisionError',
)
# fmt: on
MAX_PRINTED = 1000  # characters of the policy's print() output kept for the record
MAX_VALUES = 64  # a policy returning more values than this is not a theta
NOBODY = 65534
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def apply_limits(memory_mb: float, cpu_s: float) -> dict:
    """Shut the current process in; call after the last import and file read.

    - RLIMIT_AS: the current address space + `memory_mb` (numpy is already mapped).
    - RLIMIT_CPU: the CPU time used so far + `cpu_s` (SIGXCPU, then SIGKILL one second later).
    - RLIMIT_FSIZE 0 (no file can grow) and RLIMIT_CORE 0.
    - root drops to nobody (RLIMIT_NPROC does not bind root); no_new_privs.
    - RLIMIT_NPROC 0: no fork, no thread.
    - every descriptor above 2 closed and RLIMIT_NOFILE 3: no file, socket or pipe can be
      opened (stdin, stdout and stderr stay open).

    Returns what was applied, for the record.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_limit = math.ceil(usage.ru_utime + usage.ru_stime + cpu_s)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_limit + 1))
    vm_bytes = 0
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmSize:'):
                    vm_bytes = int(line.split()[1]) * 1024
    except OSError:
        pass
    address_space = vm_bytes + int(memory_mb * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    applied = {'cpu_s': cpu_limit, 'address_space_mb': round(address_space / 2**20, 1)}
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        applied['no_new_privs'] = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        applied['no_new_privs'] = False
    # Lowered before dropping to nobody: setuid then flags the process over its limit, which
    # also makes execve fail.
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    applied['uid'] = os.getuid()
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    return applied


def install_seccomp(program: bytes) -> None:
    """Install a seccomp-BPF program (struct sock_filter[]); needs no_new_privs set first.

    Raises:
        OSError: the kernel refused the filter.

    """
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = (('len', ctypes.c_ushort), ('filter', ctypes.c_void_p))

    buffer = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    mode, ptr = ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog)
    if libc.prctl(ctypes.c_int(PR_SET_SECCOMP), mode, ptr, ctypes.c_ulong(0), ctypes.c_ulong(0)):
        raise OSError(ctypes.get_errno(), 'seccomp filter refused')


def _filtered_module(module: types.ModuleType, name: str, submodules: dict) -> types.ModuleType:
    """Return a copy of `module` without private names, modules and withheld names."""
    copy = types.ModuleType(name)
    for key, value in vars(module).items():
        if key.startswith('_') or key in NUMPY_DENIED or isinstance(value, types.ModuleType):
            continue
        setattr(copy, key, value)
    for key, value in submodules.items():
        setattr(copy, key, value)
    return copy


def _prepare(numpy_path: str) -> None:
    """Import everything a run needs before it shuts itself in (no file can be read after)."""
    sys.path.insert(0, numpy_path)
    import ctypes  # noqa: F401  (apply_limits and install_seccomp use it)
    import resource  # noqa: F401

    import numpy  # noqa: F401
    import numpy.fft  # noqa: F401
    import numpy.linalg  # noqa: F401
    import numpy.random  # noqa: F401


def _safe_modules() -> dict[str, types.ModuleType]:
    import numpy

    subs = {
        'linalg': _filtered_module(numpy.linalg, 'numpy.linalg', {}),
        'random': _filtered_module(numpy.random, 'numpy.random', {}),
        'fft': _filtered_module(numpy.fft, 'numpy.fft', {}),
    }
    return {
        'math': _filtered_module(math, 'math', {}),
        'numpy': _filtered_module(numpy, 'numpy', subs),
        **{f'numpy.{k}': v for k, v in subs.items()},
    }


class _Discard:
    """Where sys.stdout and sys.stderr go while the policy runs (numpy may print or warn)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _Printed:
    """print() for the policy: keeps the first MAX_PRINTED characters."""

    def __init__(self) -> None:
        self.text = ''

    def __call__(self, *args, sep: str = ' ', end: str = '\n', **_ignored) -> None:
        if len(self.text) < MAX_PRINTED:
            self.text = (self.text + sep.join(str(a) for a in args) + end)[:MAX_PRINTED]


def restricted_builtins(modules: dict[str, types.ModuleType], printed: _Printed) -> dict:
    """Builtins of the policy code: a small allow-list and an importer of `modules` only."""
    import builtins

    def importer(name, scope=None, local_scope=None, fromlist=(), level=0):
        if fromlist == [] and name in sys.modules:  # C code (numpy's lazy imports of itself):
            return None  # PyImport_Import passes [] and reads sys.modules, not this result
        if level != 0 or name not in modules:
            raise ImportError(f'forbidden import {name} (runtime)')
        return modules[name] if fromlist else modules[name.split('.')[0]]

    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    safe['__import__'] = importer
    safe['__build_class__'] = builtins.__build_class__  # plain classes (no metaclass: layer 1)
    safe['print'] = printed
    return safe


def _user_line(exc: BaseException) -> str:
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == '<policy>':
            line = tb.tb_lineno
        tb = tb.tb_next
    return f' (line {line})' if line is not None else ''


def error_text(exc: BaseException) -> str:
    """One line for the policy's failure: `Type: message (line N)`, whatever it raised."""
    if isinstance(exc, MemoryError):
        return 'MemoryError: out of memory (address-space limit)'
    if isinstance(exc, RecursionError):
        return 'RecursionError: maximum recursion depth exceeded'
    try:
        message = f'{type(exc).__name__}: {exc}'[:300]
    except BaseException:  # noqa: B036 (a str() that fails is still a failed policy)
        message = type(exc).__name__
    return message + _user_line(exc)


def _entry_point(scope: dict):
    """`policy`, else `Policy().act`; None if the code defines neither."""
    if callable(scope.get('policy')):
        return scope['policy']
    cls = scope.get('Policy')
    act = getattr(cls(), 'act', None) if isinstance(cls, type) else None
    return act if callable(act) else None


def _shut_in(request: dict) -> tuple[dict, _Printed, dict]:
    """Import, build the code's scope, apply the limits and the seccomp filter (OSError if refused).

    Returns (scope, printed, limits applied). `restricted: false` (the tests' hostile suite
    only) gives the code the real builtins and importer: the Python layers off.
    """
    _prepare(request['numpy_path'])
    printed = _Printed()
    if request.get('restricted', True):
        builtins_scope = restricted_builtins(_safe_modules(), printed)
    else:  # what a policy that got past layers 1 and 2 would reach for, imported beforehand
        import builtins
        import socket  # noqa: F401
        import subprocess  # noqa: F401

        builtins_scope = builtins.__dict__
    scope = {'__builtins__': builtins_scope, '__name__': 'policy'}
    sys.stdout = sys.stderr = _Discard()  # only main() and _send write, to the saved stdout
    limits = apply_limits(request['memory_mb'], request['cpu_s'])
    if request.get('seccomp'):
        install_seccomp(base64.b64decode(request['seccomp']))
        limits['seccomp'] = True
    return scope, printed, limits


def run(request: dict) -> dict:
    """Import, shut in, compile and run `policy(goal)`; return the result (never raises)."""
    try:
        scope, printed, limits = _shut_in(request)
    except OSError as exc:
        return {'ok': False, 'error': f'sandbox setup failed: {exc}', 'stage': 'process'}
    numpy = sys.modules['numpy']
    try:
        exec(compile(request['code'], '<policy>', 'exec'), scope)
        policy = _entry_point(scope)
        if policy is None:
            return {'ok': False, 'error': 'the code defines no policy(goal) and no Policy.act'}
        values = numpy.asarray(policy(numpy.array(request['goal'], dtype=float)), dtype=float)
        if values.size > MAX_VALUES:
            return {'ok': False, 'error': f'wrong shape: policy returned {values.size} values'}
        theta, shape = [float(v) for v in values.ravel()], list(values.shape)
        return {
            'ok': True,
            'theta': theta,
            'shape': shape,
            'printed': printed.text,
            'limits': limits,
        }
    except BaseException as exc:  # the policy's failure is the result, whatever it is
        return {'ok': False, 'error': error_text(exc)}


# --- serve: one persistent object (PromptPO's closed-loop `Policy`, its `Feedback`) ---------
FRAME_HEADER = 4  # frames both ways: a 4-byte big-endian length, then UTF-8 JSON


def receive() -> dict | None:
    """Read one framed request from stdin (None at the end of input)."""
    head = sys.stdin.buffer.read(FRAME_HEADER)
    size = int.from_bytes(head, 'big')
    body = sys.stdin.buffer.read(size) if len(head) == FRAME_HEADER else b''
    return json.loads(body) if len(head) == FRAME_HEADER and len(body) == size else None


def frame(message: dict) -> bytes:
    """Encode one message as a frame (numpy arrays and scalars become lists and floats)."""
    data = json.dumps(message, default=_plain).encode()
    return len(data).to_bytes(FRAME_HEADER, 'big') + data


def _plain(value):
    numpy = sys.modules['numpy']  # imported before any code runs
    if isinstance(value, numpy.ndarray | numpy.generic):
        return value.tolist()
    raise TypeError(f'returned a {type(value).__name__}, not numbers, lists or dicts')


def _send(message: dict) -> None:
    try:
        data = frame(message)
    except BaseException as exc:  # noqa: B036 (what the method returned cannot be sent)
        data = frame({'ok': False, 'error': error_text(exc)})
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def _load(scope: dict, request: dict) -> dict | str:
    """Run the code, instantiate the entry class; its methods by call name, or why not."""
    exec(compile(request['code'], '<policy>', 'exec'), scope)
    entry = request['entry']
    if not isinstance(scope.get(entry), type):
        return f'the code defines no class {entry}'
    try:
        instance = scope[entry]()
    except BaseException as exc:  # noqa: B036 (the code's failure is the answer)
        return f'{entry}() failed: {error_text(exc)}'
    methods = {}
    for call, names in request['methods'].items():
        found = [getattr(instance, n) for n in names if callable(getattr(instance, n, None))]
        if found:
            methods[call] = found[0]
        elif call in request['required']:
            return f'class {entry} has no method {" or ".join(names)}'
    return methods


def serve(request: dict) -> None:
    """Shut in, load the class, answer {call, args} frames until stdin closes.

    The first answer is {"ok": true, "limits": ...} once the instance exists (or why not);
    then one {"ok": true, "value": ...} or {"ok": false, "error": ...} per call, with any new
    print() output. A call of an optional method the class does not define returns null.
    """
    try:
        scope, printed, limits = _shut_in(request)
    except OSError as exc:
        return _send({'ok': False, 'error': f'sandbox setup failed: {exc}', 'stage': 'process'})
    try:
        methods = _load(scope, request)
    except BaseException as exc:  # noqa: B036 (the code's failure is the answer)
        methods = error_text(exc)
    if isinstance(methods, str):
        return _send({'ok': False, 'error': methods})
    _send({'ok': True, 'limits': limits})
    shown = 0
    while (message := receive()) is not None:
        method = methods.get(message['call'])
        try:
            answer = {'ok': True, 'value': None if method is None else method(*message['args'])}
        except BaseException as exc:  # noqa: B036
            answer = {'ok': False, 'error': error_text(exc)}
        if len(printed.text) > shown:
            answer['printed'], shown = printed.text[shown:], len(printed.text)
        _send(answer)


def probe(numpy_path: str) -> dict:
    """Import what a run imports; return the files mapped into this process."""
    _prepare(numpy_path)
    with open('/proc/self/maps') as maps:
        parts = [line.split(maxsplit=5) for line in maps]
    mapped = {p[5].strip() for p in parts if len(p) == 6}
    return {'mapped': sorted(p for p in mapped if p.startswith('/') and os.path.isfile(p))}


def main() -> None:
    """Run one request from stdin (or serve frames with --serve); answer on stdout."""
    out = sys.stdout
    if sys.argv[1:2] == ['--probe']:
        out.write(json.dumps(probe(sys.argv[2])) + '\n')
        return
    if sys.argv[1:2] == ['--serve']:
        serve(receive())
        return
    request = json.loads(sys.stdin.buffer.read())
    try:
        result = run(request)
    except MemoryError:
        result = {'ok': False, 'error': 'MemoryError: out of memory (address-space limit)'}
    out.write(json.dumps(result) + '\n')
    out.flush()


if __name__ == '__main__':
    main()
