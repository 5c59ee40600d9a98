# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start or stop the local AWS endpoint (moto's server) on 127.0.0.1.

    tools/local-aws start [--state-dir DIR] [--port N]   # prints the endpoint URL as its last line
    tools/local-aws status [--state-dir DIR]
    tools/local-aws stop [--state-dir DIR]

`start` reuses a running endpoint (its state lives until `stop`). The server's pid, URL and log
are kept in the state directory (default: $TRAINKIT_STATE_DIR/local-aws, else
~/.local/state/trainkit/local-aws); `stop` ends that pid and nothing else.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def default_state_dir():
    base = os.environ.get("TRAINKIT_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "trainkit"
    )
    return os.path.join(base, "local-aws")


def moto_server_command():
    """moto's server from the same environment as this interpreter, else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("moto_server")
    if found:
        return [found]
    sys.exit("local-aws: moto_server not found; install it with: pip install 'moto[server]'")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url + "/moto-api/", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def is_our_server(pid):
    """True when pid is alive and is a moto server (guards against a recycled pid)."""
    try:
        with open("/proc/{0}/cmdline".format(pid), "rb") as handle:
            return b"moto_server" in handle.read()
    except OSError:
        return False


def running(state_dir):
    pid, url = read(os.path.join(state_dir, "pid")), read(os.path.join(state_dir, "url"))
    if pid and url and pid.isdigit() and is_our_server(int(pid)) and answers(url):
        return int(pid), url
    return None


def start(args):
    found = running(args.state_dir)
    if found:
        print("local-aws: reusing the endpoint already running (pid {0})".format(found[0]), file=sys.stderr)
        print(found[1])
        return 0
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    port = args.port or free_port()
    url = "http://127.0.0.1:{0}".format(port)
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    log_path = os.path.join(args.state_dir, "server.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            moto_server_command() + ["-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.timeout
    while not answers(url, timeout=1.0):
        if proc.poll() is not None:
            sys.exit("local-aws: moto_server exited with {0}; see {1}".format(proc.returncode, log_path))
        if time.monotonic() > deadline:
            proc.terminate()
            sys.exit(
                "local-aws: moto_server did not answer on {0} within {1}s; see {2}".format(url, args.timeout, log_path)
            )
        time.sleep(0.2)
    with open(os.path.join(args.state_dir, "pid"), "w") as handle:
        handle.write(str(proc.pid))
    with open(os.path.join(args.state_dir, "url"), "w") as handle:
        handle.write(url)
    print("local-aws: started moto server (pid {0}), log {1}".format(proc.pid, log_path), file=sys.stderr)
    print(url)
    return 0


def stop(args):
    pid = read(os.path.join(args.state_dir, "pid"))
    if pid and pid.isdigit() and is_our_server(int(pid)):
        pid = int(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while is_our_server(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_our_server(pid):
            os.kill(pid, signal.SIGKILL)
        print("local-aws: stopped moto server (pid {0})".format(pid), file=sys.stderr)
    else:
        print("local-aws: no endpoint running for {0}".format(args.state_dir), file=sys.stderr)
    for name in ("pid", "url"):
        try:
            os.unlink(os.path.join(args.state_dir, name))
        except FileNotFoundError:
            pass
    return 0


def status(args):
    found = running(args.state_dir)
    if not found:
        print("local-aws: not running", file=sys.stderr)
        return 1
    print(found[1])
    return 0


def main():
    parser = argparse.ArgumentParser(prog="local-aws", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--state-dir", default=default_state_dir(), help="where the pid, URL and log are kept")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server to answer")
    args = parser.parse_args()
    return {"start": start, "stop": stop, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
