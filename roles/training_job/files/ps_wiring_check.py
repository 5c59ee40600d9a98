"""Checks a PaddlePaddle parameter-server job's wiring with plain sockets (no PaddlePaddle needed).

Run by trainkit's launcher in every pod of a `pservers > 0` job. A pserver (TRAINING_ROLE=PSERVER) listens on
PADDLE_CURRENT_ENDPOINT and answers each trainer; a trainer connects to every endpoint of
PADDLE_PSERVERS_IP_PORT_LIST, sends its id and a payload, and checks the pserver's answer. Every process writes
what it saw to wiring.json in TRAINKIT_OUTPUT_DIR (when set) and exits non-zero on any mismatch or timeout.
"""

import json
import os
import socket
import sys
import time

TIMEOUT = float(os.environ.get("WIRING_TIMEOUT", "120"))


def recv_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def pserver(env):
    host, port = env["PADDLE_CURRENT_ENDPOINT"].rsplit(":", 1)
    trainers = int(env["PADDLE_TRAINERS_NUM"])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, int(port)))
    server.listen(trainers)
    server.settimeout(TIMEOUT)
    seen = {}
    print(
        "pserver {0} listening on {1}:{2} for {3} trainers".format(env["PADDLE_PSERVER_ID"], host, port, trainers),
        flush=True,
    )
    while len(seen) < trainers:
        conn, peer = server.accept()
        with conn:
            message = json.loads(recv_line(conn))
            total = sum(message["payload"])
            seen[str(message["trainer_id"])] = {"peer": peer[0], "sum": total}
            conn.sendall((json.dumps({"pserver": env["PADDLE_CURRENT_ENDPOINT"], "sum": total}) + "\n").encode())
    return {"role": "PSERVER", "endpoint": env["PADDLE_CURRENT_ENDPOINT"], "trainers": seen}


def trainer(env):
    trainer_id = int(env["PADDLE_TRAINER_ID"])
    payload = [trainer_id * 100 + i for i in range(8)]
    answers = {}
    for endpoint in env["PADDLE_PSERVERS_IP_PORT_LIST"].split(","):
        host, port = endpoint.rsplit(":", 1)
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                # from the pod's own address, so that the pserver can tell which trainer is which
                source = (env["POD_IP"], 0) if env.get("POD_IP") else None
                conn = socket.create_connection((host, int(port)), timeout=10, source_address=source)
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("trainer {0}: pserver {1} never listened".format(trainer_id, endpoint))
                time.sleep(0.2)
        with conn:
            conn.sendall((json.dumps({"trainer_id": trainer_id, "payload": payload}) + "\n").encode())
            answer = json.loads(recv_line(conn))
        if answer["pserver"] != endpoint or answer["sum"] != sum(payload):
            sys.exit("trainer {0}: pserver {1} answered {2}".format(trainer_id, endpoint, answer))
        answers[endpoint] = answer["sum"]
        print("trainer {0} exchanged {1} with pserver {2}".format(trainer_id, answer["sum"], endpoint), flush=True)
    return {
        "role": "TRAINER",
        "trainer_id": trainer_id,
        "endpoint": env["PADDLE_CURRENT_ENDPOINT"],
        "pservers": answers,
    }


def main():
    env = os.environ
    result = pserver(env) if env.get("TRAINING_ROLE") == "PSERVER" else trainer(env)
    out = env.get("TRAINKIT_OUTPUT_DIR")
    if out:
        with open(os.path.join(out, "wiring.json"), "w") as handle:
            json.dump(result, handle)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
