#!/usr/bin/env bash
# The architecture's layering, checked: every #include of one of our own headers must point at
# a folder the including folder may depend on. Lower layers never include upper ones, and no
# two folders include each other. Prints each violation as FILE:LINE: the include and the rule;
# exits 1 if there is any. Run by ctest (tests/CMakeLists.txt) from the repository root.
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"

# folder -> the folders (besides itself and common/) its files may include.
declare -A allowed=(
  [common]=""
  [controller/queue]=""
  [controller/events]=""
  [controller/profile]=""
  [controller/metrics]="controller/queue"
  [controller/analysis]="controller/queue controller/events controller/profile"
  [controller/report]="controller/analysis"
  [controller/alerts]="controller/analysis controller/report controller/events"
  [controller/campaign]="controller/queue controller/analysis controller/report controller/profile"
  [controller/bisect]="controller/queue controller/events controller/analysis"
  [controller/web]="controller/queue controller/analysis controller/report controller/profile controller/forge controller/campaign controller/bisect"
  [controller/forge]="controller/queue controller/events controller/analysis controller/report controller/metrics controller/campaign"
  [controller/store]="controller/queue controller/events controller/analysis controller/forge controller/campaign controller/bisect"
  [controller/gateway]="controller/queue controller/events controller/metrics"
  [controller/dispatch]="controller/queue controller/events controller/gateway controller/metrics"
  [controller/api]="controller/queue controller/events controller/gateway controller/analysis controller/report controller/profile controller/web controller/metrics controller/forge controller/campaign controller/bisect"
  [controller]="controller/*"
  [agent/spool]=""
  [agent/load]=""
  [agent/hosts]=""
  [agent/exec]="agent/spool"
  [agent/observe]="agent/spool agent/exec"
  [agent/bench]="agent/spool agent/exec agent/load agent/observe agent/hosts"
  [agent]="agent/*"
  [tools/cli]="tools/cli controller/report agent/load"
  [tools/sample_target]="tools/sample_target"
  [tools/forge_recorder]=""
)

# The folder whose rule applies to a file: its own, else the nearest listed parent.
rule_of() {
  local d
  d=$(dirname "$1")
  while [ -n "$d" ] && [ "$d" != . ]; do
    [ -n "${allowed[$d]+set}" ] && { echo "$d"; return; }
    d=$(dirname "$d")
  done
}

bad=0
while IFS= read -r file; do
  rule=$(rule_of "$file")
  [ -n "$rule" ] || continue
  while IFS=: read -r line inc; do
    target=$(dirname "$inc")
    case "$target" in common|common/*|perfgate/*) continue ;; esac
    case "$target" in controller*|agent*|tools*) ;; *) continue ;; esac
    [ "$target" = "$rule" ] && continue
    ok=0
    for a in ${allowed[$rule]}; do
      # shellcheck disable=SC2053
      [[ "$target" == $a ]] && ok=1 && break
    done
    if [ "$ok" = 0 ]; then
      echo "$file:$line: includes $inc, but $rule may include only: common ${allowed[$rule]}"
      bad=1
    fi
  done < <(grep -n '^#include "' "$file" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
done < <(find common controller agent tools -name '*.h' -o -name '*.cc' | sort)
if [ "$bad" = 0 ]; then echo "layering: every include follows the rules"; fi
exit $bad
