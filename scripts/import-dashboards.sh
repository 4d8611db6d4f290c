#!/usr/bin/env bash
# Imports the saved objects under resources/dashboards/ (index patterns, visualizations, the
# "Crypto lake — live" dashboard) into OpenSearch Dashboards or Kibana. Idempotent: objects keep
# their ids and are overwritten.
#
#   DASHBOARDS_URL=http://127.0.0.1:5601 scripts/import-dashboards.sh
#   DASHBOARDS_URL=https://<domain-endpoint>/_dashboards AWS_REGION=us-east-1 scripts/import-dashboards.sh --sigv4
#
# --sigv4 signs the requests for Amazon OpenSearch Service with the caller's AWS credentials
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN; curl >= 7.75). The domain
# is in the VPC: run it from inside (bastion, VPN, SSM port forward).
# DASHBOARDS_USER / DASHBOARDS_PASSWORD use basic auth instead (fine-grained access control).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
url=${DASHBOARDS_URL:-http://127.0.0.1:5601}
auth=()
if [[ "${1:-}" == "--sigv4" ]]; then
  : "${AWS_REGION:?set AWS_REGION}" "${AWS_ACCESS_KEY_ID:?set AWS credentials}" "${AWS_SECRET_ACCESS_KEY:?set AWS credentials}"
  auth=(--aws-sigv4 "aws:amz:${AWS_REGION}:es" --user "${AWS_ACCESS_KEY_ID}:${AWS_SECRET_ACCESS_KEY}")
  if [[ -n "${AWS_SESSION_TOKEN:-}" ]]; then auth+=(-H "x-amz-security-token: ${AWS_SESSION_TOKEN}"); fi
elif [[ -n "${DASHBOARDS_USER:-}" ]]; then
  auth=(--user "${DASHBOARDS_USER}:${DASHBOARDS_PASSWORD:?set DASHBOARDS_PASSWORD}")
fi

status=0
for file in "$root"/resources/dashboards/*.ndjson; do
  # osd-xsrf for OpenSearch Dashboards, kbn-xsrf for Kibana: each ignores the other's header.
  response=$(curl --silent --show-error --fail-with-body "${auth[@]}" \
    -X POST "${url%/}/api/saved_objects/_import?overwrite=true" \
    -H 'osd-xsrf: true' -H 'kbn-xsrf: true' \
    --form "file=@${file}") || { echo "import of ${file#"$root"/} failed: $response" >&2; status=1; continue; }
  if [[ "$response" == *'"success":true'* ]]; then
    echo "imported ${file#"$root"/}: $response"
  else
    echo "import of ${file#"$root"/} reported errors: $response" >&2
    status=1
  fi
done
exit $status
