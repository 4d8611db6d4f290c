#!/usr/bin/env bash
# Ships the lake job code to the code bucket (run by the ship-lake-code plugin after every
# `serverless deploy`; runnable by hand too):
#   s3://<LakeCodeBucket>/emr/jobs/*.py            entry points
#   s3://<LakeCodeBucket>/emr/lake.zip             the lake package (spark.submit.pyFiles)
#   s3://<LakeCodeBucket>/emr/contracts/*.json     the contracts the refresh validates against
# Usage: scripts/ship-lake-code.sh <stage> [region]
set -euo pipefail
# --help: the comment block above is the help; print it instead of acting.
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
stage="${1:?usage: scripts/ship-lake-code.sh <stage> [region]}"
region="${2:-${AWS_REGION:-us-east-1}}"
stack="crypto-data-lake-$stage"
bucket="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='LakeCodeBucketName'].OutputValue" --output text)"
key="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='DataKeyArn'].OutputValue" --output text)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$root/emr" && python3 -m zipfile -c "$work/lake.zip" lake)
sse=(--sse aws:kms --sse-kms-key-id "$key")
aws s3 cp --region "$region" "${sse[@]}" "$work/lake.zip" "s3://$bucket/emr/lake.zip"
aws s3 sync --region "$region" "${sse[@]}" --delete --exclude '*' --include '*.py' "$root/emr/jobs/" "s3://$bucket/emr/jobs/"
aws s3 sync --region "$region" "${sse[@]}" --delete --exclude '*' --include '*.schema.json' "$root/tests/fixtures/contracts/" "s3://$bucket/emr/contracts/"
echo "lake code shipped to s3://$bucket/emr/"
