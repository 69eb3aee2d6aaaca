{{/*
Names, labels and the pieces every component shares. A component is one of
edge, recorder, egress, launcher; helpers that need one take a dict:
(dict "root" $ "component" "edge").
*/}}

{{- define "moat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "moat.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: <fullname>-<component>. */}}
{{- define "moat.componentName" -}}
{{- printf "%s-%s" (include "moat.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "moat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "moat.labels" -}}
helm.sh/chart: {{ include "moat.chart" . }}
app.kubernetes.io/name: {{ include "moat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: moat
{{- end -}}

{{/* Selector labels of one component (never change: selectors are immutable). */}}
{{- define "moat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "moat.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of one component's objects. */}}
{{- define "moat.componentLabels" -}}
{{ include "moat.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image of a component: (dict "root" $ "image" .Values.edge.image). */}}
{{- define "moat.image" -}}
{{- $g := .root.Values.image -}}
{{- $repo := .image.repository -}}
{{- if $g.registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" $g.registry) $repo -}}{{- end -}}
{{- $tag := .image.tag | default $g.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "moat.pullPolicy" -}}
{{- .image.pullPolicy | default .root.Values.image.pullPolicy -}}
{{- end -}}

{{- define "moat.serviceAccountName" -}}
{{- $c := index .root.Values .component -}}
{{- if $c.serviceAccount.create -}}
{{- include "moat.componentName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/*
The pod-level security context of every pod but the launcher's, and the
container-level one (restricted Pod Security Standard).
*/}}
{{- define "moat.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "moat.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
A pod template's annotations: the Prometheus scrape annotations, the
component's podAnnotations, and a config checksum when given.
(dict "root" $ "port" 9100 "extra" .Values.edge.podAnnotations "checksum" "")
*/}}
{{- define "moat.podAnnotations" -}}
{{- $a := dict -}}
{{- if .root.Values.metrics.podAnnotations -}}
{{- $_ := set $a "prometheus.io/scrape" "true" -}}
{{- $_ := set $a "prometheus.io/port" (toString .port) -}}
{{- $_ := set $a "prometheus.io/path" "/metrics" -}}
{{- end -}}
{{- range $k, $v := .extra -}}
{{- $_ := set $a $k (toString $v) -}}
{{- end -}}
{{- with .checksum -}}
{{- $_ := set $a "checksum/config" . -}}
{{- end -}}
{{- if $a -}}
annotations:
  {{- toYaml $a | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* A pod template's labels: (dict "root" $ "component" "edge" "extra" .Values.edge.podLabels). */}}
{{- define "moat.podLabels" -}}
labels:
  {{- include "moat.componentLabels" . | nindent 2 }}
  {{- with .extra }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
The NATS environment and volumes of one component: its own user.
(dict "root" $ "component" "edge")
*/}}
{{- define "moat.natsEnv" -}}
{{- $n := .root.Values.nats -}}
{{- $u := index $n.users .component -}}
- name: MOAT_NATS_URL
  value: {{ $n.url | quote }}
{{- if eq $n.auth "password" }}
- name: MOAT_NATS_USER
  value: {{ required (printf "nats.users.%s.user is required" .component) $u.user | quote }}
- name: MOAT_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "nats.users.%s.existingSecret is required" .component) $u.existingSecret }}
      key: {{ $u.key }}
{{- else if eq $n.auth "creds" }}
- name: MOAT_NATS_CREDS
  value: /etc/moat/nats-creds/user.creds
{{- else if ne $n.auth "none" }}
{{- fail (printf "nats.auth must be password, creds or none, not %q" $n.auth) }}
{{- end }}
{{- if $n.tls.enabled }}
- name: MOAT_NATS_TLS_CA
  value: /etc/moat/nats-tls/ca.crt
{{- if $n.tls.certKey }}
- name: MOAT_NATS_TLS_CERT
  value: /etc/moat/nats-tls/tls.crt
- name: MOAT_NATS_TLS_KEY
  value: /etc/moat/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "moat.natsVolumeMounts" -}}
{{- $n := .root.Values.nats -}}
{{- if eq $n.auth "creds" }}
- name: nats-creds
  mountPath: /etc/moat/nats-creds
  readOnly: true
{{- end }}
{{- if $n.tls.enabled }}
- name: nats-tls
  mountPath: /etc/moat/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "moat.natsVolumes" -}}
{{- $n := .root.Values.nats -}}
{{- $u := index $n.users .component -}}
{{- if eq $n.auth "creds" }}
- name: nats-creds
  secret:
    secretName: {{ required (printf "nats.users.%s.existingSecret is required" .component) $u.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $u.key }}
        path: user.creds
{{- end }}
{{- if $n.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.existingSecret is required" $n.tls.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $n.tls.caKey }}
        path: ca.crt
{{- if $n.tls.certKey }}
      - key: {{ $n.tls.certKey }}
        path: tls.crt
      - key: {{ required "nats.tls.keyKey is required with nats.tls.certKey" $n.tls.keyKey }}
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* The database URL, from its Secret (edge, recorder). */}}
{{- define "moat.databaseEnv" -}}
- name: MOAT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end -}}

{{/* The S3 store settings and credentials (edge, launcher). */}}
{{- define "moat.storeEnv" -}}
{{- $s := .Values.store.s3 -}}
- name: MOAT_STORE
  value: s3
- name: MOAT_S3_BUCKET
  value: {{ required "store.s3.bucket is required" $s.bucket | quote }}
- name: MOAT_S3_REGION
  value: {{ $s.region | quote }}
{{- if $s.endpoint }}
- name: MOAT_S3_ENDPOINT
  value: {{ $s.endpoint | quote }}
{{- end }}
{{- if $s.pathStyle }}
- name: MOAT_S3_PATH_STYLE
  value: "true"
{{- end }}
{{- with $s.credentials }}
{{- if .existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A component's free-form MOAT_* settings, then its raw extra env. */}}
{{- define "moat.configEnv" -}}
{{- range $name, $value := .config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
NetworkPolicy peers of an endpoint (nats, database, store, dns, prometheus):
its ipBlocks, and one peer of its selectors when either is set. An endpoint
with neither would mean "anywhere": refused.
(dict "what" "nats.networkPolicy" "ep" .Values.nats.networkPolicy)
*/}}
{{- define "moat.peers" -}}
{{- $ep := .ep -}}
{{- $peers := list -}}
{{- range $ep.ipBlocks -}}
{{- $peers = append $peers (dict "ipBlock" .) -}}
{{- end -}}
{{- if or $ep.namespaceSelector $ep.podSelector -}}
{{- $peer := dict -}}
{{- with $ep.namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end -}}
{{- with $ep.podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end -}}
{{- $peers = append $peers $peer -}}
{{- end -}}
{{- if not $peers -}}
{{- fail (printf "%s needs ipBlocks or a namespaceSelector/podSelector" .what) -}}
{{- end -}}
{{- toYaml $peers -}}
{{- end -}}

{{/* An egress rule to an endpoint on its TCP ports. */}}
{{- define "moat.egressRule" -}}
- to:
    {{- include "moat.peers" . | nindent 4 }}
  ports:
    {{- range .ep.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}

{{/* The DNS egress rule (UDP and TCP). */}}
{{- define "moat.dnsRule" -}}
{{- $ep := .Values.networkPolicy.dns -}}
- to:
    {{- include "moat.peers" (dict "what" "networkPolicy.dns" "ep" $ep) | nindent 4 }}
  ports:
    {{- range $ep.ports }}
    - protocol: UDP
      port: {{ . }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}

{{/* The metrics ingress rule: Prometheus to the component's metrics port. */}}
{{- define "moat.metricsIngressRule" -}}
- from:
    {{- include "moat.peers" (dict "what" "networkPolicy.prometheus" "ep" .root.Values.networkPolicy.prometheus) | nindent 4 }}
  ports:
    - protocol: TCP
      port: {{ .port }}
{{- end -}}

{{/* host:port to listen on: (dict "root" $ "port" 8080). */}}
{{- define "moat.listen" -}}
{{- $h := .root.Values.bindAddress | default "0.0.0.0" -}}
{{- if contains ":" $h -}}
{{- printf "[%s]:%v" $h .port -}}
{{- else -}}
{{- printf "%s:%v" $h .port -}}
{{- end -}}
{{- end -}}

{{/* Scheduling and the pod basics every Deployment shares: (dict "root" $ "component" "edge"). */}}
{{- define "moat.podCommon" -}}
{{- $c := index .root.Values .component -}}
serviceAccountName: {{ include "moat.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The probes of a worker (recorder, egress, launcher): /healthz on the metrics port says ready. */}}
{{- define "moat.metricsProbes" -}}
readinessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 5
  failureThreshold: 3
livenessProbe:
  tcpSocket:
    port: metrics
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}
