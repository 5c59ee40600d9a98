"""Benchmark: distributed training jobs of 8, 64 and 256 workers on the local cluster.

For each size it submits a PaddlePaddle job with trainkit.aws.training_job (a real `ansible` process, wait=false)
and measures, from the moment the module was started:

- running: until every pod of the job is Running (KWOK simulates the pods: scheduling, IPs, phases);
- complete: until the Job reports Complete (each pod "runs" for --runtime-ms, then succeeds);
- module: the wall time of the ansible process that rendered and applied the objects;
- direct: the time to apply the same objects directly with the collection's client (server-side apply,
  no Ansible), so that module - direct is the module's own overhead (Ansible start-up, AnsiballZ, validation).

The control plane is started for the run in a temporary directory (or --kubeconfig reuses one) and stopped by
its pids afterwards. Figures are medians over --repeat runs. Usage:

    .venv/bin/python bench/training_jobs.py [--sizes 8 64 256] [--repeat 3] [--runtime-ms 1000]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".tmp", "collections"))

from ansible_collections.trainkit.aws.plugins.module_utils import launcher  # noqa: E402
from ansible_collections.trainkit.aws.plugins.module_utils import training  # noqa: E402
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client  # noqa: E402
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import ready  # noqa: E402

BIN = os.path.dirname(sys.executable)
NAMESPACE = "default"


def nodes(client, count, cidr_octet):
    """Simulated nodes big enough for the largest job (pods per node 300)."""
    for i in range(count):
        name = "bench-{0}".format(i)
        cidr = "127.{0}.{1}.0/24".format(cidr_octet, i)
        client.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {"kubernetes.io/hostname": name, "trainkit.io/bench": "true"},
                },
                "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
                "status": {
                    "allocatable": {"cpu": "256", "memory": "1Ti", "pods": "300"},
                    "capacity": {"cpu": "256", "memory": "1Ti", "pods": "300"},
                },
            }
        )


def job_spec(name, workers, runtime_ms):
    return {
        "name": name,
        "namespace": NAMESPACE,
        "framework": "paddle",
        "image": "paddlepaddle/paddle:3.3.1",
        "command": ["python3", "/opt/trainkit/train_paddle.py"],
        "workers": workers,
        "pservers": 0,
        "cpu": "100m",
        "gpus": 0,
        "node_selector": {"trainkit.io/bench": "true"},
        "mount_path": "/mnt/data",
        "data_subpath": "{job}/data/{rank}",
        "output_path": "{job}/output/node_{rank}",
        "ports": {"base": 7164, "num": 1, "num_sparse": 0, "host_port": False},
        "pod_annotations": {"trainkit.io/simulated-runtime-ms": str(runtime_ms)},
    }


def started(phase):
    return phase in ("Running", "Succeeded")


def watch_job(client, obj, workers, start, timeout=600):
    """(seconds to all pods Running, seconds to Job Complete), both counted from start, following watches."""
    selector = {"labelSelector": "trainkit.io/job=" + obj["metadata"]["name"]}
    pods_path = "/api/v1/namespaces/{0}/pods".format(NAMESPACE)
    deadline = start + timeout
    running_at = None
    while running_at is None:
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for the pods of {0}".format(obj["metadata"]["name"]))
        _s, pods = client.request("GET", pods_path, query=selector)
        phases = dict((p["metadata"]["name"], p["status"].get("phase")) for p in pods["items"])
        if sum(1 for p in phases.values() if started(p)) >= workers:
            running_at = time.monotonic() - start
            break
        query = dict(selector, resourceVersion=pods["metadata"]["resourceVersion"], timeoutSeconds="10")
        for event_type, pod in client.stream(pods_path, query, 10):
            if event_type == "ERROR":
                break  # list afresh
            phases[pod["metadata"]["name"]] = pod["status"].get("phase") if event_type != "DELETED" else None
            if sum(1 for p in phases.values() if started(p)) >= workers:
                running_at = time.monotonic() - start
                break
    client.wait(obj, NAMESPACE, ready, max(1, deadline - time.monotonic()), "the Job to complete")
    return running_at, time.monotonic() - start


def delete(client, spec, objects):
    for obj in reversed(objects):
        try:
            client.delete(obj, NAMESPACE, propagation="Foreground")
        except Exception:  # noqa: BLE001 - already gone
            pass
    for obj in objects:
        client.wait(obj, NAMESPACE, lambda current: current is None, 300, "deletion")
    while client.request(
        "GET", "/api/v1/namespaces/default/pods", query={"labelSelector": "trainkit.io/job=" + spec["name"]}
    )[1]["items"]:
        time.sleep(0.2)


def run_module(kubeconfig, spec):
    args = dict(spec, kubeconfig=kubeconfig, wait=False)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    start = time.monotonic()
    proc = subprocess.run(
        [os.path.join(BIN, "ansible"), "localhost", "-m", "trainkit.aws.training_job", "-a", json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit("training_job failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    return start, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runtime-ms", type=int, default=1000)
    parser.add_argument("--kubeconfig", help="use this running cluster instead of starting one")
    args = parser.parse_args()
    workdir = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        workdir = tempfile.mkdtemp(prefix="trainkit-bench-")
        started = subprocess.run(
            [os.path.join(REPO, "tools", "local-k8s"), "start", "--workdir", workdir],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, TRAINKIT_PYTHON=sys.executable),
        )
        if started.returncode != 0:
            sys.exit(started.stderr)
        kubeconfig = started.stdout.strip().splitlines()[-1]
    client = Client(kubeconfig)
    source = open(launcher.__file__).read()
    rows = []
    try:
        nodes(client, 4, 30)
        for size in args.sizes:
            samples = {"module": [], "direct": [], "running": [], "complete": []}
            for i in range(args.repeat):
                spec = job_spec("bench-{0}-{1}".format(size, i), size, args.runtime_ms)
                objects = training.render(spec, source)
                workload = training.workloads(objects)[0]
                start, module_s = run_module(kubeconfig, spec)
                running, complete = watch_job(client, workload, size, start)
                delete(client, spec, objects)
                t0 = time.monotonic()
                for obj in objects:
                    client.apply(obj, NAMESPACE)
                direct_s = time.monotonic() - t0
                watch_job(client, workload, size, t0)
                delete(client, spec, objects)
                for key, value in (
                    ("module", module_s),
                    ("direct", direct_s),
                    ("running", running),
                    ("complete", complete),
                ):
                    samples[key].append(value)
            rows.append((size, dict((k, statistics.median(v)) for k, v in samples.items())))
            print(
                "workers {0:4d}: all Running {running:6.2f}s  Complete {complete:6.2f}s  module {module:5.2f}s  "
                "direct apply {direct:5.3f}s  overhead {over:5.2f}s".format(
                    size, over=rows[-1][1]["module"] - rows[-1][1]["direct"], **rows[-1][1]
                ),
                flush=True,
            )
    finally:
        client.close()
        if workdir:
            subprocess.run(
                [os.path.join(REPO, "tools", "local-k8s"), "stop", "--workdir", workdir],
                check=False,
                env=dict(os.environ, TRAINKIT_PYTHON=sys.executable),
                capture_output=True,
            )
    print(
        "\n| workers | all pods Running (s) | Job Complete (s) | training_job module (s) | direct apply (s) | overhead (s) |"
    )
    print("|---|---|---|---|---|---|")
    for size, m in rows:
        print(
            "| {0} | {1:.2f} | {2:.2f} | {3:.2f} | {4:.3f} | {5:.2f} |".format(
                size, m["running"], m["complete"], m["module"], m["direct"], m["module"] - m["direct"]
            )
        )
    print(
        "(medians of {0} runs; pods simulated by KWOK, {1} ms each; times from the start of the submission)".format(
            args.repeat, args.runtime_ms
        )
    )


if __name__ == "__main__":
    main()
