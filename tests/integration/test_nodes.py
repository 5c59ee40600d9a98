# -*- coding: utf-8 -*-
"""The node roles over real SSH: Debian trixie nodes booted by systemd-nspawn in network namespaces (tools/local-nodes),
reached only through the bastion, with an NFS 4.1 server standing in for EFS.

Every test here shares one test bed, so they run in one xdist worker, in order: `make test` distributes the
integration tests by file (--dist loadfile; xdist's loadgroup does not group with pytest 9).
"""

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest

from harness import LocalNodes
from harness import downloaded
from harness import recap
from harness import unique

# slow: boots five Debian nodes and runs the node roles over SSH (~7 min); the test bed is one per machine, so
# one worker runs every test of this file, in order
pytestmark = [pytest.mark.nodes, pytest.mark.slow, pytest.mark.xdist_group("nodes")]

WORKERS = ("worker-1", "worker-2", "gpu-1")
REPO_FILES = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "training_job", "files")
EFS_OPTIONS = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,_netdev"
MISSING = [
    t for t in ("debootstrap", "systemd-nspawn", "socat", "ssh", "gpg", "dpkg-scanpackages") if not shutil.which(t)
]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the SSH test bed needs root (network namespaces, overlay mounts, systemd-nspawn)")
    if MISSING:
        pytest.skip("the SSH test bed needs {0}: make node-tools installs them".format(", ".join(MISSING)))
    bed = LocalNodes(str(tmp_path_factory.mktemp("local-nodes")))
    bed.start()
    yield bed
    result = bed.stop()
    assert result.returncode == 0, result.stderr
    with open("/proc/mounts") as handle:
        assert bed.workdir not in handle.read(), "every overlay is unmounted"


def play(tmp_path, name, hosts, role, variables=None):
    """A one-role playbook file, as a user would write it: become, minimal facts."""
    path = tmp_path / (name + ".yml")
    path.write_text(
        json.dumps(
            [
                {
                    "name": name,
                    "hosts": hosts,
                    "become": True,
                    "gather_facts": True,
                    "gather_subset": ["min"],
                    "roles": [dict({"role": "trainkit.aws." + role}, **(variables or {}))],
                }
            ]
        )
    )
    return str(path)


def test_the_bastion_is_the_only_way_in(nodes):
    """The fabric is unreachable from the host by route; only the bastion's loopback relay answers, and ProxyJump
    through it reaches a private node."""
    route = subprocess.run(
        ["ip", "route", "get", nodes.address("worker-1")], capture_output=True, text=True, check=False
    )
    assert route.returncode != 0 and "No route to host" in route.stderr, route
    table = subprocess.run(
        ["ip", "route", "show", "type", "unreachable"], capture_output=True, text=True, check=True
    ).stdout
    assert "unreachable 10.213.0.0/24" in table
    direct = nodes.ssh("worker-1", "hostname", jump=False, timeout=30)
    assert direct.returncode == 255 and ("unreachable" in direct.stderr or "No route" in direct.stderr), direct
    jumped = nodes.ssh("worker-1", "hostname; systemctl is-system-running")
    assert jumped.returncode in (0, 1) and jumped.stdout.split()[0] == "worker-1", jumped
    assert nodes.ssh("bastion-1", "hostname").stdout.strip() == "bastion-1"


