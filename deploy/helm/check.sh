#!/usr/bin/env bash
# Checks of the Helm chart (called by bin/test): helm lint and helm template with the default and the secured
# values, then the rendered manifests against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown
# fields are errors; its schemas ship inside the Python package, so this runs offline). The Prometheus Operator
# kinds (ServiceMonitor, PrometheusRule) have no schema there: tests/unit/dev/test_helm.py checks their content.
#   HELM=path/to/helm  (default: .tools/bin/helm, installed by bin/system-deps, else helm on PATH)
set -euo pipefail
cd "$(dirname "$0")/../.."
HELM=${HELM:-.tools/bin/helm}
[ -x "$HELM" ] || HELM=$(command -v helm) || { echo "check.sh: helm not found (bin/system-deps installs it)" >&2; exit 1; }
chart=deploy/helm/streamdrift
out=$(mktemp -d -t streamdrift-helm.XXXXXX)
trap 'rm -rf "$out"' EXIT
for values in default secured; do
  args=()
  [ "$values" = default ] || args=(-f "$chart/values-$values.yaml")
  "$HELM" lint --strict --quiet "$chart" "${args[@]}" 2>&1 | grep -v "symbolic link" || true
  "$HELM" lint --strict --quiet "$chart" "${args[@]}" >/dev/null 2>&1 || { echo "helm lint ($values values) failed" >&2; exit 1; }
  "$HELM" template streamdrift "$chart" "${args[@]}" > "$out/$values.yaml" 2>"$out/$values.err" \
    || { cat "$out/$values.err" >&2; exit 1; }
  .venv/bin/kubernetes-validate --strict --quiet --no-warn "$out/$values.yaml"
  echo "helm chart ($values values): lint, template and schema validation of $(grep -c '^kind:' "$out/$values.yaml") objects passed"
done
