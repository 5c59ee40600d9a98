"""Benchmark: wall time of identity -> network -> EKS (eksctl) -> storage (FSx), with the EKS create running in the
background while storage is built (what site.yml does) and without (one after the other).

On AWS the EKS create takes 10-15 minutes and FSx ~8; the local endpoint is given slow life cycles of the same
shape (a realism profile: EKS cluster 60 s, node group 30 s, FSx 60 s) on top of eksctl's own fixed waits
(~150 s). Each mode runs on an endpoint and a control plane of its own (stopped by their pids afterwards) and a
new cluster, and is torn down after. Usage:

    .venv/bin/python bench/eks_overlap.py [--eks 60] [--fsx 60] [--json]

Needs `make binaries awscli` (the real eksctl, the aws CLI of EKS kubeconfigs).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
CACHE = os.environ.get("TRAINKIT_CACHE_DIR") or os.path.join(os.path.expanduser("~/.cache"), "trainkit")
PLAYBOOKS = ["playbooks/identity.yml", "playbooks/network.yml", "playbooks/cluster.yml", "playbooks/storage.yml"]


def tool(name, *args):
    result = subprocess.run(
        [os.path.join(REPO, "tools", name)] + list(args),
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TRAINKIT_PYTHON=sys.executable),
    )
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def playbook(url, work, playbooks, extra):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("AWS_"):
            del env[key]
    env.update(
        AWS_ENDPOINT_URL=url,
        ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".tmp", "collections"),
        PATH=os.pathsep.join([BIN, os.path.join(CACHE, "awscli", "bin"), env.get("PATH", "")]),
    )
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "inventories/local"] + playbooks
    command += ["-e", json.dumps(extra)]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit("ansible-playbook failed:\n" + (proc.stdout + proc.stderr)[-4000:])
    return time.monotonic() - started


def one(mode, times):
    with tempfile.TemporaryDirectory(prefix="bench-eks-") as work:
        profile = os.path.join(work, "profile.json")
        with open(profile, "w") as handle:
            json.dump({"name": "slow-eks-fsx", "times": times}, handle)
        k8s_dir, aws_dir = os.path.join(work, "k8s"), os.path.join(work, "aws")
        tool("local-k8s", "start", "--workdir", k8s_dir)
        url = tool("local-aws", "start", "--state-dir", aws_dir, "--realism", profile, "--control-plane", k8s_dir)
        try:
            cluster = "ovl-" + uuid.uuid4().hex[:8]
            extra = {
                "trainkit_cluster_name": cluster,
                "trainkit_cluster_provider": "eksctl",
                "trainkit_credentials_dir": os.path.join(work, "credentials"),
                "trainkit_storage_backend": "fsx",
                "trainkit_nodegroups": [{"name": "gpu", "instance_type": "g5.xlarge", "count": 1}],
                "cluster_local_workdir": k8s_dir,
                "cluster_eksctl_background": mode == "overlapped",
                "cluster_eksctl_poll": 5,
            }
            seconds = playbook(url, work, PLAYBOOKS, extra)
            playbook(url, work, ["playbooks/teardown.yml"], extra)
            return seconds
        finally:
            tool("local-aws", "stop", "--state-dir", aws_dir)
            tool("local-k8s", "stop", "--workdir", k8s_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--eks", type=float, default=60.0, help="seconds an EKS cluster takes to create")
    parser.add_argument("--fsx", type=float, default=60.0, help="seconds an FSx file system takes to create")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    times = {
        "eks_cluster_create": args.eks,
        "eks_nodegroup_create": args.eks / 2,
        "fsx_create": args.fsx,
    }
    figures = dict((mode, round(one(mode, times), 1)) for mode in ("sequential", "overlapped"))
    figures["saved_s"] = round(figures["sequential"] - figures["overlapped"], 1)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            "identity -> network -> EKS -> FSx, EKS create {0:.0f} s, FSx create {1:.0f} s".format(args.eks, args.fsx)
        )
        for key, value in figures.items():
            print("  {0:<11} {1:>7.1f} s".format(key, value))


if __name__ == "__main__":
    main()
