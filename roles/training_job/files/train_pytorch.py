"""Linear regression with PyTorch DistributedDataParallel (gloo on CPU, NCCL on GPU), started by torchrun.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT from what trainkit's launcher gave it; the
launcher also exports TRAINKIT_DATA_DIR and TRAINKIT_OUTPUT_DIR (per pod). The first process of each pod (LOCAL_RANK 0)
writes model.json with its rank, the loss, the trained parameters (which DDP keeps identical on every rank), the
backend and every rank's device.

Checkpoints (checkpoint.py, the contract): with TRAINKIT_CHECKPOINT_DIR set, rank 0 saves model and optimizer every
TRAINKIT_CHECKPOINT_EVERY steps and at the end; at start every rank resumes from the newest complete checkpoint that
rank 0 finds. TRAINKIT_STEP_DELAY (seconds after each step) slows training down, for rehearsing interruptions.

Devices: one process per GPU. trainkit runs torchrun with --nproc-per-node set to the pod's GPUs, and each process
takes the GPU of its LOCAL_RANK: model, data and DDP on cuda:LOCAL_RANK, NCCL between them (NCCL moves CUDA tensors
only - a model left on the CPU under NCCL fails with "No backend type associated with device type cpu"). With no GPU
visible, or TRAINKIT_DEVICE=cpu, every process trains on the CPU over gloo.
"""

import csv
import glob
import json
import os
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkpoint  # noqa: E402  # trainkit's checkpoint contract, shipped beside this script (/opt/trainkit)


def placement(environ, cuda_devices):
    """(backend, device) of this process: ("nccl", "cuda:<LOCAL_RANK>") with GPUs, ("gloo", "cpu") without.

    ``cuda_devices`` is the number of GPUs this process sees. A LOCAL_RANK without a GPU of its own is an error,
    not a second process on GPU 0: that would share one GPU between ranks that NCCL expects on distinct devices.
    """
    if environ.get("TRAINKIT_DEVICE", "auto") == "cpu" or cuda_devices < 1:
        return "gloo", "cpu"
    local_rank = int(environ.get("LOCAL_RANK", "0"))
    if local_rank >= cuda_devices:
        raise SystemExit(
            "LOCAL_RANK {0} has no GPU of its own: this pod sees {1} GPU(s); run one process per GPU "
            "(torchrun --nproc-per-node <= the pod's nvidia.com/gpu)".format(local_rank, cuda_devices)
        )
    return "nccl", "cuda:{0}".format(local_rank)


def load(data_dir, device):
    rows = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.csv"))):
        with open(path) as handle:
            rows.extend([float(v) for v in row] for row in csv.reader(handle) if row and not row[0].startswith("x"))
    if not rows:
        raise SystemExit("no data in {0}: run the data-split job first".format(data_dir))
    data = torch.tensor(rows, dtype=torch.float32, device=device)
    return data[:, :-1], data[:, -1:]


def main():
    epochs = int(os.environ.get("EPOCHS", "200"))
    backend, device = placement(os.environ, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend, device_id=torch.device(device))
    else:
        dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = load(os.environ["TRAINKIT_DATA_DIR"], device)
    torch.manual_seed(2026)  # the same initial parameters on every rank, drawn on the CPU whatever the device
    model = torch.nn.Linear(x.shape[1], 1).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    folder, start = checkpoint.directory(), 0
    if folder:
        # rank 0 picks the newest complete checkpoint, and every rank loads that one
        chosen = [checkpoint.newest(folder, lambda path: torch.load(path, map_location="cpu"))[0] if rank == 0 else 0]
        dist.broadcast_object_list(chosen, src=0)
        start = chosen[0]
        if start:
            state = torch.load(checkpoint.path_of(folder, start), map_location=device)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            print("rank {0}/{1} resumed from step {2}".format(rank, world, start), flush=True)
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if backend == "nccl" else None)
    every, delay = checkpoint.every(), float(os.environ.get("TRAINKIT_STEP_DELAY", "0"))
    with torch.no_grad():  # the loss to report when the newest checkpoint is already the last step
        loss = torch.nn.functional.mse_loss(model(x), y)
    for epoch in range(start, epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if epoch % 50 == 0:
            print("rank {0}/{1} epoch {2} loss {3:.6f}".format(rank, world, epoch, loss.item()), flush=True)
        step = epoch + 1
        if folder and rank == 0 and every and (step % every == 0 or step == epochs):
            state = {"step": step, "model": model.module.state_dict(), "optimizer": opt.state_dict()}
            checkpoint.save(folder, step, lambda path, state=state: torch.save(state, path))
        if delay:
            time.sleep(delay)
    params = [p.detach().cpu().ravel().tolist() for p in model.parameters()]
    devices = [None] * world
    dist.all_gather_object(devices, device)  # every rank's device, in rank order: one GPU each, or all CPUs
    result = {
        "rank": rank,
        "world_size": world,
        "samples": len(x),
        "loss": loss.item(),
        "parameters": params,
        "backend": backend,
        "device": device,
        "devices": devices,
        "resumed_from": start,
        "restart_count": int(os.environ.get("TRAINKIT_RESTART_COUNT") or 0),
    }
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:  # the pod's processes share its output directory: one writer
        with open(os.path.join(os.environ["TRAINKIT_OUTPUT_DIR"], "model.json"), "w") as handle:
            json.dump(result, handle)
    print(
        "rank {0}/{1} on {2} done: loss {3:.6f} parameters {4}".format(rank, world, device, loss.item(), params),
        flush=True,
    )
    # Every rank reaches the end, then leaves without running gloo's teardown: with torch 2.13 on CPU that
    # teardown now and then aborts a rank whose work is done ("terminate called without an active exception",
    # SIGABRT), which would fail a finished job. The results are on disk and no collective is pending.
    dist.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