def test_node_efs_writes_the_exact_fstab_line_on_three_nodes_through_the_bastion(ansible, nodes, tmp_path):
    dns = "nfs"  # the NFS 4.1 server standing in for EFS, by its name on the fabric
    book = play(tmp_path, "efs", "workers", "node_efs", {"node_efs_dns_name": dns, "node_efs_state": "present"})

    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, check=True)
    assert rc == 0, output[-3000:]
    for node in WORKERS:
        assert "/mnt/efs" not in nodes.ssh(node, "cat /etc/fstab").stdout, "check mode writes nothing"

    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory)
    assert rc == 0, output[-3000:]
    line = "{0}:/ /mnt/efs nfs4 {1} 0 0".format(dns, EFS_OPTIONS)
    for node in WORKERS:
        assert recap(output, node)["changed"] > 0
        fstab = nodes.ssh(node, "cat /etc/fstab").stdout.splitlines()
        assert [entry for entry in fstab if "/mnt/efs" in entry] == [line], fstab
        assert "ii  nfs-common" in nodes.ssh(node, "dpkg -l nfs-common").stdout
    # systemd made the mount unit from it; findmnt finds the table sound; mount -a --fake shows the options used
    unit = nodes.ssh("worker-1", "systemctl cat mnt-efs.mount").stdout
    assert "What=nfs:/" in unit and "Type=nfs4" in unit and "Options=" + EFS_OPTIONS in unit, unit
    assert "Before=remote-fs.target" in unit, "_netdev makes it a network mount"
    verify = nodes.ssh("worker-1", "findmnt --verify --tab-file /etc/fstab")
    assert verify.returncode == 0 and "no errors" in verify.stdout, verify
    fake = nodes.ssh("worker-1", "sudo mount -a --fake -v -t nfs4 2>&1").stdout
    assert "trying text-based options 'nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2" in fake
    assert "addr={0}".format(nodes.address("nfs")) in fake, "the name resolves to the NFS server"
    # this kernel has no NFS client: the real mount fails, as the issue measured
    real = nodes.ssh("worker-1", "sudo mount /mnt/efs 2>&1")
    assert real.returncode != 0 and "No such device" in real.stdout, real

    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory)
    assert rc == 0 and all(recap(output, n)["changed"] == 0 for n in WORKERS), output[-3000:]

    # a changed option replaces the line (one line per mount point, never two)
    changed = EFS_OPTIONS.replace("timeo=600", "timeo=300")
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars={"node_efs_options": changed})
    assert rc == 0 and recap(output, "worker-2")["changed"] > 0, output[-3000:]
    fstab = nodes.ssh("worker-2", "grep /mnt/efs /etc/fstab").stdout.splitlines()
    assert fstab == ["{0}:/ /mnt/efs nfs4 {1} 0 0".format(dns, changed)]
    assert "timeo=300" in nodes.ssh("worker-2", "systemctl cat mnt-efs.mount").stdout


def test_node_efs_mounted_reports_the_missing_nfs_client_clearly(ansible, nodes, tmp_path):
    book = play(
        tmp_path, "efs-mounted", "worker-1", "node_efs", {"node_efs_dns_name": "nfs", "node_efs_state": "mounted"}
    )
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory)
    flat = " ".join(output.split())
    assert rc != 0 and "mount /mnt/efs failed" in flat and "No such device" in flat, output[-3000:]
    assert "this kernel has no NFS client" in flat


def test_node_mount_mounts_and_remounts_when_the_line_changes(ansible, nodes, tmp_path):
    """The mount half the EFS and Lustre roles share, with a file system this kernel can mount (tmpfs): mounted,
    left alone when nothing changed, unmounted and mounted again with a changed line, removed with state absent."""

    def book(size, state="mounted"):
        line = "tmpfs /mnt/scratch tmpfs size={0},mode=0755 0 0".format(size)
        variables = {"node_mount_path": "/mnt/scratch", "node_mount_line": line, "node_mount_state": state}
        return play(tmp_path, "mount-" + size + state, "worker-1", "node_mount", variables)

    def mounted():
        return nodes.ssh("worker-1", "findmnt --noheadings --output OPTIONS /mnt/scratch").stdout.strip()

    rc, output, _r = ansible.playbook(book("1m"), inventory=nodes.inventory)
    assert rc == 0 and recap(output, "worker-1")["changed"] > 0, output[-3000:]
    assert "size=1024k" in mounted()
    rc, output, _r = ansible.playbook(book("1m"), inventory=nodes.inventory)
    assert rc == 0 and recap(output, "worker-1")["changed"] == 0, output[-3000:]
    nodes.ssh("worker-1", "sudo touch /mnt/scratch/marker")
    rc, output, _r = ansible.playbook(book("2m"), inventory=nodes.inventory)
    assert rc == 0 and "Mount | Unmount /mnt/scratch" in output, output[-3000:]
    assert "size=2048k" in mounted()
    assert nodes.ssh("worker-1", "test -e /mnt/scratch/marker").returncode == 1, "a new mount, not a remount"
    assert nodes.ssh("worker-1", "grep -c /mnt/scratch /etc/fstab").stdout.strip() == "1"
    rc, output, _r = ansible.playbook(book("2m", "absent"), inventory=nodes.inventory)
    assert rc == 0 and mounted() == "", output[-3000:]
    assert nodes.ssh("worker-1", "grep -c /mnt/scratch /etc/fstab").stdout.strip() == "0"


