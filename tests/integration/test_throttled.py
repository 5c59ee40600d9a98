# -*- coding: utf-8 -*-
"""The throttled lane: identity -> network -> storage -> teardown against an endpoint that answers 30% of all
requests with the service's own throttling error (EC2 RequestLimitExceeded, IAM/Route53/STS Throttling, JSON
services ThrottlingException, S3 SlowDown). botocore's adaptive retry mode absorbs it: nothing may fail and
nothing may be left behind."""

import json

import pytest

from harness import Ansible
from harness import LocalAWS
from harness import tagged_leftovers
from harness import unique

# slow: 30% of requests throttled, botocore's backoff absorbs them (~5 min of mostly waiting)
pytestmark = pytest.mark.slow

THROTTLE = 0.3


@pytest.fixture(scope="module")
def throttled(tmp_path_factory):
    state = tmp_path_factory.mktemp("throttled-aws")
    profile = state / "busy-account.json"
    profile.write_text(json.dumps({"name": "busy-account", "throttle": THROTTLE, "seed": 2026}))
    aws = LocalAWS(str(state / "state"))
    aws.start(realism=str(profile))
    yield aws
    aws.stop()


def test_foundation_and_storage_under_throttling(throttled, tmp_path):
    ansible = Ansible(throttled.url, str(tmp_path))
    cluster = unique("busy")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "trainkit_storage_backend": "both",
        "identity_users": [cluster + "-alice"],
    }
    build = ["playbooks/identity.yml", "tests/integration/files/network-and-storage.yml"]
    mark = throttled.mark()
    rc, output, recap = ansible.playbook(*build, extra_vars=extra)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    requests = throttled.requests(mark)
    throttled_share = sum(1 for r in requests if r.get("realism") == "throttled") / len(requests)
    assert 0.2 < throttled_share < 0.4, "the lane really throttles ({0:.0%} of {1})".format(
        throttled_share, len(requests)
    )

    rc, output, _recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert tagged_leftovers(throttled.client, cluster) == []
