# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real SSH nodes on this machine for the node roles: Debian trixie booted by systemd-nspawn in network namespaces.

    tools/local-nodes start [--workdir DIR]   # builds the root file systems once, boots the nodes, prints the inventory
    tools/local-nodes status [--workdir DIR]
    tools/local-nodes stop [--workdir DIR]
    tools/local-nodes build                   # only build (or find) the root file systems and the repository
    tools/local-nodes inventory [--workdir DIR]  # Ansible's script inventory: the nodes while they are up

Runs as root. Network safety first: the node fabric (10.213.0.0/24) exists only inside network namespaces, and
before any namespace is made the host gets `ip route add unreachable 10.213.0.0/24`, so no packet for a node address
can leave the machine. The host reaches the nodes only through the bastion's relay on 127.0.1.2:22 (a socat on
loopback into the bastion's namespace); every other node is reached with ProxyJump through the bastion, as on AWS.
The nodes reach the host's apt cache (tools/local_apt_cache.py: Debian's mirror only) and the local package repository
at 10.213.0.1, each through a relay of its own, and nothing else.

Each node is one overlayfs over a shared Debian root file system (debootstrap --variant=minbase, plus a layer for
the NFS server or the container runtime), booted with systemd as PID 1 by `systemd-nspawn --boot`, under a
supervisor that boots it again after a reboot (nspawn exits 133). `nfs` runs nfs-ganesha, an NFS 4.1 server that
stands in for EFS. `stop` ends every process by the pid it recorded, unmounts every overlay and deletes the
namespaces.
"""

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from local_k8s import cache_root  # noqa: E402
from local_k8s import find_go  # noqa: E402
from local_k8s import free_port  # noqa: E402
from local_k8s import process_is  # noqa: E402
from local_k8s import read_state  # noqa: E402
from local_k8s import stop_processes  # noqa: E402

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
FABRIC = "10.213.0.0/24"
GATEWAY = "10.213.0.1"
NETNS_PREFIX = "tk-"
# what a Debian cloud image has that the roles rely on (python3-apt: apt in check mode)
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "iproute2",
    "sudo",
    "ca-certificates",
)
# Layers over the base, built once: what a node of that kind has before any role runs.
LAYERS = {
    "nfs-server": ("nfs-ganesha", "nfs-ganesha-vfs"),
    "runtime": ("containerd",),  # what a node AMI ships: the container runtime the NVIDIA role configures
}
# name, address, layer, groups. Only the bastion has a relay from the host.
NODES = (
    ("bastion-1", "10.213.0.2", None, ("bastion",)),
    ("nfs", "10.213.0.3", "nfs-server", ("nfs_server",)),
    ("worker-1", "10.213.0.11", "runtime", ("workers",)),
    ("worker-2", "10.213.0.12", "runtime", ("workers",)),
    ("gpu-1", "10.213.0.21", "runtime", ("workers", "gpu")),
)
BASTION_RELAY = "127.0.1.2"
# The NVIDIA container toolkit is not in Debian: nvidia-ctk is built from its Go module and served from a signed
# repository laid out as NVIDIA's (a flat repository at libnvidia-container/stable/deb/amd64/).
CTK_VERSION = "1.17.8"
CTK_REPO_PATH = "libnvidia-container/stable/deb/amd64"
USER = "admin"  # the Debian AMIs' user: sudo without a password, SSH keys only
GANESHA_CONF = """NFS_CORE_PARAM {
    Protocols = 4;
    allow_set_io_flusher_fail = true;  # a container may not set PR_SET_IO_FLUSHER
}
NFSv4 {
    Minor_Versions = 1, 2;
    Grace_Period = 5;
    Lease_Lifetime = 10;
}
EXPORT {
    Export_Id = 1;
    Path = /export;
    Pseudo = /;
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 4;
    SecType = sys;
    FSAL {
        Name = VFS;
    }
}
"""


def log(message):
    print("local-nodes: " + message, file=sys.stderr, flush=True)


def port_open(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def run(*command, check=True, **kwargs):
    return subprocess.run(list(command), check=check, **kwargs)


def overlay(lower, upper, work, merged):
    run(
        "mount",
        "-t",
        "overlay",
        "overlay",
        "-o",
        "lowerdir={0},upperdir={1},workdir={2}".format(lower, upper, work),
        merged,
    )


def ip(*args, check=True):
    return run("ip", *args, check=check, capture_output=True, text=True)


def block_fabric():
    """`ip route add unreachable FABRIC` on the host (kept once there), so that no packet for a node address can
    leave this machine. Refuses to go on when the host already routes that range elsewhere: it is in real use."""
    if FABRIC in ip("route", "show", "type", "unreachable", FABRIC).stdout:
        return
    added = ip("route", "add", "unreachable", FABRIC, check=False)
    if added.returncode != 0:
        sys.exit(
            "local-nodes: `ip route add unreachable {0}` failed ({1}): this host routes that range already, so the "
            "test bed will not use it".format(FABRIC, added.stderr.strip())
        )


def rootfs_dir():
    """Keyed by what goes into the root file systems, so a change builds them anew."""
    key = hashlib.sha256(json.dumps([SUITE, BASE_PACKAGES, LAYERS, prepare_base.__doc__]).encode()).hexdigest()[:8]
    return os.path.join(cache_root(), "local-nodes", "{0}-{1}".format(SUITE, key))


def locked(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle = open(path, "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def build():
    """The base root file system and its layers, each made once (into a staging directory, then renamed)."""
    root = rootfs_dir()
    base = os.path.join(root, "base")
    with locked(os.path.join(root, ".lock")):
        if not os.path.exists(os.path.join(base, ".trainkit-ready")):
            log("debootstrap {0} (minbase) into {1} (about a minute, once)".format(SUITE, base))
            staging = base + ".partial"
            shutil.rmtree(staging, ignore_errors=True)
            run(
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(BASE_PACKAGES),
                SUITE,
                staging,
                MIRROR,
                stdout=subprocess.DEVNULL,
            )
            prepare_base(staging)
            open(os.path.join(staging, ".trainkit-ready"), "w").close()
            shutil.rmtree(base, ignore_errors=True)
            os.rename(staging, base)
        for layer, packages in LAYERS.items():
            target = os.path.join(root, layer)
            if os.path.exists(os.path.join(target, ".trainkit-ready")):
                continue
            log("layer {0}: {1}".format(layer, " ".join(packages)))
            staging = target + ".partial"
            shutil.rmtree(staging, ignore_errors=True)
            upper = os.path.join(staging, "upper")
            merged = os.path.join(staging, "merged")
            for path in (upper, os.path.join(staging, "work"), merged):
                os.makedirs(path)
            overlay(base, upper, os.path.join(staging, "work"), merged)
            try:
                env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
                # policy-rc.d keeps the chroot from starting the services it installs
                with open(os.path.join(merged, "usr/sbin/policy-rc.d"), "w") as handle:
                    handle.write("#!/bin/sh\nexit 101\n")
                os.chmod(os.path.join(merged, "usr/sbin/policy-rc.d"), 0o755)
                run("chroot", merged, "apt-get", "update", "-qq", env=env, stdout=subprocess.DEVNULL)
                run(
                    "chroot",
                    merged,
                    "apt-get",
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                    *packages,
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
                run("chroot", merged, "apt-get", "clean")
                os.unlink(os.path.join(merged, "usr/sbin/policy-rc.d"))
            finally:
                run("umount", merged)
            shutil.rmtree(os.path.join(staging, "work"))
            os.rmdir(merged)
            open(os.path.join(staging, ".trainkit-ready"), "w").close()
            shutil.rmtree(target, ignore_errors=True)
            os.rename(staging, target)
    return root


def repo_dir():
    return os.path.join(cache_root(), "local-nodes", "repo-ctk-" + CTK_VERSION)


def build_repo():
    """A signed apt repository with nvidia-container-toolkit (nvidia-ctk built by `go install`), made once."""
    target = repo_dir()
    with locked(target + ".lock"):
        if os.path.exists(os.path.join(target, ".trainkit-ready")):
            return target
        log("building nvidia-ctk v{0} and its signed apt repository (about a minute, once)".format(CTK_VERSION))
        staging = target + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        flat = os.path.join(staging, CTK_REPO_PATH)
        package = os.path.join(staging, "pkg")
        os.makedirs(os.path.join(package, "usr", "bin"))
        os.makedirs(os.path.join(package, "DEBIAN"))
        os.makedirs(flat)
        module = "github.com/NVIDIA/nvidia-container-toolkit"
        env = dict(os.environ, GOBIN=os.path.join(package, "usr", "bin"), CGO_ENABLED="1", GOFLAGS="-mod=mod")
        ldflags = "-s -w -X {0}/internal/info.version={1}".format(module, CTK_VERSION)
        run(
            find_go(),
            "install",
            "-trimpath",
            "-ldflags=" + ldflags,
            "{0}/cmd/nvidia-ctk@v{1}".format(module, CTK_VERSION),
            env=env,
        )
        with open(os.path.join(package, "DEBIAN", "control"), "w") as handle:
            handle.write(
                "Package: nvidia-container-toolkit\nVersion: {0}-1\nArchitecture: amd64\n"
                "Maintainer: trainkit.aws test bed <trainkit@localhost>\nSection: utils\nPriority: optional\n"
                "Description: NVIDIA container toolkit CLI (nvidia-ctk only), built from its Go module\n".format(
                    CTK_VERSION
                )
            )
        deb = "nvidia-container-toolkit_{0}-1_amd64.deb".format(CTK_VERSION)
        run("dpkg-deb", "--root-owner-group", "--build", package, os.path.join(flat, deb), stdout=subprocess.DEVNULL)
        shutil.rmtree(package)
        packages = run("dpkg-scanpackages", "--multiversion", ".", cwd=flat, capture_output=True).stdout
        with open(os.path.join(flat, "Packages"), "wb") as handle:
            handle.write(packages)
        lines = [
            "Origin: trainkit local",
            "Label: trainkit local",
            "Architectures: amd64",
            "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        ]
        for algorithm, field in (("md5", "MD5Sum"), ("sha256", "SHA256")):
            lines.append(field + ":")
            digest = hashlib.new(algorithm, packages).hexdigest()
            lines.append(" {0} {1} Packages".format(digest, len(packages)))
        with open(os.path.join(flat, "Release"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        home = tempfile.mkdtemp(prefix="trainkit-gpg-")
        gpg = ["gpg", "--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
        try:
            run(*gpg, "--quick-gen-key", "trainkit local repository <trainkit@localhost>", "ed25519", "sign", "never")
            run(*gpg, "--armor", "--output", os.path.join(flat, "gpgkey"), "--export")
            run(*gpg, "--clearsign", "--output", os.path.join(flat, "InRelease"), os.path.join(flat, "Release"))
        finally:
            run("gpgconf", "--homedir", home, "--kill", "all", check=False)
            shutil.rmtree(home, ignore_errors=True)
        open(os.path.join(staging, ".trainkit-ready"), "w").close()
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    return target


def prepare_base(rootfs):
    """The user the nodes are reached as, and nothing that a node would not have on AWS."""
    run("chroot", rootfs, "useradd", "--create-home", "--shell", "/bin/bash", USER)
    with open(os.path.join(rootfs, "etc/sudoers.d/90-cloud-init-users"), "w") as handle:
        handle.write("{0} ALL=(ALL) NOPASSWD:ALL\n".format(USER))
    os.chmod(os.path.join(rootfs, "etc/sudoers.d/90-cloud-init-users"), 0o440)
    # a container has no consoles to log in on, and no clock to keep
    for unit in ("getty.target", "console-getty.service", "systemd-timesyncd.service"):
        run("chroot", rootfs, "systemctl", "mask", unit, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(rootfs, "etc/machine-id"), "w") as handle:
        handle.write("uninitialized\n")  # each node gets its own on first boot


class TestBed:
    def __init__(self, workdir):
        self.workdir = os.path.abspath(workdir)
        self.state_path = os.path.join(self.workdir, "state.json")
        self.inventory = os.path.join(self.workdir, "inventory.yml")
        self.key = os.path.join(self.workdir, "id_ed25519")
        # the key and options of every SSH connection, the jump through the bastion included (ssh passes -F on)
        self.ssh_config = os.path.join(self.workdir, "ssh_config")

    def state(self):
        return read_state(self.state_path)

    def save(self, state):
        with open(self.state_path + ".tmp", "w") as handle:
            json.dump(state, handle, indent=1)
        os.rename(self.state_path + ".tmp", self.state_path)

    def spawn(self, state, name, argv, netns=None):
        log_path = os.path.join(self.workdir, "logs", name + ".log")
        argv = [shutil.which(argv[0])] + list(argv[1:])
        prefix = ["ip", "netns", "exec", NETNS_PREFIX + netns] if netns else []
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                prefix + argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # `ip netns exec` execs its command: the pid stays the same, and its binary becomes argv[0]
        state["processes"][name] = {"pid": proc.pid, "binary": argv[0], "log": log_path}
        if len(argv) > 1 and argv[1].endswith(".py"):
            state["processes"][name]["script"] = argv[1]
        self.save(state)
        return proc.pid

    def alive(self, state=None):
        procs = (state or self.state()).get("processes", {})
        return bool(procs) and all(process_is(p["pid"], p["binary"], p.get("script")) for p in procs.values())

    def ssh(self, address, command, timeout=10, jump=True):
        """Run ``command`` on a node as USER (through the bastion, unless it is the bastion or ``jump`` is false)."""
        argv = ["ssh", "-F", self.ssh_config]
        if jump and address != BASTION_RELAY:
            argv += ["-o", "ProxyJump={0}@{1}".format(USER, BASTION_RELAY)]
        return subprocess.run(
            argv + ["{0}@{1}".format(USER, address), command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, timeout):
        if os.geteuid() != 0:
            sys.exit("local-nodes: must run as root (network namespaces, overlay mounts, systemd-nspawn)")
        for tool in ("debootstrap", "systemd-nspawn", "socat", "ssh", "gpg", "dpkg-scanpackages"):
            if not shutil.which(tool):
                sys.exit(
                    "local-nodes: {0} is not installed (apt-get install debootstrap systemd-container socat "
                    "openssh-client gnupg dpkg-dev)".format(tool)
                )
        state = self.state()
        if state and self.alive(state):
            log("already running")
            return self.inventory
        self.stop(quiet=True)
        names = [NETNS_PREFIX + n for n in ["fabric"] + [node[0] for node in NODES]]
        taken = [n for n in names if os.path.exists(os.path.join("/run/netns", n))]
        if taken or port_open(BASTION_RELAY, 22):
            sys.exit(
                "local-nodes: another test bed holds {0}: stop it first (tools/local-nodes stop --workdir DIR)".format(
                    ", ".join(taken) or BASTION_RELAY + ":22"
                )
            )
        root = build()
        block_fabric()  # network safety before any namespace exists
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)
        os.makedirs(os.path.join(self.workdir, "run"), exist_ok=True)
        if not os.path.exists(self.key):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "trainkit-local-nodes", "-f", self.key)
        with open(self.key + ".pub") as handle:
            public_key = handle.read()
        state = {"processes": {}, "mounts": [], "netns": [], "nodes": {}, "started": time.time()}
        self.save(state)
        try:
            self.fabric(state)
            for name, address, layer, groups in NODES:
                self.node(state, root, name, address, layer, public_key)
                instance_type = "p3.2xlarge" if "gpu" in groups else "m5.xlarge"
                state["nodes"][name] = {"address": address, "groups": list(groups), "instance_type": instance_type}
                self.save(state)
            # the host's only way in: 127.0.1.2:22 -> the bastion's sshd
            self.relay(state, "ssh", BASTION_RELAY + ":22", "127.0.0.1:22", target_netns="bastion-1")
            self.write_inventory(state)
            self.wait_ssh(state, timeout)
        except BaseException:
            self.stop(quiet=True)
            raise
        log("{0} nodes up behind the bastion at {1}:22".format(len(NODES), BASTION_RELAY))
        return self.inventory

    def netns(self, state, name):
        ip("netns", "add", NETNS_PREFIX + name)
        state["netns"].append(NETNS_PREFIX + name)
        self.save(state)
        ip("-n", NETNS_PREFIX + name, "link", "set", "lo", "up")

    def fabric(self, state):
        """A namespace holding the fabric's bridge (10.213.0.1) and the relays to the host's apt cache and repository."""
        self.netns(state, "fabric")
        ns = NETNS_PREFIX + "fabric"
        ip("-n", ns, "link", "add", "br0", "type", "bridge")
        ip("-n", ns, "addr", "add", GATEWAY + "/24", "dev", "br0")
        ip("-n", ns, "link", "set", "br0", "up")
        cache = os.path.join(cache_root(), "local-nodes", "apt-cache")
        os.makedirs(cache, exist_ok=True)
        port = free_port()
        script = os.path.join(HERE, "local_apt_cache.py")
        self.spawn(state, "apt-cache", [sys.executable, script, str(port), cache])
        self.wait_for(lambda: port_open("127.0.0.1", port), 20, "the apt cache on port {0}".format(port))
        self.relay(state, "apt", "{0}:3142".format(GATEWAY), "127.0.0.1:{0}".format(port), listen_netns="fabric")
        repo = build_repo()
        self.spawn(
            state,
            "repo",
            [sys.executable, "-m", "http.server", "--bind", GATEWAY, "--directory", repo, "8080"],
            netns="fabric",
        )

    def relay(self, state, name, listen, target, listen_netns=None, target_netns=None):
        """A TCP relay between two network namespaces (None: the host's): socat listening on ``listen``
        (address:port) in one, connecting to ``target`` in the other, through a UNIX socket, the one thing both
        namespaces see."""
        sock = os.path.join(self.workdir, "run", name + ".sock")
        self.spawn(
            state,
            name + "-target",
            ["socat", "UNIX-LISTEN:{0},fork,unlink-early".format(sock), "TCP:" + target],
            netns=target_netns,
        )
        self.wait_for(lambda: os.path.exists(sock), 10, "the {0} relay".format(name))
        address, port = listen.rsplit(":", 1)
        self.spawn(
            state,
            name + "-listen",
            ["socat", "TCP-LISTEN:{0},bind={1},fork,reuseaddr".format(port, address), "UNIX-CONNECT:" + sock],
            netns=listen_netns,
        )

    def node(self, state, root, name, address, layer, public_key):
        node_dir = os.path.join(self.workdir, "nodes", name)
        shutil.rmtree(node_dir, ignore_errors=True)
        upper, work, merged = (os.path.join(node_dir, d) for d in ("upper", "work", "root"))
        for path in (upper, work, merged):
            os.makedirs(path)
        lower = os.path.join(root, "base")
        if layer:
            lower = os.path.join(root, layer, "upper") + ":" + lower
        overlay(lower, upper, work, merged)
        state["mounts"].append(merged)
        self.save(state)
        self.configure(merged, name, address, public_key)
        self.netns(state, name)
        ns = NETNS_PREFIX + name
        veth = "v" + address.rsplit(".", 1)[1]
        ip("-n", NETNS_PREFIX + "fabric", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", NETNS_PREFIX + "fabric", "link", "set", veth, "master", "br0", "up")
        ip("-n", ns, "addr", "add", address + "/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "route", "add", "default", "via", GATEWAY)
        binds = []
        if name == "nfs":  # ganesha's VFS needs file handles, which overlayfs does not give: a real directory
            export = os.path.join(node_dir, "export")
            os.makedirs(export)
            with open(os.path.join(export, "README"), "w") as handle:
                handle.write("trainkit local EFS stand-in\n")
            # and open_by_handle_at, which nspawn's seccomp filter denies by default
            binds = ["--bind={0}:/export".format(export), "--system-call-filter=open_by_handle_at"]
        self.spawn(
            state, "node-" + name, [sys.executable, os.path.abspath(__file__), "supervise", name, merged] + binds
        )

    def configure(self, merged, name, address, public_key):
        def write(path, text, mode=0o644):
            full = os.path.join(merged, path.lstrip("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as handle:
                handle.write(text)
            os.chmod(full, mode)

        write("/etc/hostname", name + "\n")
        hosts = "127.0.0.1 localhost\n{0} {1}\n".format(address, name) + "".join(
            "{0} {1}\n".format(a, n) for n, a, _l, _g in NODES if n != name
        )
        write("/etc/hosts", hosts)
        write(
            "/etc/apt/apt.conf.d/01trainkit-proxy",
            'Acquire::http::Proxy "http://{0}:3142";\nAcquire::http::Proxy::{0} "DIRECT";\n'.format(GATEWAY),
        )
        home = os.path.join(merged, "home", USER)
        write("/home/{0}/.ssh/authorized_keys".format(USER), public_key, 0o600)
        uid = os.stat(home).st_uid
        for path in (os.path.join(home, ".ssh"), os.path.join(home, ".ssh", "authorized_keys")):
            os.chown(path, uid, uid)
        os.chmod(os.path.join(home, ".ssh"), 0o700)
        if name == "nfs":
            write("/etc/ganesha/ganesha.conf", GANESHA_CONF)

    def wait_for(self, check, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError("local-nodes: timed out after {0}s waiting for {1}".format(timeout, what))

    def wait_ssh(self, state, timeout):
        for name, node in state["nodes"].items():
            address = BASTION_RELAY if name == "bastion-1" else node["address"]
            self.wait_for(
                lambda: self.ssh(address, "systemctl is-system-running --wait >/dev/null; true").returncode == 0,
                timeout,
                "sshd on " + name,
            )

    def write_inventory(self, state):
        with open(self.ssh_config, "w") as handle:
            handle.write(
                "Host *\n  IdentityFile {0}\n  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking no\n"
                "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  ConnectTimeout 5\n".format(self.key)
            )
        groups = {}
        for name, node in state["nodes"].items():
            args = "-F " + self.ssh_config
            if name != "bastion-1":
                args += " -o ProxyJump={0}@{1}".format(USER, BASTION_RELAY)
            hostvars = {
                "ec2_instance_type": node["instance_type"],
                "ansible_host": BASTION_RELAY if name == "bastion-1" else node["address"],
                "ansible_user": USER,
                "ansible_ssh_common_args": args,
            }
            for group in node["groups"]:
                groups.setdefault(group, {"hosts": {}})["hosts"][name] = hostvars
        repository = "http://{0}:8080/{1}".format(GATEWAY, CTK_REPO_PATH)
        test_bed = {
            # the nodes run this machine's kernel, for which Debian has no headers
            "node_nvidia_kernel_headers": [],
            "node_nvidia_toolkit_apt_repository": repository,
            "node_nvidia_toolkit_key_url": repository + "/gpgkey",
            # this kernel has no NFS or Lustre client: the fstab lines are written, nothing is mounted
            "trainkit_node_mount_state": "present",
            # Debian has no Lustre client to install
            "node_lustre_install": False,
            # no GPU here: nvidia-smi's answer is reported (trainkit_nvidia), not required
            "node_nvidia_check": False,
        }
        with open(self.inventory, "w") as handle:  # JSON is YAML: ansible reads it as such
            json.dump({"all": {"vars": test_bed, "children": groups}}, handle, indent=1)

    def script_inventory(self):
        with open(self.inventory) as handle:
            groups = json.load(handle)["all"]
        result = {"all": {"vars": groups["vars"]}, "_meta": {"hostvars": {}}}
        for group, members in groups["children"].items():
            result[group] = {"hosts": sorted(members["hosts"])}
            result["_meta"]["hostvars"].update(members["hosts"])
        return result

    def stop(self, quiet=False):
        state = self.state()
        stopped = stop_processes(state.get("processes", {}), grace=30)  # the nodes power off cleanly
        for merged in reversed(state.get("mounts", [])):
            if os.path.ismount(merged):
                run("umount", merged, check=False)
        for ns in reversed(state.get("netns", [])):
            ip("netns", "delete", ns, check=False)
        if os.path.exists(self.state_path):
            os.unlink(self.state_path)
        if not quiet:
            log("stopped {0} processes, {1} nodes".format(len(stopped), len(state.get("mounts", []))))


def supervise(name, merged, *options):
    """Boot one node, and again whenever it reboots (systemd-nspawn exits 133); SIGTERM powers it off."""
    child = None

    def forward(signum, _frame):
        if child and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # nspawn asks the node's systemd to power off
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, forward)
    while True:
        child = subprocess.Popen(
            [
                "systemd-nspawn",
                "--boot",
                "--quiet",
                "--register=no",
                "--keep-unit",
                "--console=passive",
                "--machine=" + NETNS_PREFIX + name,
                "--directory=" + merged,
                "--network-namespace-path=/run/netns/" + NETNS_PREFIX + name,
            ]
            + list(options),
            stdin=subprocess.DEVNULL,
        )
        try:
            code = child.wait()
        except SystemExit:
            child.wait(timeout=20)
            raise
        if code != 133:
            log("node {0}: systemd-nspawn exited {1}".format(name, code))
            return code
        log("node {0} rebooting".format(name))


def main():
    if sys.argv[1:2] == ["supervise"]:  # internal: the per-node supervisor `start` spawns
        return supervise(*sys.argv[2:])
    parser = argparse.ArgumentParser(prog="local-nodes", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["start", "stop", "status", "build", "inventory"])
    parser.add_argument("--list", action="store_true", help=argparse.SUPPRESS)  # as an inventory script
    parser.add_argument("--workdir", default=os.path.join(cache_root(), "local-nodes", "run"))
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each node's sshd")
    args = parser.parse_args()
    if args.command == "build":
        build_repo()
        print(build())
        return 0
    bed = TestBed(args.workdir)
    if args.command == "inventory":  # Ansible's script inventory format; no hosts while the test bed is down
        print(json.dumps(bed.script_inventory() if bed.alive() else {"_meta": {"hostvars": {}}}))
        return 0
    if args.command == "start":
        os.makedirs(bed.workdir, mode=0o700, exist_ok=True)
        print(bed.start(args.timeout))
    elif args.command == "stop":
        bed.stop()
    else:
        if not bed.alive():
            log("not running")
            return 1
        print(bed.inventory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
