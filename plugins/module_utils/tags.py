# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag conventions: every resource of a cluster carries the same three cluster tags."""

from __future__ import annotations

CLUSTER_TAG = "trainkit:cluster"


def cluster_tags(cluster_name):
    """The tags that mark a resource as part of ``cluster_name`` (empty when no cluster)."""
    if not cluster_name:
        return {}
    return {
        CLUSTER_TAG: cluster_name,
        "KubernetesCluster": cluster_name,
        "kubernetes.io/cluster/{0}".format(cluster_name): "owned",
    }


def desired_tags(tags, cluster_name, purge_tags, extra=None):
    """What the tags should be, and whether tags not named should be removed.

    ``tags`` unset (None) leaves the user's other tags alone: only the cluster tags (and
    ``extra``, tags the module itself manages such as Name) are ensured, nothing is purged.
    """
    wanted = dict(extra or {})
    wanted.update(cluster_tags(cluster_name))
    if tags is None:
        return wanted, False
    wanted.update(tags)
    return wanted, purge_tags


def diff_tags(current, wanted, purge):
    """Tags to set (dict) and tag keys to remove (sorted list); ``aws:`` tags are never touched."""
    current = current or {}
    to_set = dict((k, v) for k, v in wanted.items() if current.get(k) != v)
    to_unset = []
    if purge:
        to_unset = sorted(k for k in current if k not in wanted and not k.startswith("aws:"))
    return to_set, to_unset


def apply_tag_diff(current, to_set, to_unset):
    """The tags after a diff is applied (for check mode results and diffs)."""
    after = dict((k, v) for k, v in (current or {}).items() if k not in to_unset)
    after.update(to_set)
    return after


def boto3_tag_list(tags, key="Key", value="Value"):
    """{'a': 'b'} -> [{'Key': 'a', 'Value': 'b'}], sorted for stable requests."""
    return [{key: k, value: v} for k, v in sorted((tags or {}).items())]


def tag_dict(tag_list, key="Key", value="Value"):
    """[{'Key': 'a', 'Value': 'b'}] -> {'a': 'b'}."""
    return dict((t[key], t.get(value, "")) for t in (tag_list or []))


def ec2_tag_filters(tags):
    """EC2 Filters matching every given tag."""
    return [{"Name": "tag:{0}".format(k), "Values": [v]} for k, v in sorted(tags.items())]


def sync_tags(check_mode, current, wanted, purge, apply):
    """Bring a resource's tags to ``wanted`` - the one tag-sync path of every module.

    ``apply(to_set, to_unset, after)`` makes the change in AWS (one of the ``*_tagger`` helpers below); it is not
    called in check mode or when nothing differs. Returns ``(changed, tags_after)``.
    """
    to_set, to_unset = diff_tags(current, wanted, purge)
    after = apply_tag_diff(current, to_set, to_unset)
    if (to_set or to_unset) and not check_mode:
        apply(to_set, to_unset, after)
    return bool(to_set or to_unset), after


def ec2_tagger(ec2, resource_id):
    def apply(to_set, to_unset, _after):
        if to_unset:
            ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in to_unset])
        if to_set:
            ec2.create_tags(Resources=[resource_id], Tags=boto3_tag_list(to_set))

    return apply


def resource_tagger(tag, untag, key="Key", value="Value", **ident):
    """Services with TagResource/UntagResource (EFS, FSx, KMS, IAM roles): ``ident`` names the resource."""

    def apply(to_set, to_unset, _after):
        if to_unset:
            untag(TagKeys=to_unset, **ident)
        if to_set:
            tag(Tags=boto3_tag_list(to_set, key, value), **ident)

    return apply


def s3_tagger(s3, bucket):
    def apply(_to_set, _to_unset, after):
        if after:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": boto3_tag_list(after)})
        else:
            s3.delete_bucket_tagging(Bucket=bucket)

    return apply


def route53_tagger(route53, zone_id):
    def apply(to_set, to_unset, _after):
        kwargs = dict(ResourceType="hostedzone", ResourceId=zone_id)
        if to_set:
            kwargs["AddTags"] = boto3_tag_list(to_set)
        if to_unset:
            kwargs["RemoveTagKeys"] = to_unset
        route53.change_tags_for_resource(**kwargs)

    return apply
