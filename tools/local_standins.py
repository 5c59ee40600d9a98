# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a node's image would bring that this machine lacks, for the local runner's pods (tools/local_runner.py).

The runner puts a wrapper for each of these on its pods' PATH (``<workdir>/runner-bin``) and maps the commands
below onto them, the way it maps ``python3`` onto the training interpreter:

``sshd``
    The ``/usr/sbin/sshd -De`` of an MPI worker pod. Every pod of the local cluster is on this machine, so "logging
    in" to a worker means running a command in that pod's environment: the runner writes the pod's record (its
    names, environment and working directory) to ``<workdir>/ssh-hosts/`` before it starts this stand-in, which
    waits until the pod is deleted and then removes the record.
``ssh``
    The client MPI launchers run (``ssh [options] host command...``): finds the worker's record by the host name
    (``<pod>.<subdomain>.<namespace>.svc``, as the MPI operator's hostfile names it, or the pod's IP) and runs the
    command there with ``sh -c``, its output and exit code passed through, as ssh does, and appends it to the
    worker's ``<record>.sessions`` log. The command runs as a child of the launcher's ``mpirun``, not of the
    worker's sshd, so the session's pid goes into the record's ``sessions`` file, and the runner kills every
    session (and all below it) when the worker's container ends: a rank dies with its worker pod, and the ssh that
    mpirun started ends, as a dropped connection ends it. An unknown or stopped host fails like ssh:
    ``Could not resolve hostname``, exit 255. Keys are not checked.
``nvidia-device-plugin``
    The NVIDIA device plugin's container. The runner, as the kubelet, registers the node's GPUs (the node's
    ``trainkit.io/gpus`` annotation) in the node's capacity and allocatable when this runs, and sets allocatable
    back to 0 when it stops; on a node without GPUs it exits 1 the way the real plugin fails to load NVML.
``efa-device-plugin``
    The AWS EFA device plugin's container. The runner registers the node's EFA interfaces (its ``trainkit.io/efa``
    annotation) as ``vpc.amazonaws.com/efa`` while this runs, as it does GPUs; on a node without EFA it finds no
    device, registers none and waits, as the real plugin does.
``nvidia-smi``
    Lists the GPUs the device plugin allocated to the container (``NVIDIA_VISIBLE_DEVICES``): there is no GPU here,
    and every line says so. ``--query-gpu=<fields> --format=csv,noheader`` answers index, uuid and name, and
    ``[N/A]`` for the driver's version and the memory, as nvidia-smi does for a field it has no value of; ``-q``
    says there is no driver.