def test_an_nfs_4_1_exchange_with_the_stand_in_server(nodes):
    """What the kernel here cannot do, a userspace NFSv4.1 client does from a node's own network namespace: a
    session with the server, a file written and read back, and the file on the server's export."""
    script = (
        "import nfs_rs, sys\n"
        "with nfs_rs.Client.connect('nfs://{0}/', versions=['4.1'], uid=0, gid=0) as c:\n"
        "    assert str(c.version) == '4.1', c.version\n"
        "    with c.open('from-worker-1.txt', 'wb') as f:\n"
        "        f.write(b'hello over NFS 4.1\\n')\n"
        "    with c.open('from-worker-1.txt', 'rb') as f:\n"
        "        sys.stdout.write(f.read().decode())\n"
    ).format(nodes.address("nfs"))
    result = subprocess.run(
        ["ip", "netns", "exec", "tk-worker-1", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "hello over NFS 4.1\n", result.stderr[-2000:]
    assert nodes.ssh("nfs", "cat /export/from-worker-1.txt").stdout == "hello over NFS 4.1\n"


def boot_id(nodes, node):
    return nodes.ssh(node, "cat /proc/sys/kernel/random/boot_id").stdout.strip()


@pytest.mark.gpu
def test_node_nvidia_refuses_p2_before_changing_anything(ansible, nodes, tmp_path):
    book = play(tmp_path, "nvidia-p2", "gpu", "node_nvidia", {"node_nvidia_check": True})
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars={"ec2_instance_type": "p2.xlarge"})
    flat = " ".join(output.split())
    assert rc != 0 and "p2 instances have Tesla K80 (Kepler) GPUs" in flat, output[-3000:]
    assert recap(output, "gpu-1")["changed"] == 0
    assert nodes.ssh("gpu-1", "test -e /etc/modprobe.d/blacklist-nouveau.conf").returncode == 1


@pytest.mark.gpu
def test_node_nvidia_installs_configures_once_and_reboots_only_when_allowed_and_needed(ansible, nodes, tmp_path):
    book = play(tmp_path, "nvidia", "gpu", "node_nvidia", {"node_nvidia_check": True})
    advice = "the NVIDIA kernel module is not loaded"

    # 1. driver and toolkit installed, runtime configured; nvidia-smi cannot reach a driver (no GPU here), and the
    #    node is not rebooted: reboots are not allowed by default
    before = boot_id(nodes, "gpu-1")
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory)
    flat = " ".join(output.split())
    assert rc != 0 and "couldn't communicate with the NVIDIA driver" in flat and advice in flat, output[-4000:]
    assert "the node was not rebooted (node_nvidia_reboot is false)" in flat
    assert boot_id(nodes, "gpu-1") == before
    state = nodes.ssh(
        "gpu-1",
        "dpkg-query -W -f='${Version}\\n' nvidia-smi; nvidia-ctk --version | head -1;"
        " grep -c 'runtimes.nvidia]' /etc/containerd/config.toml; systemctl is-active containerd;"
        " cat /etc/modprobe.d/blacklist-nouveau.conf",
    )
    lines = state.stdout.splitlines()
    assert lines[0].startswith("550."), "auto on Debian 13: the archive's 550 branch"
    assert "1.17.8" in lines[1] and lines[2] == "1" and lines[3] == "active", lines
    assert "blacklist nouveau" in state.stdout
    # containerd runs every container with the NVIDIA runtime, the device plugin's own too, which must see the
    # driver to advertise nvidia.com/gpu: nvidia-ctk's default runtime, as the device plugin's README asks
    config = tomllib.loads(nodes.ssh("gpu-1", "sudo cat /etc/containerd/config.toml").stdout)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert cri["default_runtime_name"] == "nvidia", cri.get("default_runtime_name")
    assert cri["runtimes"]["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert "branch=550" in nodes.ssh("gpu-1", "cat /etc/trainkit/nvidia-driver").stdout

    # 2. the same again: nothing changes (nvidia-ctk rewrote only the scratch copy), the runtime is not restarted
    pid = nodes.ssh("gpu-1", "systemctl show -p MainPID --value containerd").stdout.strip()
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars={"node_nvidia_reboot": True})
    assert rc != 0 and recap(output, "gpu-1")["changed"] == 0, output[-4000:]
    assert boot_id(nodes, "gpu-1") == before, "allowed, but not needed: the driver did not change"
    assert nodes.ssh("gpu-1", "systemctl show -p MainPID --value containerd").stdout.strip() == pid

    # 3. the driver changes (removed, installed again) and reboots are allowed: one reboot, then the same diagnosis
    assert nodes.ssh("gpu-1", "sudo apt-get remove -y -qq nvidia-smi").returncode == 0
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars={"node_nvidia_reboot": True})
    flat = " ".join(output.split())
    assert rc != 0 and advice in flat and "not rebooted" not in flat, output[-4000:]
    after = boot_id(nodes, "gpu-1")
    assert after and after != before, "rebooted: a new boot id"

    # 4. a driver trainkit did not install (a GPU AMI's: here the same packages, no longer marked as trainkit's) is
    #    kept, whatever branch is asked for: no pin, package or repository change, and no reboot
    pinned = "sudo cat /etc/apt/preferences.d/trainkit-nvidia-driver; dpkg-query -W -f='${Version}\\n' nvidia-smi"
    image = nodes.ssh("gpu-1", "sudo rm /etc/trainkit/nvidia-driver && " + pinned).stdout
    rc, output, _r = ansible.playbook(
        book, inventory=nodes.inventory, extra_vars={"node_nvidia_reboot": True, "node_nvidia_driver_branch": "535"}
    )
    flat = " ".join(output.split())
    assert "already has NVIDIA driver" in flat and "which trainkit did not install" in flat, output[-4000:]
    assert rc != 0 and advice in flat and recap(output, "gpu-1")["changed"] == 0, output[-4000:]
    assert nodes.ssh("gpu-1", pinned).stdout == image and boot_id(nodes, "gpu-1") == after
    assert nodes.ssh("gpu-1", "test -e /etc/trainkit/nvidia-driver").returncode == 1


