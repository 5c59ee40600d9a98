#!/usr/bin/env bash
# The local SSH test bed's nodes (tools/local-nodes) while it is up; no hosts otherwise. Ansible runs this
# (its script inventory) with --list; TRAINKIT_LOCAL_NODES_DIR names another test bed's work directory.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../../tools/local-nodes" inventory ${TRAINKIT_LOCAL_NODES_DIR:+--workdir "$TRAINKIT_LOCAL_NODES_DIR"}
