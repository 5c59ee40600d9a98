# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command in a network namespace of its own that still reaches one TCP address of the host.

    python3 tools/local_netns.py --reach 127.0.0.1:PORT -- COMMAND [ARG...]   # execs COMMAND in the namespace
    python3 tools/local_netns.py --check                                      # exit 0: namespaces can be made

The local runner (tools/local_runner.py) starts the real MPI operator this way. mpi-operator v0.7.0 serves its health
check on the fixed port 8080 of every interface and exits when that port is taken (``healthCheckPort = 8080`` and
``klog.Fatalf("Error starting server for health check: ...")`` in cmd/mpi-operator/app/server.go), so on the host
only one local control plane at a time could run one: two test workers could not, nor the demo beside the tests.
In a namespace of its own each operator has a port 8080 and a loopback of its own. On that loopback a relay listens
at the API server's address (``--reach``) and carries each connection through a Unix socket - a file, which
crosses network namespaces - to a second relay that stays on the host and connects to the API server. The bytes
pass untouched, TLS included: the operator still checks the API server's certificate for the same address.

Root makes the namespace directly; another user gets it inside a user namespace of its own where the kernel allows
unprivileged user namespaces. Where neither works, ``--check`` fails, and the runner runs the operator on the host
as before (one at a time on the machine; the tests then take the lock of tests/harness/harness.py).

Both relays are children of the command's process (the command keeps this process's pid, so the runner's signals
reach it) and end with it (PR_SET_PDEATHSIG), or with the process group the runner signals.
"""

import argparse
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH22x"  # struct ifreq on Linux: the name, then the flags in a 24-byte union

LIBC = ctypes.CDLL(None, use_errno=True)


def unshare_network():
    """Move this process into a new network namespace (inside a new user namespace when not root) and bring its
    loopback up. Raises OSError when the kernel or the user's rights do not allow it."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if LIBC.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "unshare(CLONE_NEWNET): " + os.strerror(errno))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _name, current = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", current | IFF_UP))


def available():
    """Whether this user can make a network namespace here (tried in a child process, which then exits)."""
    pid = os.fork()
    if pid == 0:
        try:
            unshare_network()
        except OSError:
            os._exit(1)
        os._exit(0)
    _pid, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def pump(source, target):
    """Copy one direction of a connection until its end, then pass the end on."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def relay(listener, connect):
    """Accept connections forever; join each to a new connection made by ``connect()``."""
    while True:
        client, _peer = listener.accept()
        try:
            upstream = connect()
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


def fork_relay(listener, connect, cleanup=None):
    """A child process that relays for as long as its parent lives."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        listener.close()
        return pid
    try:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent is already gone
            os._exit(0)

        def stop(*_args):
            if cleanup:
                cleanup()
            os._exit(0)

        signal.signal(signal.SIGTERM, stop)
        relay(listener, connect)
    finally:
        os._exit(0)


def run(address, command):
    host, port = address.rsplit(":", 1)
    port = int(port)
    # a short path: a Unix socket's path has 107 bytes at most, a pod's directory can be longer
    directory = tempfile.mkdtemp(prefix="trainkit-netns-")
    path = os.path.join(directory, "api.sock")
    outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    outside.bind(path)
    outside.listen(64)
    fork_relay(
        outside,
        lambda: socket.create_connection((host, port), timeout=30),
        cleanup=lambda: shutil.rmtree(directory, ignore_errors=True),
    )
    try:
        unshare_network()
    except OSError as exc:
        sys.exit("local_netns: {0}".format(exc))

    def through_the_socket():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return sock

    inside = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    inside.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    inside.bind((host, port))
    inside.listen(64)
    fork_relay(inside, through_the_socket)
    os.execvp(command[0], command)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--check", action="store_true", help="exit 0 when network namespaces can be made here")
    parser.add_argument("--reach", help="HOST:PORT of the host that the namespace reaches at the same address")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args()
    if args.check:
        return 0 if available() else 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.reach or not command:
        parser.error("--reach HOST:PORT and -- COMMAND are needed")
    if not args.reach.startswith("127."):
        parser.error("--reach: a loopback address only")
    run(args.reach, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
