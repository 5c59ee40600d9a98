# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the Kubernetes modules (k8s_apply, k8s_info, gpu_smoke_test, local_cluster, training_job), as
kubernetes.core keeps one AnsibleK8SModule: the shared options (doc fragment ``trainkit.aws.k8s``), the library
checks, the client's life cycle and one error path.

    module = K8sModule(argument_spec=dict(...), supports_check_mode=True)
    try:
        found = module.client.get(obj, namespace)
    except K8sError as exc:
        module.fail_k8s(exc, results=results)
    module.exit_json(changed=False, ...)

The client is made on first use from ``kubeconfig`` and ``context`` and closed whenever the module exits or fails.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.basic import env_fallback

from ansible_collections.trainkit.aws.plugins.module_utils.k8s import HAS_KUBERNETES
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import HAS_YAML
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import MISSING_LIBRARY
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError

# the options of doc fragment trainkit.aws.k8s
K8S_ARGUMENT_SPEC = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
)


def with_hint(msg, hint):
    """A message with its hint after it - only when there is one."""
    return "{0} Hint: {1}".format(msg, hint) if hint else msg


class K8sModule(AnsibleModule):
    """An AnsibleModule with the Kubernetes options, the library checks, a client and one error path."""

    def __init__(self, argument_spec, needs_yaml=False, **kwargs):
        self._client = None  # before AnsibleModule, whose argument checks may already fail (and close)
        spec = dict(argument_spec)
        spec.update(K8S_ARGUMENT_SPEC)
        super().__init__(argument_spec=spec, **kwargs)
        if needs_yaml and not HAS_YAML:
            self.fail_json(msg="PyYAML is required (it comes with ansible-core)")
        if not HAS_KUBERNETES:
            self.fail_json(msg=MISSING_LIBRARY)

    @property
    def client(self):
        """The cluster's client (``kubeconfig``, ``context``), made on first use."""
        if self._client is None:
            try:
                self._client = Client(self.params["kubeconfig"], self.params["context"])
            except K8sError as exc:
                self.fail_k8s(exc)
        return self._client

    def fail_k8s(self, exc, **result):
        """Fail with a Kubernetes error: its message (with the hint only when it has one), status, reason and hint."""
        result.setdefault("status", exc.status)
        result.setdefault("reason", exc.reason)
        result.setdefault("hint", exc.hint)
        self.fail_json(msg=with_hint(exc.msg, exc.hint), **result)

    def fail_on_problems(self, problems, **result):
        """Fail once with every problem of the input, before anything is changed (none: go on)."""
        if problems:
            self.fail_json(
                msg="Invalid input, nothing was changed: " + "; ".join(problems), problems=problems, **result
            )

    def close(self):
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def exit_json(self, **kwargs):
        self.close()
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self.close()
        super().fail_json(msg=msg, **kwargs)
