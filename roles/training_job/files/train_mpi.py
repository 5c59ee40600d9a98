"""Linear regression with MPI data parallelism (mpi4py): every rank computes its shard's gradient, an Allreduce sums
them, and each rank takes the same step, so the parameters stay identical on every rank.

mpirun (the MPI operator's launcher) starts one rank per slot of every worker. Paths come from the job's
environment: TRAINKIT_MOUNT_PATH (the claim), TRAINKIT_DATA_SUBPATH and TRAINKIT_OUTPUT_PATH with the fields {job}
and {rank}, and JOB_NAME. Each rank reads <mount>/<data subpath> (written by split_data.py) and writes model.json with
its rank, the final loss and the parameters to <mount>/<output path>.
"""

import csv
import glob
import json
import os

import numpy as np
from mpi4py import MPI


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


def main():
    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    epochs, rate = int(os.environ.get("EPOCHS", "200")), 0.05
    x, y = load(path_of("TRAINKIT_DATA_SUBPATH", "{job}/data/{rank}", rank))
    counts = comm.allreduce(len(x))
    rng = np.random.default_rng(2026)
    weights, bias = rng.normal(scale=0.1, size=(x.shape[1], 1)), np.zeros(1)
    weights = comm.bcast(weights, root=0)
    for epoch in range(epochs):
        error = x @ weights + bias - y
        local = np.concatenate([(2.0 * x.T @ error).ravel(), [2.0 * error.sum()], [(error**2).sum()]])
        total = np.empty_like(local)
        comm.Allreduce(local, total, op=MPI.SUM)  # the gradient of the whole data set, summed over the ranks
        grad, loss = total[:-1] / counts, total[-1] / counts
        weights -= rate * grad[:-1].reshape(weights.shape)
        bias -= rate * grad[-1]
        if epoch % 50 == 0 and rank == 0:
            print("epoch {0} loss {1:.6f} ({2} ranks, {3} samples)".format(epoch, loss, world, counts), flush=True)
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
    }
    with open(os.path.join(output, "model.json"), "w") as handle:
        json.dump(result, handle)
    print("rank {0}/{1} on {2} done: loss {3:.6f} parameters {4}".format(rank, world, result["host"], loss, params))


if __name__ == "__main__":
    main()
