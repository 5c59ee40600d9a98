"""Linear regression with MPI data parallelism (mpi4py): every rank computes its shard's gradient, an Allreduce sums
them, and each rank takes the same step, so the parameters stay identical on every rank.

mpirun (the MPI operator's launcher) starts one rank per slot of every worker. Paths come from the job's
environment: TRAINKIT_MOUNT_PATH (the claim), TRAINKIT_DATA_SUBPATH and TRAINKIT_OUTPUT_PATH with the fields {job}
and {rank}, and JOB_NAME. Each rank reads <mount>/<data subpath> (written by split_data.py) and writes model.json with
its rank, the final loss and the parameters to <mount>/<output path>.

Checkpoints (checkpoint.py): with TRAINKIT_CHECKPOINT_PATH set, rank 0 saves the parameters every
TRAINKIT_CHECKPOINT_EVERY steps and at the end under <mount>/<checkpoint path>, and every rank resumes from the
newest complete checkpoint rank 0 finds. Full-batch gradient descent has no other state to keep.
"""

import csv
import glob
import json
import os
import sys
import time

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkpoint  # noqa: E402  # trainkit's checkpoint contract, shipped beside this script (/opt/trainkit)


def load(data_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.csv"))):
        with open(path) as handle:
            rows.extend([float(v) for v in row] for row in csv.reader(handle) if row and not row[0].startswith("x"))
    if not rows:
        raise SystemExit("no data in {0}: run the data-split job first".format(data_dir))
    data = np.array(rows, dtype="float64")
    return data[:, :-1], data[:, -1:]


def path_of(pattern_variable, default, rank):
    pattern = os.environ.get(pattern_variable) or default
    relative = pattern.format(job=os.environ.get("JOB_NAME", "job"), rank=rank)
    return os.path.join(os.environ.get("TRAINKIT_MOUNT_PATH", "."), relative)


def checkpoint_environ():
    """TRAINKIT_CHECKPOINT_DIR from the job's pattern (mpirun's ranks have no launcher to work it out)."""
    return {"TRAINKIT_CHECKPOINT_DIR": path_of("TRAINKIT_CHECKPOINT_PATH", "{job}/checkpoints", 0)}


def save_npz(path, state):
    with open(path, "wb") as handle:  # a file object: numpy would add .npz to a path
        np.savez(handle, **state)


def load_npz(path):
    with np.load(path) as data:
        return data["weights"], data["bias"]


def main():
    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    epochs, rate = int(os.environ.get("EPOCHS", "200")), 0.05
    x, y = load(path_of("TRAINKIT_DATA_SUBPATH", "{job}/data/{rank}", rank))
    counts = comm.allreduce(len(x))
    rng = np.random.default_rng(2026)
    weights, bias = rng.normal(scale=0.1, size=(x.shape[1], 1)), np.zeros(1)
    weights = comm.bcast(weights, root=0)
    folder = checkpoint.directory(checkpoint_environ()) if os.environ.get("TRAINKIT_CHECKPOINT_PATH") else None
    start = 0
    if folder:
        # rank 0 picks the newest complete checkpoint, and every rank loads that one
        start = comm.bcast(checkpoint.newest(folder, load_npz)[0] if rank == 0 else 0, root=0)
        if start:
            weights, bias = load_npz(checkpoint.path_of(folder, start))
            print("rank {0}/{1} resumed from step {2}".format(rank, world, start), flush=True)
    every, delay = checkpoint.every(), float(os.environ.get("TRAINKIT_STEP_DELAY", "0"))
    loss = float("nan")
    for epoch in range(start, epochs):
        error = x @ weights + bias - y
        local = np.concatenate([(2.0 * x.T @ error).ravel(), [2.0 * error.sum()], [(error**2).sum()]])
        total = np.empty_like(local)
        comm.Allreduce(local, total, op=MPI.SUM)  # the gradient of the whole data set, summed over the ranks
        grad, loss = total[:-1] / counts, total[-1] / counts
        weights -= rate * grad[:-1].reshape(weights.shape)
        bias -= rate * grad[-1]
        if epoch % 50 == 0 and rank == 0:
            print("epoch {0} loss {1:.6f} ({2} ranks, {3} samples)".format(epoch, loss, world, counts), flush=True)
        step = epoch + 1
        if folder and rank == 0 and every and (step % every == 0 or step == epochs):
            state = {"weights": weights.copy(), "bias": bias.copy()}
            checkpoint.save(folder, step, lambda path, state=state: save_npz(path, state))
        if delay:
            time.sleep(delay)
    if start >= epochs:  # resumed from the last step: the loss of the parameters as they are
        loss = comm.allreduce(float(((x @ weights + bias - y) ** 2).sum())) / counts
    params = [weights.ravel().tolist(), bias.tolist()]
    output = path_of("TRAINKIT_OUTPUT_PATH", "{job}/output/node_{rank}", rank)
    os.makedirs(output, exist_ok=True)
    result = {
        "rank": rank,
        "world_size": world,
        "samples": len(x),
        "loss": float(loss),
        "parameters": params,
        "host": MPI.Get_processor_name(),
        "mpi": MPI.Get_library_version().splitlines()[0].strip(),
        "resumed_from": start,
        "restart_count": int(os.environ.get("TRAINKIT_RESTART_COUNT") or 0),
    }
    with open(os.path.join(output, "model.json"), "w") as handle:
        json.dump(result, handle)
    print("rank {0}/{1} on {2} done: loss {3:.6f} parameters {4}".format(rank, world, result["host"], loss, params))


if __name__ == "__main__":
    main()
