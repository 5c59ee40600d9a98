# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the get-pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com.

Our CI reaches PyPI but not that host. ansible-test runs this file in an empty virtual environment with pip's
options and the pinned packages (e.g. pip==24.2); it bootstraps pip from Python's own ensurepip, then installs
the pinned packages from PyPI - the same end state as the original script.
"""

import subprocess
import sys


def main():
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)


if __name__ == "__main__":
    main()
