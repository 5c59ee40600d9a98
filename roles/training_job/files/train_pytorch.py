"""Linear regression with PyTorch DistributedDataParallel (gloo on CPU, NCCL on GPU), started by torchrun.

torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT from what trainkit's launcher gave it; the launcher
also exports TRAINKIT_DATA_DIR and TRAINKIT_OUTPUT_DIR (per pod). Each rank writes model.json with its rank, loss
and the trained parameters, which DDP keeps identical on every rank.
"""

import csv
import glob
import json
import os
import sys

import torch
import torch.distributed as dist


def load(data_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.csv"))):
        with open(path) as handle:
            rows.extend([float(v) for v in row] for row in csv.reader(handle) if row and not row[0].startswith("x"))
    if not rows:
        raise SystemExit("no data in {0}: run the data-split job first".format(data_dir))
    data = torch.tensor(rows, dtype=torch.float32)
    return data[:, :-1], data[:, -1:]


def main():
    epochs = int(os.environ.get("EPOCHS", "200"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = load(os.environ["TRAINKIT_DATA_DIR"])
    torch.manual_seed(2026)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(x.shape[1], 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for epoch in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if epoch % 50 == 0:
            print("rank {0}/{1} epoch {2} loss {3:.6f}".format(rank, world, epoch, loss.item()), flush=True)
    params = [p.detach().ravel().tolist() for p in model.parameters()]
    result = {"rank": rank, "world_size": world, "samples": len(x), "loss": loss.item(), "parameters": params}
    with open(os.path.join(os.environ["TRAINKIT_OUTPUT_DIR"], "model.json"), "w") as handle:
        json.dump(result, handle)
    print("rank {0}/{1} done: loss {2:.6f} parameters {3}".format(rank, world, loss.item(), params), flush=True)
    # Every rank reaches the end, then leaves without running gloo's teardown: with torch 2.13 on CPU that
    # teardown now and then aborts a rank whose work is done ("terminate called without an active exception",
    # SIGABRT), which would fail a finished job. The results are on disk and no collective is pending.
    dist.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
