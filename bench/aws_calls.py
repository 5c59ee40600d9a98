"""Benchmark: AWS requests and wall time of the identity + network foundation, first run and idempotent re-run.

For each realism profile of the local AWS endpoint (default: AWS-like life cycles and eventual consistency;
off: moto answering at once) it starts an endpoint of its own (tools/local-aws, stopped by its pid afterwards),
runs `ansible-playbook playbooks/identity.yml playbooks/network.yml` on the local inventory twice for a new
cluster, and counts the requests of each run from the endpoint's request log (tools/local-aws summary):
total, reads (Describe/List/Get/Head), writes, and answers that were "not yet visible" (eventual consistency).
Figures are medians over --repeat clusters. Usage:

    .venv/bin/python bench/aws_calls.py [--profiles default off] [--repeat 3] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
READ_ONLY = ("Describe", "List", "Get", "Head")
PLAYBOOKS = ["playbooks/identity.yml", "playbooks/network.yml"]


def tool(state_dir, *args):
    return subprocess.run(
        [os.path.join(REPO, "tools", "local-aws")] + list(args) + ["--state-dir", state_dir],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TRAINKIT_PYTHON=sys.executable),
    )


def requests(state_dir, since):
    with open(os.path.join(state_dir, "requests.jsonl")) as handle:
        return [json.loads(line) for number, line in enumerate(handle) if number >= since and line.strip()]


def lines(state_dir):
    path = os.path.join(state_dir, "requests.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return sum(1 for _line in handle)


def run(url, work, cluster):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("AWS_"):
            del env[key]
    env.update(
        AWS_ENDPOINT_URL=url,
        ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".tmp", "collections"),
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    extra = {"trainkit_cluster_name": cluster, "trainkit_credentials_dir": os.path.join(work, cluster)}
    started = time.monotonic()
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "inventories/local"] + PLAYBOOKS + ["-e", json.dumps(extra)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        sys.exit("ansible-playbook failed:\n" + proc.stdout[-3000:] + proc.stderr[-2000:])
    return time.monotonic() - started


def measure(profile, repeat, work):
    state = os.path.join(work, "aws-" + profile)
    url = tool(state, "start", "--realism", profile).stdout.strip().splitlines()[-1]
    figures = {"first": [], "rerun": []}
    try:
        for _round in range(repeat):
            cluster = "bench-" + uuid.uuid4().hex[:6]
            for label in ("first", "rerun"):
                mark = lines(state)
                seconds = run(url, work, cluster)
                made = requests(state, mark)
                figures[label].append(
                    {
                        "requests": len(made),
                        "reads": sum(1 for r in made if r["operation"].startswith(READ_ONLY)),
                        "writes": sum(1 for r in made if not r["operation"].startswith(READ_ONLY)),
                        "not_yet_visible": sum(1 for r in made if r.get("realism") == "consistency"),
                        "seconds": seconds,
                    }
                )
    finally:
        tool(state, "stop")
    return dict(
        (label, dict((key, statistics.median(r[key] for r in runs)) for key in runs[0]))
        for label, runs in figures.items()
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--profiles", nargs="+", default=["default", "off"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainkit-bench-") as work:
        results = dict((profile, measure(profile, args.repeat, work)) for profile in args.profiles)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("identity + network foundation, medians of {0} clusters".format(args.repeat))
    print("| realism | run | requests | reads | writes | not yet visible | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for profile, by_run in results.items():
        for label in ("first", "rerun"):
            r = by_run[label]
            print(
                "| {0} | {1} | {2:.0f} | {3:.0f} | {4:.0f} | {5:.0f} | {6:.1f} |".format(
                    profile, label, r["requests"], r["reads"], r["writes"], r["not_yet_visible"], r["seconds"]
                )
            )


if __name__ == "__main__":
    main()
