# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the real kube-aws v0.16.4 once from its source tarball into the cache, beside eksctl.

    tools/kube-aws-build            # builds (or finds) it, prints the binary's path as its last line
    tools/kube-aws-build --if-source   # the same, but only says why not (exit 0) when there is no tarball

kube-aws is archived and the Go module proxy does not serve it (403), while all its dependencies are served, so
it is built from ``kube-aws-v0.16.4-src.tar.gz`` (the third_party directory beside the checkout,
$TRAINKIT_THIRD_PARTY_DIR overrides it; its sha256 is checked first). Steps, as kube-aws's own ``build`` script
runs them: ``go mod download``; ``go run github.com/gobuffalo/packr/packr -z`` (embeds the templates: without it
the binary reads them from the source tree and fails once it moves); ``go build -trimpath -tags netgo`` with the
version variables set. About 1.5 minutes on 2 cores with a cold module cache. The binary lands in
$TRAINKIT_CACHE_DIR/k8s-bin/kube-aws-v0.16.4/kube-aws. Users bring their own (``kube_aws_path`` or PATH).
"""

import hashlib
import os
import shutil
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_k8s import build_once  # noqa: E402
from local_k8s import cache_root  # noqa: E402
from local_k8s import log  # noqa: E402
from local_k8s import run_with_progress  # noqa: E402

VERSION = "v0.16.4"
TARBALL = "kube-aws-{0}-src.tar.gz".format(VERSION)
SHA256 = "e404e2940429f453dca209fd58b4c7cf3006d76211ed3dd50956459e003fa7ca"
MODULE = "github.com/kubernetes-incubator/kube-aws"
# what kube-aws's build script stamps into a release
LDFLAGS = " ".join(
    [
        "-s -w",
        "-X {0}/pkg/model.VERSION={1}".format(MODULE, VERSION),
        "-X {0}/pkg/api.KUBERNETES_VERSION=v1.16.10".format(MODULE),
        "-X {0}/pkg/api.ETCD_VERSION=v3.4.9".format(MODULE),
    ]
)
HERE = os.path.dirname(os.path.abspath(__file__))


def third_party_dir():
    return os.environ.get("TRAINKIT_THIRD_PARTY_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(HERE)), "shared", "third_party"
    )


def tarball():
    """The source tarball's path, or None when it is not there."""
    path = os.path.join(third_party_dir(), TARBALL)
    return path if os.path.isfile(path) else None


def target_dir():
    return os.path.join(cache_root(), "k8s-bin", "kube-aws-" + VERSION)


def built():
    """The cached binary's path, or None."""
    binary = os.path.join(target_dir(), "kube-aws")
    return binary if os.access(binary, os.X_OK) else None


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build():
    """The kube-aws binary's path, building it first when the cache lacks it."""
    found = built()
    if found:
        return found
    source = tarball()
    if source is None:
        sys.exit(
            "kube-aws-build: no binary in {0} and no {1} in {2} to build one from; bring your own kube-aws "
            "(kube_aws_path, or PATH) or set TRAINKIT_THIRD_PARTY_DIR".format(target_dir(), TARBALL, third_party_dir())
        )
    return os.path.join(
        build_once(target_dir(), ["kube-aws"], lambda staging, go, env: compile_from(source, staging, go, env)),
        "kube-aws",
    )


def compile_from(source, staging, go, env):
    if sha256(source) != SHA256:
        sys.exit("kube-aws-build: {0} does not have the sha256 {1}; refusing to build it".format(source, SHA256))
    work = os.path.join(cache_root(), "k8s-build", "kube-aws-" + VERSION)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with tarfile.open(source) as archive:
        archive.extractall(work, filter="data")
    tree = os.path.join(work, "kube-aws-" + VERSION)
    if not os.path.isfile(os.path.join(tree, "go.mod")):
        sys.exit("kube-aws-build: {0} does not hold kube-aws-{1}/go.mod".format(source, VERSION))
    log("building kube-aws {0} once into {1} (about 1.5 minutes on 2 cores)".format(VERSION, target_dir()))
    run_with_progress([go, "mod", "download"], tree, env, "downloading kube-aws's Go modules")
    run_with_progress(
        [go, "run", "github.com/gobuffalo/packr/packr", "-z"], tree, env, "embedding kube-aws's templates (packr)"
    )
    run_with_progress(
        [go, "build", "-trimpath", "-tags", "netgo", "-ldflags", LDFLAGS, "-o", os.path.join(staging, "kube-aws")],
        tree,
        env,
        "compiling kube-aws " + VERSION,
    )
    shutil.rmtree(tree, ignore_errors=True)


def main(argv):
    if "--if-source" in argv and not built() and tarball() is None:
        log("no kube-aws source tarball in {0}: kube-aws is not built (its tests will skip)".format(third_party_dir()))
        return 0
    print(build())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
