#!/usr/bin/env bash
# Reads a ctest --output-on-failure log (stdin) and prints, for each test that failed, the
# assertions that failed with a few lines after each: the part of a failure a reader needs,
# at the end of a long CI log where it is seen first (the full output is above it).
#   ctest --output-on-failure ... | tee log; tools/failure-digest.sh < log
set -euo pipefail
awk '
  # "288/393 Test #288: Name ....***Failed  5.93 sec": a failed test whose output follows.
  /^ *[0-9]+\/[0-9]+ Test +#[0-9]+: / {
    cur = ""
    if ($0 ~ /\*\*\*(Failed|Timeout|Exception)|Subprocess aborted|SEGFAULT/) {
      cur = $0; sub(/^.*Test +#[0-9]+: /, "", cur); sub(/ \.+.*$/, "", cur)
      status = $0; sub(/^.*\*\*\*/, "", status)
      printf "\n=== %s (%s)\n", cur, status
      shown = 0; after = 0; logs = 0
    }
    next
  }
  /^ *Start +[0-9]+: / { cur = ""; next }
  cur == "" { next }
  # A gtest assertion ("file:line: Failure") and its message, up to the process logs the
  # harness prints after it; a sanitizer report; the warnings and errors of those logs.
  /^---- .* log ----$/ { after = 0; next }
  /: Failure$|ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/ { after = 12 }
  after > 0 && shown < 60 { print; --after; ++shown; next }
  /level=(error|warning)/ && !/API authentication disabled/ && logs < 12 { print; ++logs }
  /^\[  FAILED  \] .*\([0-9]+ ms\)$/ { print; logs = 0 }
'
