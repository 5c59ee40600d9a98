# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes each task result (diff included) as JSON lines to $TRAINKIT_TEST_RESULTS."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: result_file
type: aggregate
short_description: Write task results to a file for the tests
description: Writes every task result, as one JSON line, to the file named by E(TRAINKIT_TEST_RESULTS).
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_file"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        path = os.environ.get("TRAINKIT_TEST_RESULTS")
        if not path:
            return
        data = dict(result._result)
        data["_status"] = status
        data["_task"] = result._task.get_name()
        with open(path, "a") as handle:
            handle.write(json.dumps(data, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")
