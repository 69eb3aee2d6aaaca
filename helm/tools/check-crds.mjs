// Validates the prometheus-operator objects that helm/moat renders, offline,
// against the models of @kubernetes-models/prometheus-operator (generated
// from prometheus-operator's own Go types; pinned in package-lock.json).
// Those models check types, enums and required fields; unknown field names
// pass them, so this also refuses any key the models do not declare, at
// the levels the chart writes (object, spec, endpoints).
//
// scripts/chart-check.py runs it from .run/chart/tools/node (where npm ci
// put node_modules): stdin is a JSON array of {where, object}; each problem
// is printed as one line "where: message"; the exit status is 1 if any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve("@kubernetes-models/prometheus-operator/package.json"));

// The field names a model class declares (its .d.ts lists them flattened).
function keysOf(file, className) {
  const text = readFileSync(join(pkgDir, "monitoring.coreos.com/v1", file), "utf8");
  const start = text.indexOf(`export declare class ${className} `);
  if (start < 0) throw new Error(`no class ${className} in ${file}`);
  const body = text.slice(start, text.indexOf("\n}", start));
  return new Set([...body.matchAll(/^ {4}"([A-Za-z_$][\w$]*)"\??:/gm)].map((m) => m[1]));
}

const kinds = {
  "monitoring.coreos.com/v1/ServiceMonitor": {
    model: ServiceMonitor,
    keys: (o) => [
      ["", o, keysOf("ServiceMonitor.d.ts", "ServiceMonitor")],
      ["spec", o.spec, keysOf("ServiceMonitorSpec.d.ts", "ServiceMonitorSpec")],
      ...(o.spec?.endpoints ?? []).map((e, i) => [`spec.endpoints[${i}]`, e, keysOf("Endpoint.d.ts", "Endpoint")]),
    ],
  },
};

const input = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;
for (const { where, object } of input) {
  const say = (m) => {
    console.log(`${where}: ${m}`);
    bad++;
  };
  const kind = kinds[`${object.apiVersion}/${object.kind}`];
  if (!kind) {
    say(`no schema for ${object.apiVersion} ${object.kind}`);
    continue;
  }
  try {
    new kind.model(object).validate();
  } catch (e) {
    say(e.message.replace(/\s+/g, " "));
  }
  for (const [path, value, known] of kind.keys(object)) {
    for (const key of Object.keys(value ?? {})) {
      if (!known.has(key)) say(`${path ? path + "." : ""}${key}: unknown field`);
    }
  }
}
process.exit(bad ? 1 : 0);
