# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the real eksctl once from its Go module into the cache, beside the local Kubernetes binaries.

    tools/eksctl-build            # builds (or finds) it, prints the binary's path as its last line

eksctl's go.mod has replace directives, so ``go install github.com/weaveworks/eksctl/cmd/eksctl@v`` refuses it:
the module is downloaded into Go's module cache and built inside its own source tree (CGO_ENABLED=0, -trimpath,
an empty PreReleaseID so ``eksctl version`` says the plain version). About 6.5 minutes cold on 2 cores, seconds
warm; the Go caches take ~4 GB. The binary lands in $TRAINKIT_CACHE_DIR/k8s-bin/eksctl-<version>/eksctl.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_k8s import GO_ENV  # noqa: E402
from local_k8s import build_once  # noqa: E402
from local_k8s import cache_root  # noqa: E402
from local_k8s import find_go  # noqa: E402
from local_k8s import log  # noqa: E402
from local_k8s import run_with_progress  # noqa: E402

EKSCTL_MODULE = "github.com/weaveworks/eksctl"
EKSCTL_VERSION = "0.230.0"


def target_dir():
    return os.path.join(cache_root(), "k8s-bin", "eksctl-" + EKSCTL_VERSION)


def build():
    """The eksctl binary's path, building it first when the cache lacks it."""
    return os.path.join(build_once(target_dir(), ["eksctl"], compile_eksctl), "eksctl")


def source_dir(go=None, env=None):
    """eksctl's module source in Go's module cache (downloaded first when missing): its code and userdocs, which
    the tests read what eksctl does and documents from."""
    work = os.path.join(cache_root(), "k8s-build", "eksctl-" + EKSCTL_VERSION)
    os.makedirs(work, exist_ok=True)
    out = subprocess.run(
        [go or find_go(), "mod", "download", "-json", "{0}@v{1}".format(EKSCTL_MODULE, EKSCTL_VERSION)],
        cwd=work,
        env=env or dict(os.environ, **GO_ENV),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return json.loads(out.stdout)["Dir"]
    except (ValueError, KeyError):
        sys.exit("eksctl-build: downloading {0} v{1} failed: {2}".format(EKSCTL_MODULE, EKSCTL_VERSION, out.stderr))


def compile_eksctl(staging, go, env):
    work = os.path.join(cache_root(), "k8s-build", "eksctl-" + EKSCTL_VERSION)
    os.makedirs(work, exist_ok=True)
    log("building eksctl v{0} once into {1} (about 6 minutes on 2 cores)".format(EKSCTL_VERSION, target_dir()))
    source = source_dir(go, env)
    ldflags = "-s -w -X {0}/pkg/version.PreReleaseID=".format(EKSCTL_MODULE)
    # the build log goes to the work directory: the module source in Go's cache is read-only
    run_with_progress(
        [
            go,
            "build",
            "-C",
            source,
            "-trimpath",
            "-ldflags",
            ldflags,
            "-o",
            os.path.join(staging, "eksctl"),
            "./cmd/eksctl",
        ],
        work,
        env,
        "compiling eksctl v" + EKSCTL_VERSION,
    )


if __name__ == "__main__":
    print(build())
