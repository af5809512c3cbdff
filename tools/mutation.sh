#!/usr/bin/env bash
# Mutation testing of vlmfer's core modules with mutmut (in the `dev` extra).
#
#   tools/mutation.sh                      every core module
#   tools/mutation.sh engine/limits types  some of them (paths under src/vlmfer, no .py)
#   MUTATE="src/vlmfer/labels/parse.py src/vlmfer/labels/ties.py" tools/mutation.sh labels
#                                          only those files of a package (a shorter run)
#
# A mutant is a small deliberate bug (a flipped comparison, a dropped argument); the
# module's tests should fail on each one. Each module runs in its own scratch folder,
# .mutation/<module>/, mutating only that module and running only its fast tests, so one
# module takes minutes. What survives is printed at the end; look at one with
#   (cd .mutation/engine_limits && mutmut show <mutant name>)
# then kill it with a test, or note in the issue why it is equivalent (no test can tell).
# Every run starts afresh (mutmut's cache does not see test changes). Each mutant is forked
# from the process that ran the tests once, so memoised builders (lru_cache) would keep the
# unmutated result: tests/labels/conftest.py empties the labels caches under mutmut.
# mutmut's process_isolation = forkserver would avoid that but times every mutant out here.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

# module -> the tests that guard it (fast ones only; no CLI subprocess, no emulator runs).
tests_for() {
  case "$1" in
    labels) if [ -d tests/labels ]; then echo tests/labels; else echo tests/test_labels*.py; fi ;;
    metrics/core) echo tests/metrics/test_metrics_core.py tests/metrics/test_metrics_common.py \
                        tests/metrics/test_metrics_paths.py ;;
    engine/cache) echo tests/engine/test_cache.py tests/engine/test_cache_key.py ;;
    engine/limits) echo tests/engine/test_limits_window.py ;;
    engine/rundir) echo tests/engine/test_rundir.py ;;
    types) echo tests/test_types.py tests/engine/test_cache_key.py tests/engine/test_rundir.py ;;
    *) echo "unknown module '$1'; choose from: labels metrics/core engine/cache" \
            "engine/limits engine/rundir types" >&2; exit 2 ;;
  esac
}

# labels may be a module (labels.py) or a package (labels/): mutate whichever exists.
source_glob() {
  if [ -d "src/vlmfer/$1" ]; then echo "src/vlmfer/$1/*.py"; else echo "src/vlmfer/$1.py"; fi
}

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(labels metrics/core engine/cache engine/limits engine/rundir types)

for module in "${modules[@]}"; do
  tests=$(tests_for "$module")
  work=".mutation/${module//\//_}"
  rm -rf "$work/mutants"
  mkdir -p "$work"
  # docs/ too: the labels tests check the generated tables in docs/labels.md.
  for item in src tests docs pyproject.toml; do ln -sfn "$root/$item" "$work/$item"; done
  mutate=${MUTATE:-$(source_glob "$module")}
  {
    echo "[mutmut]"
    echo "source_paths = src/"
    echo "also_copy = docs/"
    echo "only_mutate ="
    for m in $mutate; do echo "    $m"; done
    echo "pytest_add_cli_args_test_selection ="
    for t in $tests; do echo "    $t"; done
    echo "pytest_add_cli_args = -p no:cacheprovider -q"
  } > "$work/setup.cfg"
  echo "== $module: mutating $mutate, testing with: $tests"
  (cd "$work" && mutmut run >/dev/null 2>&1 || true
   mutmut results | grep -v ": killed$" || echo "   no survivors"
   echo "   totals: $(mutmut results --all true | awk -F': ' '{print $NF}' | sort | uniq -c |
                      awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')")
done
