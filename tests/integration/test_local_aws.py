# -*- coding: utf-8 -*-
"""tools/local-aws: start prints the URL last, reuses a running endpoint (state survives), stop ends its pid."""

import os
import subprocess

import boto3

from harness import run_tool


def tool(state_dir, *args):
    return run_tool("local-aws", list(args) + ["--state-dir", str(state_dir)], timeout=120)


def test_start_reuse_stop(tmp_path):
    first = tool(tmp_path, "start")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:")
    pid = int((tmp_path / "pid").read_text())
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="kept", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        managed = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess")
        assert managed["Policy"]["PolicyName"] == "AmazonEC2FullAccess", "managed policies are loaded"

        again = tool(tmp_path, "start")
        assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == url
        assert int((tmp_path / "pid").read_text()) == pid
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]
        assert tool(tmp_path, "status").stdout.strip() == url
    finally:
        stopped = tool(tmp_path, "stop")
    assert stopped.returncode == 0
    assert (
        not os.path.exists("/proc/{0}".format(pid))
        or b"moto_server" not in open("/proc/{0}/cmdline".format(pid), "rb").read()
    )
    assert tool(tmp_path, "status").returncode == 1
    assert tool(tmp_path, "stop").returncode == 0, "stop with nothing running is fine"


def test_stop_never_kills_a_foreign_pid(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "pid").write_text(str(sleeper.pid))
        (tmp_path / "url").write_text("http://127.0.0.1:1")
        assert tool(tmp_path, "stop").returncode == 0
        assert sleeper.poll() is None, "a pid that is not our moto server is left alone"
    finally:
        sleeper.kill()
        sleeper.wait()
