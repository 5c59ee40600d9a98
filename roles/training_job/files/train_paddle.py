"""Linear regression with PaddlePaddle data parallelism (collective, gloo on CPU or NCCL on GPU).

Run by trainkit's launcher, which exports PADDLE_TRAINER_ID, PADDLE_TRAINERS_NUM, PADDLE_TRAINER_ENDPOINTS and
PADDLE_CURRENT_ENDPOINT, TRAINKIT_DATA_DIR (this trainer's shard, written by split_data.py) and TRAINKIT_OUTPUT_DIR.
Each trainer writes model.json (its rank, the final loss, its device and the trained parameters) to its output
directory: after an all-reduce of every gradient, the parameters are the same on every rank.

Checkpoints (checkpoint.py): with TRAINKIT_CHECKPOINT_DIR set, trainer 0 saves model and optimizer every
TRAINKIT_CHECKPOINT_EVERY steps and at the end, and every trainer resumes from the newest complete checkpoint that
trainer 0 finds.

Devices: one trainer per pod and per GPU. With Paddle's GPU build and a GPU visible, the trainer works on gpu:N, N the
first of FLAGS_selected_gpus (0 unless set), and the collective runs over NCCL; the CPU build (or
TRAINKIT_DEVICE=cpu) trains on the CPU over gloo. The device is set before the parallel environment starts, since
Paddle picks the collective's backend from it.
"""

import csv
import glob
import json
import os
import sys
import time

import numpy as np
import paddle
import paddle.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkpoint  # noqa: E402  # trainkit's checkpoint contract, shipped beside this script (/opt/trainkit)


def load(data_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.csv"))):
        with open(path) as handle:
            rows.extend([float(v) for v in row] for row in csv.reader(handle) if row and not row[0].startswith("x"))
    if not rows:
        raise SystemExit("no data in {0}: run the data-split job first".format(data_dir))
    data = np.array(rows, dtype="float32")
    return data[:, :-1], data[:, -1:]


def placement(environ, compiled_with_cuda, cuda_devices):
    """The device this trainer uses: "gpu:<N>" with a CUDA build and a GPU visible, else "cpu"."""
    if environ.get("TRAINKIT_DEVICE", "auto") == "cpu" or not compiled_with_cuda or cuda_devices < 1:
        return "cpu"
    selected = (environ.get("FLAGS_selected_gpus") or "0").split(",")[0]
    if int(selected) >= cuda_devices:
        raise SystemExit("FLAGS_selected_gpus={0}, but this pod sees {1} GPU(s)".format(selected, cuda_devices))
    return "gpu:{0}".format(selected)


def main():
    epochs = int(os.environ.get("EPOCHS", "200"))
    cuda = paddle.is_compiled_with_cuda()
    device = placement(os.environ, cuda, paddle.device.cuda.device_count() if cuda else 0)
    paddle.set_device(device)
    dist.init_parallel_env()
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = load(os.environ["TRAINKIT_DATA_DIR"])
    paddle.seed(2026)
    model = paddle.nn.Linear(x.shape[1], 1)
    opt = paddle.optimizer.SGD(learning_rate=0.05, parameters=model.parameters())
    folder, start = checkpoint.directory(), 0
    if folder:
        # trainer 0 picks the newest complete checkpoint, and every trainer loads that one
        chosen = [checkpoint.newest(folder, paddle.load)[0] if rank == 0 else 0]
        if world > 1:
            dist.broadcast_object_list(chosen, src=0)
        start = chosen[0]
        if start:
            state = paddle.load(checkpoint.path_of(folder, start))
            model.set_state_dict(state["model"])
            opt.set_state_dict(state["optimizer"])
            print("rank {0}/{1} resumed from step {2}".format(rank, world, start), flush=True)
    layer = model
    if world > 1:
        model = paddle.DataParallel(model)
    features, target = paddle.to_tensor(x), paddle.to_tensor(y)
    every, delay = checkpoint.every(), float(os.environ.get("TRAINKIT_STEP_DELAY", "0"))
    with paddle.no_grad():  # the loss to report when the newest checkpoint is already the last step
        loss = paddle.nn.functional.mse_loss(layer(features), target)
    for epoch in range(start, epochs):
        loss = paddle.nn.functional.mse_loss(model(features), target)
        loss.backward()
        opt.step()
        opt.clear_grad()
        if epoch % 50 == 0:
            print("rank {0}/{1} epoch {2} loss {3:.6f}".format(rank, world, epoch, float(loss)), flush=True)
        step = epoch + 1
        if folder and rank == 0 and every and (step % every == 0 or step == epochs):
            state = {"model": layer.state_dict(), "optimizer": opt.state_dict()}
            checkpoint.save(folder, step, lambda path, state=state: paddle.save(state, path))
        if delay:
            time.sleep(delay)
    params = [p.numpy().ravel().tolist() for p in model.parameters()]
    result = {
        "rank": rank,
        "world_size": world,
        "samples": len(x),
        "loss": float(loss),
        "parameters": params,
        "device": device,
        "resumed_from": start,
        "restart_count": int(os.environ.get("TRAINKIT_RESTART_COUNT") or 0),
    }
    with open(os.path.join(os.environ["TRAINKIT_OUTPUT_DIR"], "model.json"), "w") as handle:
        json.dump(result, handle)
    print("rank {0}/{1} done: loss {2:.6f} parameters {3}".format(rank, world, float(loss), params), flush=True)


if __name__ == "__main__":
    main()
