"""The fabric check: all-reduce bus bandwidth across a job's nodes, before the job trains.

Run by torchrun (one process per GPU, or one per pod on CPU) in the pods of a trainkit PyTorch job, on the job's
nodes. Every process takes part in an all-reduce of each message size (NCCL on GPUs, gloo on CPU) and the bus
bandwidth is computed as nccl-tests' all_reduce_perf does (doc/PERFORMANCE.md there): algbw = size / time, busbw =
algbw x 2 (n - 1) / n, in GB/s (10^9 bytes). Then every pair of nodes exchanges one message point to point (the
first process of each node), so that a slow link can be named.

Rank 0 writes the result as one JSON document to the container's termination message (/dev/termination-log,
which Kubernetes puts in the pod's status) and prints the table. With TRAINKIT_FABRIC_MIN_BUSBW_GBPS above the bus
bandwidth of the largest message, it exits 3 with a message naming the figures and the slowest node pair: the
training job is not started.

Environment: TRAINKIT_FABRIC_SIZES (bytes, comma-separated; default 1 KiB to 64 MiB on GPUs, to 16 MiB on CPU),
TRAINKIT_FABRIC_ITERATIONS (default 20), TRAINKIT_FABRIC_MIN_BUSBW_GBPS (default 0: report only),
TRAINKIT_TERMINATION_LOG (default /dev/termination-log, the container's terminationMessagePath).
"""

import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist

TERMINATION_LOG = os.environ.get("TRAINKIT_TERMINATION_LOG", "/dev/termination-log")  # the kubelet's default path


def placement():
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and os.environ.get("TRAINKIT_DEVICE", "") != "cpu":
        if local_rank >= torch.cuda.device_count():
            sys.exit(
                "fabric check: LOCAL_RANK {0} has no GPU of its own ({1} visible)".format(
                    local_rank, torch.cuda.device_count()
                )
            )
        torch.cuda.set_device(local_rank)
        return "nccl", torch.device("cuda", local_rank)
    return "gloo", torch.device("cpu")


def sizes(device):
    given = os.environ.get("TRAINKIT_FABRIC_SIZES")
    if given:
        return [int(s) for s in given.split(",") if s.strip()]
    top = 64 << 20 if device.type == "cuda" else 16 << 20
    out, size = [], 1 << 10
    while size <= top:
        out.append(size)
        size <<= 2
    return out


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def all_reduce_row(size, device, iterations, world):
    count = max(1, size // 4)
    buffer = torch.ones(count, dtype=torch.float32, device=device)
    for _warm in range(3):  # warm-up: connections, algorithms
        dist.all_reduce(buffer)
    synchronize(device)
    dist.barrier()
    start = time.perf_counter()
    for _round in range(iterations):
        dist.all_reduce(buffer)
    synchronize(device)
    elapsed = (time.perf_counter() - start) / iterations
    # the slowest rank's time is the collective's time
    slowest = torch.tensor([elapsed], dtype=torch.float64, device=device)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    seconds = float(slowest.item())
    nbytes = count * 4
    algbw = nbytes / seconds / 1e9
    return {
        "bytes": nbytes,
        "time_us": round(seconds * 1e6, 1),
        "algbw_gbps": round(algbw, 3),
        "busbw_gbps": round(algbw * 2 * (world - 1) / world, 3),
    }


def pair_rows(device, size, iterations, node, nodes, first_of_node):
    """One message each way between the first processes of every pair of nodes, the others waiting."""
    rows = []
    buffer = torch.ones(max(1, size // 4), dtype=torch.float32, device=device)
    for a in range(nodes):
        for b in range(a + 1, nodes):
            dist.barrier()
            seconds = 0.0
            if first_of_node and node in (a, b):
                peer = first_rank_of(b if node == a else a)
                start = time.perf_counter()
                for _round in range(iterations):
                    if node == a:
                        dist.send(buffer, peer)
                        dist.recv(buffer, peer)
                    else:
                        dist.recv(buffer, peer)
                        dist.send(buffer, peer)
                synchronize(device)
                seconds = (time.perf_counter() - start) / iterations
            measured = torch.tensor([seconds], dtype=torch.float64, device=device)
            dist.all_reduce(measured, op=dist.ReduceOp.MAX)
            rows.append({"nodes": [a, b], "gbps": round(2 * buffer.numel() * 4 / float(measured.item()) / 1e9, 3)})
    return rows


def first_rank_of(node):
    return node * int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def main():
    backend, device = placement()
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    node, nodes = rank // local_size, world // local_size
    iterations = int(os.environ.get("TRAINKIT_FABRIC_ITERATIONS", "20"))
    rows = [all_reduce_row(size, device, iterations, world) for size in sizes(device)]
    pair_size = min(rows[-1]["bytes"], 4 << 20)
    pairs = pair_rows(device, pair_size, max(1, iterations // 2), node, nodes, rank % local_size == 0)
    hosts = [None] * world
    dist.all_gather_object(hosts, os.environ.get("POD_NAME") or socket.gethostname())
    dist.destroy_process_group()
    if rank != 0:
        return 0
    names = [hosts[first_rank_of(n)] for n in range(nodes)]
    for pair in pairs:
        pair["nodes"] = [names[i] for i in pair["nodes"]]
    minimum = float(os.environ.get("TRAINKIT_FABRIC_MIN_BUSBW_GBPS") or 0)
    largest = rows[-1]
    slowest = min(pairs, key=lambda p: p["gbps"]) if pairs else None
    result = {
        "fabric": backend,
        "world_size": world,
        "nodes": names,
        "busbw_gbps": largest["busbw_gbps"],
        "at_bytes": largest["bytes"],
        "min_busbw_gbps": minimum,
        "ok": largest["busbw_gbps"] >= minimum,
        "sizes": rows,
        "pairs": pairs,
    }
    table = ["{0:>12} {1:>12} {2:>12} {3:>12}".format("bytes", "time (us)", "algbw GB/s", "busbw GB/s")]
    table += ["{bytes:>12} {time_us:>12} {algbw_gbps:>12} {busbw_gbps:>12}".format(**row) for row in rows]
    table += ["pair {0} <-> {1}: {2} GB/s".format(p["nodes"][0], p["nodes"][1], p["gbps"]) for p in pairs]
    print("\n".join(table))
    result["table"] = [" ".join(line.split()) for line in table]
    document = json.dumps(result, separators=(",", ":"))
    for bulky in ("table", "pairs"):  # the kubelet keeps 4096 bytes of a termination message
        if len(document) > 4000:
            result.pop(bulky)
            document = json.dumps(result, separators=(",", ":"))
    print(document, flush=True)
    if result["ok"]:
        terminate_with(document)
    else:
        message = (
            "fabric check: all-reduce bus bandwidth {0} GB/s ({1}, {2} processes on {3} nodes, {4} bytes) is below "
            "training_fabric_min_busbw_gbps {5}".format(
                largest["busbw_gbps"], backend, world, nodes, largest["bytes"], minimum
            )
        )
        if slowest:
            message += "; the slowest node pair is {0} <-> {1} at {2} GB/s".format(
                slowest["nodes"][0], slowest["nodes"][1], slowest["gbps"]
            )
        message += ". Training was not started."
        print(message, flush=True)
        terminate_with(message)  # what the job's failure reports
        return 3
    return 0


def terminate_with(text):
    """The container's termination message, which Kubernetes keeps in the pod's status."""
    try:
        with open(TERMINATION_LOG, "w") as handle:
            handle.write(text)
    except OSError:
        pass  # not in a pod: the printed lines are all


if __name__ == "__main__":
    sys.exit(main())
