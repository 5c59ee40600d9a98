# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # AWS connection options shared by every trainkit.aws AWS module (module_utils/aws.py).
    DOCUMENTATION = r"""
options:
  region:
    description:
      - The AWS region to use, for example C(us-west-2).
      - Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION), then the profile's region.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - A named profile from the AWS shared config and credentials files.
      - Falls back to E(AWS_PROFILE).
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - AWS access key ID. Falls back to E(AWS_ACCESS_KEY_ID), then the profile and instance credentials.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - AWS secret access key. Falls back to E(AWS_SECRET_ACCESS_KEY). Never logged.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - AWS session token for temporary credentials. Falls back to E(AWS_SESSION_TOKEN). Never logged.
    type: str
    aliases: [aws_session_token]
  endpoint_url:
    description:
      - Send every call to this endpoint instead of the public AWS endpoints, for example a local AWS endpoint
        such as C(http://127.0.0.1:5000) started by C(tools/local-aws start).
      - Falls back to E(AWS_ENDPOINT_URL).
    type: str
    aliases: [aws_endpoint_url]
  aws_ca_bundle:
    description:
      - A CA bundle to verify the endpoint's TLS certificate with. Falls back to E(AWS_CA_BUNDLE).
    type: path
  validate_certs:
    description:
      - Whether to verify TLS certificates. Only set to V(false) against a test endpoint.
    type: bool
    default: true
  max_attempts:
    description:
      - Attempts per AWS call, retries included, under botocore's C(adaptive) retry mode, which also
        paces calls when AWS throttles.
    type: int
    default: 10
requirements:
  - python >= 3.10
  - boto3 >= 1.34
  - botocore >= 1.34
notes:
  - Credentials and region are looked up the way the AWS CLI does when the options are not set.
  - "Every AWS module of this collection is in the action group C(trainkit.aws.aws), so
    C(module_defaults: {group/trainkit.aws.aws: {region: ..., endpoint_url: ...}}) sets these options once for a play."
"""

    # cluster_name / tags / purge_tags for resources that carry tags.
    TAGS = r"""
options:
  cluster_name:
    description:
      - The cluster this resource belongs to. When set, the resource always carries the tags
        C(trainkit:cluster=<name>), C(KubernetesCluster=<name>) and C(kubernetes.io/cluster/<name>=owned),
        by which later playbooks and the teardown find it again.
      - Must start with a letter, hold only letters, digits and C(-), and be at most 28 characters.
    type: str
  tags:
    description:
      - Tags the resource should carry, as a dictionary.
      - When not set, existing tags are left alone (the cluster tags are still ensured).
      - V({}) together with O(purge_tags=true) removes every tag but the cluster tags.
    type: dict
  purge_tags:
    description:
      - Remove tags not named in O(tags) (tags starting with C(aws:) are never touched).
      - Has no effect when O(tags) is not set.
    type: bool
    default: true
"""

    # check mode and diff support, the same for every module of the collection.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
"""
