# Shared by the shell tests (source it): named checks, and the closing "N passed, N failed" line that
# scripts/test-summary.py counts.
failures=0 checks=0

# check DESCRIPTION COMMAND...: runs COMMAND; prints ok/FAIL with the description.
check() {
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; failures=$((failures + 1)); fi
}

# ge A B: A >= B (numbers, possibly fractional). Anything else, an empty value read from a node that is
# gone in particular, is false.
ge() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    num = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"
    exit !(a ~ num && b ~ num && a + 0 >= b + 0)
  }'
}

# abort WHAT: a value the checks need could not be had (the reason is on stderr already): counted as a
# failed check, and the script ends here with its closing line.
abort() {
  checks=$((checks + 1)) failures=$((failures + 1))
  echo "FAIL - $1"
  finish
  exit 1
}

# Skips (exit 77, as meson expects) unless root.
require_root() { [[ $(id -u) -eq 0 ]] || { echo "needs root: skipped"; exit 77; }; }
# Skips unless an S3 endpoint is configured (scripts/test.sh starts one).
require_s3() { [[ -n ${AWS_ENDPOINT_URL:-} ]] || { echo "no AWS_ENDPOINT_URL (run scripts/test.sh): skipped"; exit 77; }; }

# The closing line; the script's exit status.
finish() {
  echo "$((checks - failures)) passed, $failures failed"
  ((failures == 0))
}
