# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Kubernetes connection options shared by the Kubernetes modules (module_utils/k8s_client.py).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the kubeconfig, for example the C(kubeconfig) of the C(trainkit_cluster) fact; several files joined
        with C(:) are merged, and C(exec) credential plugins (EKS's C(aws eks get-token)) run.
      - Falls back to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG), then C(~/.kube/config); in a pod without one, the
        pod's service account.
    type: path
  context:
    description: The kubeconfig context to use. Default - the current context. Falls back to E(K8S_AUTH_CONTEXT).
    type: str
"""