@pytest.mark.gpu
def test_node_nvidia_refuses_a_branch_the_gpu_cannot_use_before_changing_anything(ansible, nodes, tmp_path):
    """auto takes the GPU's oldest branch into account: Debian 13's 550 is too old for a B200 (570), and a pinned 590 too
    new for a V100 (580 is Volta's last)."""
    book = play(tmp_path, "nvidia-branch", "worker-2", "node_nvidia", {"node_nvidia_check": True})
    cases = [
        (
            {"ec2_instance_type": "p6-b200.48xlarge"},
            "(B200, blackwell), which needs driver branch 570 or newer, not 550",
        ),
        ({"ec2_instance_type": "p3.2xlarge", "node_nvidia_driver_branch": "590"}, "no driver after branch 580"),
    ]
    for extra, message in cases:
        rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars=extra)
        flat = " ".join(output.split())
        assert rc != 0 and message in flat, output[-3000:]
        assert recap(output, "worker-2")["changed"] == 0
    assert nodes.ssh("worker-2", "test -e /etc/modprobe.d/blacklist-nouveau.conf").returncode == 1


def test_node_lustre_picks_the_repository_and_packages_of_each_os_family(ansible, nodes, tmp_path):
    """The install plan per OS family (rendered on the controller from each family's facts), then the Debian path
    for real on a node: the signed repository, its key, the package, and the fstab line."""
    families = {
        "al2023": (
            {
                "ansible_distribution": "Amazon",
                "ansible_distribution_major_version": "2023",
                "ansible_os_family": "RedHat",
            },
            {"method": "dnf", "packages": ["lustre-client"]},
        ),
        "al2": (
            {
                "ansible_distribution": "Amazon",
                "ansible_distribution_major_version": "2",
                "ansible_os_family": "RedHat",
            },
            {"method": "amazon-linux-extras"},
        ),
        "ubuntu": (
            {
                "ansible_distribution": "Ubuntu",
                "ansible_distribution_major_version": "22",
                "ansible_distribution_release": "jammy",
                "ansible_os_family": "Debian",
                "ansible_kernel": "6.8.0-1015-aws",
            },
            {
                "method": "apt",
                "repository": "https://fsx-lustre-client-repo.s3.amazonaws.com/ubuntu",
                "suite": "jammy",
                "packages": ["lustre-client-modules-6.8.0-1015-aws", "lustre-client-modules-aws"],
            },
        ),
        "rocky9": (
            {"ansible_distribution": "Rocky", "ansible_distribution_major_version": "9", "ansible_os_family": "RedHat"},
            {
                "method": "yum",
                "repository": "https://fsx-lustre-client-repo.s3.amazonaws.com/el/9/$basearch",
                "packages": ["kmod-lustre-client", "lustre-client"],
            },
        ),
    }
    for name, (facts, expected) in families.items():
        book = tmp_path / ("plan-" + name + ".yml")
        book.write_text(
            json.dumps(
                [
                    {
                        "hosts": "localhost",
                        "gather_facts": False,
                        "vars": facts,
                        "tasks": [
                            {
                                "ansible.builtin.include_role": {
                                    "name": "trainkit.aws.node_lustre",
                                    "tasks_from": "plan",
                                }
                            },
                            {
                                "ansible.builtin.copy": {
                                    "content": "{{ _node_lustre_plan | to_json }}",
                                    "dest": str(tmp_path / (name + ".json")),
                                    "mode": "0644",
                                }
                            },
                        ],
                    }
                ]
            )
        )
        rc, output, _r = ansible.playbook(str(book))
        assert rc == 0, output[-3000:]
        plan = json.loads((tmp_path / (name + ".json")).read_text())
        for key, value in expected.items():
            assert plan[key] == value, (name, plan)
    # Debian: no client from AWS - a clear refusal without a repository
    book = play(
        tmp_path,
        "lustre-debian",
        "worker-2",
        "node_lustre",
        {
            "node_lustre_dns_name": "fs-0123.fsx.us-west-2.amazonaws.com",
            "node_lustre_mount_name": "abcdefgh",
            "node_lustre_install": True,
        },
    )
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory)
    assert rc != 0 and "has no Lustre client from AWS" in " ".join(output.split()), output[-3000:]
    # ... and with one (the test bed's signed repository; its package stands in for the client): key, source, install
    repository = "http://10.213.0.1:8080/libnvidia-container/stable/deb/amd64"
    extra = {
        "node_lustre_apt_repository": repository,
        "node_lustre_apt_key_url": repository + "/gpgkey",
        "node_lustre_apt_suite": "/",
        "node_lustre_apt_components": [],
        "node_lustre_packages": ["nvidia-container-toolkit"],
    }
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars=extra)
    assert rc == 0 and recap(output, "worker-2")["changed"] > 0, output[-3000:]
    source = nodes.ssh(
        "worker-2", "cat /etc/apt/sources.list.d/trainkit-lustre.sources; dpkg -l nvidia-container-toolkit"
    )
    assert (
        "URIs: " + repository in source.stdout
        and "Signed-By:" in source.stdout
        and "ii  nvidia-container" in source.stdout
    )
    fstab = nodes.ssh("worker-2", "grep /fsx /etc/fstab").stdout.strip()
    assert fstab == "fs-0123.fsx.us-west-2.amazonaws.com@tcp:/abcdefgh /fsx lustre noatime,flock,_netdev 0 0"
    rc, output, _r = ansible.playbook(book, inventory=nodes.inventory, extra_vars=extra)
    assert rc == 0 and recap(output, "worker-2")["changed"] == 0, output[-3000:]


