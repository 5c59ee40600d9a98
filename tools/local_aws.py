# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start or stop the local AWS endpoint (moto's server behind the realism layer) on 127.0.0.1.

    tools/local-aws start [--state-dir DIR] [--port N] [--realism default|off|FILE] [--control-plane DIR]
                                                  # prints the URL last
    tools/local-aws status [--state-dir DIR]      # the realism profile, the proxy and its CA, then the URL
    eval "$(tools/local-aws env)"                 # exports AWS_ENDPOINT_URL, TRAINKIT_LOCAL_AWS_PROXY/_CA_BUNDLE
    tools/local-aws summary [--state-dir DIR] [--since N] [--json]   # requests by service and operation
    tools/local-aws stop [--state-dir DIR]

`start` reuses a running endpoint (its state lives until `stop`). The server's pid, URL, profile, log and
request log (requests.jsonl) are kept in the state directory (default: $TRAINKIT_STATE_DIR/local-aws, else
~/.local/state/trainkit/local-aws); `stop` ends that pid and nothing else. The realism layer
(tools/local_aws_server.py) gives resources AWS's life cycles and eventual consistency with scaled-down
times, and can throttle; `--realism off` keeps only the gaps of moto it fills. The same server is also an HTTPS
proxy (tools/local_proxy.py) for SDKs that ignore endpoint settings, such as kube-aws's: give them
HTTPS_PROXY=<proxy> and AWS_CA_BUNDLE=<state dir>/ca.pem (`status` prints both).
"""

import argparse
import collections
import json
import os
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


SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "local_aws_server.py")
PROFILES = ("default", "off")


def server_command():
    """The realism layer with moto in-process, run by this interpreter (which must have moto[server])."""
    try:
        import moto  # noqa: F401  (only to fail early and clearly)
    except ImportError:
        sys.exit(
            "local-aws: moto is not installed for {0}; install it with: pip install 'moto[server]'".format(
                sys.executable
            )
        )
    return [sys.executable, SERVER]


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
            return b"local_aws_server.py" in handle.read()
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
        running_profile = read(os.path.join(args.state_dir, "realism")) or "default"
        if running_profile not in (args.realism, os.path.abspath(args.realism)):
            print(
                "local-aws: it runs with realism {0}, not {1}; `tools/local-aws stop` first to change it".format(
                    running_profile, args.realism
                ),
                file=sys.stderr,
            )
        print(found[1])
        return 0
    if args.realism not in PROFILES:
        if not os.path.isfile(args.realism):
            sys.exit(
                "local-aws: --realism must be default, off or a JSON profile file; {0!r} is none".format(args.realism)
            )
        args.realism = os.path.abspath(args.realism)
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    log_path = os.path.join(args.state_dir, "server.log")
    # a free port is free when asked, not necessarily when the server binds it a moment later (other tests start
    # servers too): a server that lost its port that way is started again on new ones
    for attempt in range(3):
        port = args.port or free_port()
        proxy_port = free_port()
        url = "http://127.0.0.1:{0}".format(port)
        mark = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                server_command()
                + ["--port", str(port), "--profile", args.realism]
                + ["--log", os.path.join(args.state_dir, "requests.jsonl")]
                + ["--proxy-port", str(proxy_port), "--state-dir", os.path.abspath(args.state_dir)]
                + (["--control-plane", os.path.abspath(args.control_plane)] if args.control_plane else []),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + args.timeout
        while not answers(url, timeout=1.0):
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                proc.terminate()
                sys.exit(
                    "local-aws: the server did not answer on {0} within {1}s; see {2}".format(
                        url, args.timeout, log_path
                    )
                )
            time.sleep(0.2)
        if proc.poll() is None:
            break
        with open(log_path, "rb") as handle:
            handle.seek(mark)
            lost_port = b"Address already in use" in handle.read()
        if not lost_port or args.port or attempt == 2:
            sys.exit("local-aws: the server exited with {0}; see {1}".format(proc.returncode, log_path))
    with open(os.path.join(args.state_dir, "pid"), "w") as handle:
        handle.write(str(proc.pid))
    with open(os.path.join(args.state_dir, "url"), "w") as handle:
        handle.write(url)
    with open(os.path.join(args.state_dir, "realism"), "w") as handle:
        handle.write(args.realism)
    with open(os.path.join(args.state_dir, "proxy"), "w") as handle:
        handle.write("http://127.0.0.1:{0}".format(proxy_port))
    print(
        "local-aws: started moto server (pid {0}, realism {1}), log {2}".format(proc.pid, args.realism, log_path),
        file=sys.stderr,
    )
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
    for name in ("pid", "url", "realism", "proxy"):
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
    print("realism: {0}".format(read(os.path.join(args.state_dir, "realism")) or "default"))
    print("proxy: {0}".format(read(os.path.join(args.state_dir, "proxy"))))
    print("ca_bundle: {0}".format(os.path.join(os.path.abspath(args.state_dir), "ca.pem")))
    print(found[1])
    return 0


def env(args):
    """Shell assignments for this endpoint: the endpoint URL, and the proxy + CA for SDKs that ignore it."""
    found = running(args.state_dir)
    if not found:
        print("local-aws: not running", file=sys.stderr)
        return 1
    print("export AWS_ENDPOINT_URL={0}".format(found[1]))
    print("export TRAINKIT_LOCAL_AWS_PROXY={0}".format(read(os.path.join(args.state_dir, "proxy"))))
    print("export TRAINKIT_LOCAL_AWS_CA_BUNDLE={0}".format(os.path.join(os.path.abspath(args.state_dir), "ca.pem")))
    return 0


def read_requests(state_dir, since=0):
    """The request log's entries from line ``since`` on."""
    entries = []
    try:
        with open(os.path.join(state_dir, "requests.jsonl")) as handle:
            for number, line in enumerate(handle):
                if number >= since and line.strip():
                    entries.append(json.loads(line))
    except FileNotFoundError:
        pass
    return entries


