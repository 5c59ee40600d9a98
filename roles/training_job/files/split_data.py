"""The tutorial's data-split job: cut a CSV data set into SPLIT_COUNT shards under OUT_DIR/<i>/.

INPUT is the data set (default: dataset.csv beside this script); rows go round-robin to the shards, the header
(if any) to each. Shards are written to a temporary name and renamed, so a re-run replaces them whole.
"""

import os
import sys


def main():
    source = os.environ.get("INPUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset.csv")
    out_dir, count = os.environ["OUT_DIR"], int(os.environ["SPLIT_COUNT"])
    with open(source) as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
    header = [lines.pop(0)] if lines and lines[0][:1].isalpha() else []
    if len(lines) < count:
        sys.exit("{0} has {1} rows, fewer than the {2} shards asked for".format(source, len(lines), count))
    for shard in range(count):
        directory = os.path.join(out_dir, str(shard))
        os.makedirs(directory, exist_ok=True)
        rows = header + lines[shard::count]
        tmp = os.path.join(directory, ".part-00000.csv.tmp")
        with open(tmp, "w") as handle:
            handle.write("\n".join(rows) + "\n")
        os.replace(tmp, os.path.join(directory, "part-00000.csv"))
        print("shard {0}: {1} rows -> {2}".format(shard, len(rows) - len(header), directory), flush=True)


if __name__ == "__main__":
    main()
