#!/usr/bin/env bash
# workload_git.sh - the git workload of the compatibility suite (run_compat.sh): builds a
# scratch repository in DIR (150 commits through fast-import, a branch with commits made by
# `git commit`, a merge, a tag) and reads it back: log, diff, blame, grep, rev-list, gc,
# fsck, archive. Identities, dates and the environment are fixed, so every object id and
# every line printed is the same on every run. Run by bash, which execs only git (and
# sha256sum): under the agent each git process writes its own profile.
#   bash workload_git.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
# No user or system configuration, no pager, no locale: only what is set here counts.
export HOME=$dir GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_PAGER=cat
export LC_ALL=C TZ=UTC
export GIT_AUTHOR_NAME=compat GIT_AUTHOR_EMAIL=compat@example.invalid
export GIT_COMMITTER_NAME=compat GIT_COMMITTER_EMAIL=compat@example.invalid
git init -q -b main "$dir/repo"
cd "$dir/repo"

# History through one fast-import: each commit rewrites 3 of 12 files, whose lines mention
# the revision, so diffs, blame and grep have something to find.
epoch=1767225600 # 2026-01-01T00:00:00Z
# Sets $text; no command substitution, so bash forks only to exec git.
file_text() { # FILE REV
  local j n=$((40 + ($1 * 13 + $2 * 7) % 60))
  text=""
  for ((j = 1; j <= n; j++)); do
    if (((j + $2) % 5 == 0)); then
      text+="line $j of file $1 rev $2 $((j * $2 * 2654435761 % 1000003))"$'\n'
    else
      text+="line $j of file $1 stable $((j * $1 % 97))"$'\n'
    fi
  done
}
{
  for ((i = 1; i <= 150; i++)); do
    msg="change $i: files $((i % 12)), $(((i * 5) % 12)), $(((i * 7 + 3) % 12))"
    printf 'commit refs/heads/main\nmark :%d\n' "$i"
    printf 'committer compat <compat@example.invalid> %d +0000\n' $((epoch + i * 3600))
    printf 'data %d\n%s\n' ${#msg} "$msg"
    [ "$i" -gt 1 ] && printf 'from :%d\n' $((i - 1))
    for f in $((i % 12)) $(((i * 5) % 12)) $(((i * 7 + 3) % 12)); do
      file_text "$f" "$i"
      printf 'M 100644 inline src/file%02d.txt\ndata %d\n%s\n' "$f" ${#text} "$text"
    done
  done
} >stream
git fast-import --quiet <stream
git checkout -q main

# A branch made the ordinary way (index, commit), merged back without fast-forward.
git checkout -q -b feature
for ((i = 1; i <= 12; i++)); do
  export GIT_AUTHOR_DATE="@$((epoch + 200 * 3600 + i * 60)) +0000"
  export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
  file_text $((100 + i)) "$i"
  printf '%s' "$text" >"src/feature$i.txt"
  echo "feature $i" >>src/file03.txt
  git add -A
  git commit -q -m "feature $i"
done
git checkout -q main
file_text 7 999
printf '%s' "$text" >src/file07.txt
git commit -q -a -m "main moves on"
git merge -q --no-ff -m "merge feature" feature
git tag -a v1 -m "version 1"

echo "== log"
git log --format='%H %ad %s' --date=iso-strict --topo-order
echo "== log --stat (last 5)"
git log --stat -5 --format='%h %s'
echo "== describe, HEAD"
git describe --tags
git cat-file -p HEAD
echo "== diff --stat HEAD~60"
git diff --stat HEAD~60 HEAD
echo "== diff HEAD~40 digest"
git diff HEAD~40 HEAD | sha256sum
echo "== blame src/file03.txt (tail)"
git blame -s src/file03.txt | tail -15
echo "== grep"
git grep -c 'rev 14[0-9] ' HEAD -- src
echo "== rev-list"
git rev-list --objects --all | sort | sha256sum
git rev-list --count --all
echo "== gc, count-objects, fsck"
git -c pack.threads=1 gc -q --prune=now
git count-objects -v | grep -E '^(count|in-pack|packs|prune-packable|garbage):'
git fsck --full --strict --no-progress
echo "== archive"
git archive --format=tar v1 | sha256sum
git ls-tree -r --name-only HEAD | wc -l