"""

import json
import os
import shlex
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proctree import start_time  # noqa: E402

# ssh's options that take an argument (OpenSSH 9)
SSH_OPTIONS_WITH_ARG = set("BbcDEeFIiJLlmOopQRSWw")


def hosts_dir():
    return os.path.join(os.environ["TRAINKIT_RUNNER_DIR"], "ssh-hosts")


def find_host(host):
    """(record, its path) of the worker pod answering to ``host``, or (None, None)."""
    try:
        entries = sorted(e for e in os.listdir(hosts_dir()) if e.endswith(".json"))
    except OSError:
        entries = []
    for entry in entries:
        try:
            with open(os.path.join(hosts_dir(), entry)) as handle:
                candidate = json.load(handle)
        except (OSError, ValueError):
            continue
        if host in candidate["names"]:
            return candidate, os.path.join(hosts_dir(), entry)
    return None, None


def ssh(argv):
    args = list(argv)
    attempts = 1
    while args and args[0].startswith("-") and len(args[0]) > 1:
        option = args.pop(0)
        if option == "--":
            break
        letters = option[1:]
        for i, letter in enumerate(letters):
            if letter in SSH_OPTIONS_WITH_ARG:
                value = letters[i + 1 :] or (args.pop(0) if args else "")  # -oX=Y, or -o X=Y
                if letter == "o" and value.lower().startswith("connectionattempts="):
                    attempts = max(1, int(value.split("=", 1)[1]))
                break
    if not args:
        sys.stderr.write("usage: ssh [options] destination [command [argument ...]]\n")
        return 255
    host = args.pop(0).split("@", 1)[-1]
    # ssh tries ConnectionAttempts times, a second apart: a worker whose sshd is still starting gets that long
    record, record_path = find_host(host)
    for _attempt in range(attempts - 1):
        if record is not None:
            break
        time.sleep(1)
        record, record_path = find_host(host)
    if record is None:
        sys.stderr.write("ssh: Could not resolve hostname {0}: Name or service not known\n".format(host))
        return 255
    if not args:
        sys.stderr.write("ssh: {0}: the local runner's ssh runs commands only, no login shell\n".format(host))
        return 255
    command = " ".join(args)
    # the worker's session log, as sshd's auth log would have it: what ran there, and from where
    with open(record_path[: -len(".json")] + ".sessions", "a") as handle:
        handle.write(
            "{0} from {1}: {2}\n".format(time.strftime("%Y-%m-%dT%H:%M:%S"), os.environ.get("HOSTNAME", "?"), command)
        )
    if record.get("sessions"):
        # this process becomes the session (exec below): the runner kills it, and all below it, with the worker's
        # pod - as a worker's container takes its sshd's sessions with it when it ends
        with open(record["sessions"], "a") as handle:
            handle.write("{0} {1}\n".format(os.getpid(), start_time(os.getpid())))
    os.chdir(record["cwd"])
    # ssh joins the remote command's words with spaces and the remote shell parses them
    os.execve("/bin/sh", ["sh", "-c", command], record["env"])
    return 255  # not reached


def wait_for_termination(on_exit):
    def stop(_signum, _frame):
        on_exit()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


def sshd(argv):
    record = os.environ.get("TRAINKIT_SSH_RECORD")
    if not record or not os.path.exists(record):
        sys.stderr.write("sshd: no host record from the local runner; is this pod run by it?\n")
        return 1
    with open(record) as handle:
        names = json.load(handle)["names"]
    print(
        "sshd (local runner stand-in, args {0}): accepting commands for {1}".format(shlex.join(argv), ", ".join(names))
    )
    sys.stdout.flush()

    def remove():
        try:
            os.unlink(record)
        except OSError:
            pass

    wait_for_termination(remove)
    return 0


def device_plugin(_argv):
    gpus = int(os.environ.get("TRAINKIT_NODE_GPUS") or 0)
    node = os.environ.get("TRAINKIT_NODE_NAME", "")
    if gpus < 1:
        print("Failed to initialize NVML: could not load NVML library (node {0} has no NVIDIA GPU)".format(node))
        if os.environ.get("FAIL_ON_INIT_ERROR", "true").lower() == "false":
            print("FAIL_ON_INIT_ERROR is false: registering no devices, waiting")
            sys.stdout.flush()
            wait_for_termination(lambda: None)
        return 1
    print(
        "nvidia-device-plugin (local runner stand-in): registered nvidia.com/gpu x{0} of node {1} with the kubelet "
        "stand-in; no GPU hardware is involved".format(gpus, node)
    )
    sys.stdout.flush()
    wait_for_termination(lambda: None)
    return 0


def efa_device_plugin(_argv):
    interfaces = int(os.environ.get("TRAINKIT_NODE_EFA") or 0)
    node = os.environ.get("TRAINKIT_NODE_NAME", "")
    if interfaces < 1:
        print(
            "aws-efa-k8s-device-plugin (local runner stand-in): no EFA device on node {0}; none registered".format(node)
        )
    else:
        print(
            "aws-efa-k8s-device-plugin (local runner stand-in): registered vpc.amazonaws.com/efa x{0} of node {1} "
            "with the kubelet stand-in; no EFA hardware is involved".format(interfaces, node)
        )
    sys.stdout.flush()
    wait_for_termination(lambda: None)
    return 0


# What --query-gpu answers per field; nvidia-smi prints [N/A] for a field it has no value of, and there is no driver
QUERY_FIELDS = {"index": None, "uuid": None, "name": None, "driver_version": "[N/A]", "memory.total": "[N/A]"}


def nvidia_smi(argv):
    devices = [
        d for d in (os.environ.get("NVIDIA_VISIBLE_DEVICES") or "").split(",") if d and d not in ("void", "none")
    ]
    if not devices:
        print("No devices were found")
        return 6
    instance = os.environ.get("TRAINKIT_NODE_INSTANCE_TYPE", "unknown instance type")
    node = os.environ.get("TRAINKIT_NODE_NAME", "")
    query = [a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")]
    if query:  # --query-gpu=a,b --format=csv,noheader: one line per GPU, the fields comma-separated
        fields = query[0].split(",")
        unknown = [f for f in fields if f not in QUERY_FIELDS]
        if unknown:
            print('Field "{0}" is not a valid field to query.'.format(unknown[0]))
            return 2
        if not any(a.startswith("--format=csv") for a in argv):
            print("--format=csv is required with --query-gpu")
            return 2
        for index, uuid in enumerate(devices):
            named = {"index": str(index), "uuid": uuid, "name": "simulated GPU of {0}".format(instance)}
            print(", ".join(QUERY_FIELDS[f] or named[f] for f in fields))
        return 0
    if "-q" in argv:
        print("Driver Version                            : [N/A] (trainkit local runner: no driver)")
        print("Attached GPUs                             : {0}".format(len(devices)))
        return 0
    for index, uuid in enumerate(devices):
        print(
            "GPU {0}: simulated GPU of {1} on node {2}, allocated by the local device plugin stand-in "
            "(UUID: {3})".format(index, instance, node, uuid)
        )
    if "-L" not in argv:
        print("(trainkit local runner: no GPU hardware, no driver; only the allocation above is real)")
    return 0


COMMANDS = {
    "ssh": ssh,
    "sshd": sshd,
    "nvidia-device-plugin": device_plugin,
    "efa-device-plugin": efa_device_plugin,
    "nvidia-smi": nvidia_smi,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: local_standins.py {0} [args...]".format("|".join(sorted(COMMANDS))))
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))


if __name__ == "__main__":
    main()
