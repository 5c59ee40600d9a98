#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/trainkit/aws: copy the checkout's
# files there (what git tracks, plus new files it does not ignore) and run every sanity test, no ignore file.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$repo/.venv}
python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# ansible-test bootstraps pip in its venvs with a script from ci-files.testing.ansible.com, which CI cannot
# reach: give it our stand-in (tests/harness/get_pip_offline.py) under the name it looks for.
pip_version=$("$venv/bin/python" -c 'import os, re, ansible_test; src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read(); print(re.search(r"pip=.([0-9.]+).", src).group(1))')
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  cp "$repo/tests/harness/get_pip_offline.py" "$cache"
fi
dest=$repo/.tmp/sanity/ansible_collections/trainkit/aws
rm -rf "$dest"
mkdir -p "$dest"
cd "$repo"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [ -e "$file" ] && cp --parents -P "$file" "$dest/"
done
cd "$dest"
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
exec "$venv/bin/ansible-test" sanity --venv --requirements --python "$python_version" --color no "$@"