def test_site_runs_the_nodes_stage_on_the_test_bed(ansible, nodes, local_aws, tmp_path):
    """site.yml on the local default, with the test bed up: the nodes stage mounts the storage stage's EFS and FSx
    on every worker (fstab: the kernel here has no NFS or Lustre client) and configures the GPU node."""
    cluster = unique("nodes")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "cluster_local_workdir": str(tmp_path / "k8s"),
    }
    env = dict(local_aws.env(), TRAINKIT_LOCAL_NODES_DIR=nodes.workdir)
    tags = ["identity", "network", "cluster", "storage", "nodes"]
    rc, output, _r = ansible.playbook("site.yml", extra_vars=extra, env=env, tags=tags)
    assert rc == 0, output[-4000:]
    efs = local_aws.client("efs").describe_file_systems()["FileSystems"]
    [dns] = [
        "{0}.efs.{1}.amazonaws.com".format(f["FileSystemId"], "us-west-2")
        for f in efs
        if {"Key": "trainkit:cluster", "Value": cluster} in f.get("Tags", [])
    ]
    for node in WORKERS:
        fstab = nodes.ssh(node, "cat /etc/fstab").stdout
        assert "{0}:/ /mnt/efs nfs4 {1} 0 0".format(dns, EFS_OPTIONS) in fstab, fstab
        assert "@tcp:/" in fstab and " /fsx lustre noatime,flock,_netdev 0 0" in fstab
    # the nodes stage again: nothing changes on any node
    rc, output, _r = ansible.playbook("site.yml", extra_vars=extra, env=env, tags=["nodes"])
    assert rc == 0 and all(recap(output, n)["changed"] == 0 for n in WORKERS), output[-4000:]
    assert "gpu-1" in output.split("PLAY [Nodes | NVIDIA", 1)[1], "the GPU node went through the NVIDIA play"
    rc, output, _r = ansible.playbook("playbooks/teardown.yml", extra_vars=extra, env=env)
    assert rc == 0, output[-3000:]