def summary(args):
    entries = read_requests(args.state_dir, args.since)
    by_operation = collections.Counter((e["service"], e["operation"]) for e in entries)
    report = {
        "requests": len(entries),
        "lines": args.since + len(entries),
        "throttled": sum(1 for e in entries if e.get("realism") == "throttled"),
        "not_yet_visible": sum(1 for e in entries if e.get("realism") == "consistency"),
        "errors": sum(1 for e in entries if e["status"] >= 400),
        "latency_ms_total": round(sum(e["latency_ms"] for e in entries), 1),
        "by_service": dict(collections.Counter(e["service"] for e in entries)),
        "by_operation": dict(("{0}:{1}".format(*k), v) for k, v in sorted(by_operation.items())),
    }
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(
        "{0} requests ({1} throttled, {2} not yet visible, {3} errors)".format(
            report["requests"], report["throttled"], report["not_yet_visible"], report["errors"]
        )
    )
    for (service, operation), count in sorted(by_operation.items(), key=lambda item: (-item[1], item[0])):
        print("{0:6d}  {1}:{2}".format(count, service, operation))
    return 0


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `summary | head` ends quietly
    parser = argparse.ArgumentParser(prog="local-aws", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["start", "stop", "status", "env", "summary"])
    parser.add_argument("--state-dir", default=default_state_dir(), help="where the pid, URL and log are kept")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server to answer")
    parser.add_argument(
        "--realism",
        default=os.environ.get("TRAINKIT_LOCAL_AWS_REALISM", "default"),
        help="start: default (AWS-like life cycles and consistency, scaled-down times), off, or a JSON profile",
    )
    parser.add_argument(
        "--control-plane",
        default=os.environ.get("TRAINKIT_LOCAL_K8S_DIR"),
        help="start: the local control plane's work directory (tools/local-k8s) that EKS clusters point at "
        "(default: its default one)",
    )
    parser.add_argument("--since", type=int, default=0, help="summary: skip the request log's first N lines")
    parser.add_argument("--json", action="store_true", help="summary: as JSON")
    args = parser.parse_args()
    return {"start": start, "stop": stop, "status": status, "env": env, "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
