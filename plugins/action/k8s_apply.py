# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of trainkit.aws.k8s_apply: renders O(template) and reads O(src) on the controller."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        template = args.pop("template", None)
        src = args.pop("src", None)
        if template is not None and src is not None:
            raise AnsibleActionFail("template and src are mutually exclusive")
        if template is not None:
            path = template.get("path") if isinstance(template, dict) else template
            found = self._find_needle("templates", path)
            lookup = self._shared_loader_obj.lookup_loader.get(
                "ansible.builtin.template", loader=self._loader, templar=self._templar
            )
            args["definition"] = lookup.run([found], variables=task_vars)[0]
        elif src is not None:
            found = self._find_needle("files", src)
            with open(found) as handle:
                args["definition"] = handle.read()
        result.update(self._execute_module(module_name="trainkit.aws.k8s_apply", module_args=args, task_vars=task_vars))
        return result