MPI_IMAGE = os.path.join(REPO_FILES, "images", "mpich-python", "Dockerfile")
# What the Dockerfile's base, mpioperator/mpich:v0.7.0, has from Debian (kubeflow/mpi-operator v0.7.0
# build/base/Dockerfile and mpich.Dockerfile: debian:trixie + openssh-server, openssh-client, dnsutils, mpich)
MPI_BASE_PACKAGES = ("openssh-client", "dnsutils", "mpich")


def dockerfile_build(path):
    """The ARG defaults and RUN commands after the Dockerfile's FROM, its continuation lines joined."""
    with open(path) as handle:
        lines = handle.read().replace("\\\n", " ").splitlines()
    args, runs, after_from = {}, [], False
    for line in (raw.strip() for raw in lines):
        keyword, _sep, rest = line.partition(" ")
        if keyword == "FROM":
            after_from = True
        elif keyword == "ARG" and "=" in rest:
            args.update([rest.split("=", 1)])
        elif keyword == "RUN" and after_from:
            runs.append(" ".join(rest.split()))
    return args, runs


def test_the_mpi_images_package_set_runs_train_mpi_across_ranks(nodes, tmp_path):
    """No published image has MPICH and Python (mpioperator/mpich:v0.7.0 has no python3, mpi4py or numpy), so the
    collection ships a Dockerfile. A trixie node gets the base image's Debian packages, then runs the Dockerfile's
    own RUN lines (pip offline, from the mpi4py wheel that make mpi-wheel fetched), and mpirun trains train_mpi.py on
    2 ranks under MPICH: one world of 2, the same parameters on both, the fit of the whole data set."""
    args, runs = dockerfile_build(MPI_IMAGE)
    assert runs and "MPI4PY_VERSION" in args, (args, runs)
    wheels = downloaded("mpi-wheel")  # the Dockerfile's mpi4py for trixie's python3
    [wheel] = [name for name in os.listdir(wheels) if name.endswith(".whl")]
    assert wheel.startswith("mpi4py-{0}-".format(args["MPI4PY_VERSION"])), (wheel, "make mpi-wheel again")
    node = "worker-1"
    upload = "mkdir -p /tmp/wheels /tmp/mpi && base64 -d > /tmp/wheels/{0}".format(wheel)
    with open(os.path.join(wheels, wheel), "rb") as handle:
        assert nodes.ssh(node, upload, stdin=base64.b64encode(handle.read()).decode()).returncode == 0
    # what the job's ConfigMap carries at /opt/trainkit: the role's files and the module's checkpoint.py
    shipped = [os.path.join(REPO_FILES, n) for n in ("train_mpi.py", "split_data.py", "dataset.csv")]
    shipped.append(os.path.join(REPO_FILES, "..", "..", "..", "plugins", "module_utils", "checkpoint.py"))
    for path in shipped:
        with open(path) as handle:
            uploaded = nodes.ssh(node, "cat > /tmp/mpi/" + os.path.basename(path), stdin=handle.read())
            assert uploaded.returncode == 0, uploaded.stderr

    base = nodes.ssh(
        node,
        "sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        + " ".join(MPI_BASE_PACKAGES),
        timeout=600,
    )
    assert base.returncode == 0, base.stderr[-3000:]
    assert nodes.ssh(node, "python3 -c 'import mpi4py'").returncode != 0, "the base alone cannot run train_mpi.py"
    environment = " ".join("{0}={1}".format(k, v) for k, v in sorted(args.items()))
    for run in runs:
        built = nodes.ssh(
            node,
            "sudo env DEBIAN_FRONTEND=noninteractive PIP_NO_INDEX=1 PIP_FIND_LINKS=/tmp/wheels {0} sh -c {1}".format(
                environment, shlex.quote(run)
            ),
            timeout=600,
        )
        assert built.returncode == 0, (run, built.stderr[-3000:])

    train = nodes.ssh(
        node,
        "cd /tmp/mpi && OUT_DIR=/tmp/mpi/job/data SPLIT_COUNT=2 python3 split_data.py"
        " && TRAINKIT_MOUNT_PATH=/tmp/mpi JOB_NAME=job mpirun -np 2 python3 train_mpi.py",
        timeout=300,
    )
    assert train.returncode == 0, (train.stdout[-2000:], train.stderr[-2000:])
    results = [
        json.loads(nodes.ssh(node, "cat /tmp/mpi/job/output/node_{0}/model.json".format(rank)).stdout)
        for rank in range(2)
    ]
    assert [r["rank"] for r in results] == [0, 1] and all(r["world_size"] == 2 for r in results), results
    assert all("MPICH" in r["mpi"] for r in results), results[0]["mpi"]
    assert results[0]["parameters"] == results[1]["parameters"]
    weights, bias = results[0]["parameters"]
    assert [round(w, 1) for w in weights] == [3.0, -2.0, 0.5] and round(bias[0], 1) == 1.0, results[0]
    assert sum(r["samples"] for r in results) == 1200
