#!/usr/bin/env python3
"""mklib: the benchmark library of bench/fused/run.sh.

Creates DIR/tree, a media library laid out exactly as meta-fuse's default rules
would place it (so the native tree, bindfs, mergerfs and meta-fuse all show the
same tree): movies in "Movies/Title (Year)/Title.mkv", episodes in
"TV/Show/Season NN/Show - SNNEMM.mkv", and one big file; and DIR/records.jsonl,
one record per file with filePath = its place in the tree, for mf-mksnapshot.

    mklib.py DIR FILES BIG_MIB
"""
import json
import os
import sys


def main():
    out, total, big_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tree = os.path.join(out, "tree")
    records = open(os.path.join(out, "records.jsonl"), "w")

    def add(rel, rec, size=0):
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            if size:
                chunk = os.urandom(1 << 20)
                for _ in range(size >> 20):
                    f.write(chunk)
        st = os.stat(path)
        rec.update({"filePath": rel, "size": st.st_size, "mtime": st.st_mtime_ns // 1000000})
        records.write(json.dumps(rec) + "\n")

    big = "Movies/Big Buck (2024)/Big Buck.mkv"
    add(big, {"hashId": "big", "title": "Big Buck", "year": 2024}, big_mib << 20)
    movies = total // 5
    for i in range(movies):
        t = "Movie %05d" % i
        y = 1950 + i % 75
        add("Movies/%s (%d)/%s.mkv" % (t, y, t), {"hashId": "m%d" % i, "title": t, "year": y})
    episodes = total - movies - 1
    per_show = 400  # 10 seasons x 40 episodes
    for i in range(episodes):
        show, rest = divmod(i, per_show)
        season, ep = divmod(rest, 40)
        t = "Show %04d" % show
        rel = "TV/%s/Season %02d/%s - S%02dE%02d.mkv" % (t, season + 1, t, season + 1, ep + 1)
        add(rel, {"hashId": "e%d" % i, "title": t, "season": season + 1, "episode": ep + 1})
    records.close()


if __name__ == "__main__":
    main()
