{{/* Names, labels and checks shared by the templates. */}}

{{- define "conclave.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource: <release>-conclave, or the release name if it says conclave already. */}}
{{- define "conclave.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The headless Service that gives each member its stable DNS name. */}}
{{- define "conclave.peerService" -}}
{{- printf "%s-peers" (include "conclave.fullname" .) -}}
{{- end -}}

{{- define "conclave.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "conclave.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "conclave.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "conclave.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conclave.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "conclave.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "conclave.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* One member's client address, by its stable DNS name: (list $ ordinal). */}}
{{- define "conclave.memberClientAddress" -}}
{{- $ := index . 0 -}}
{{- printf "%s-%d.%s.%s.svc.%s:%d" (include "conclave.fullname" $) (index . 1 | int) (include "conclave.peerService" $) $.Release.Namespace $.Values.cluster.clusterDomain ($.Values.ports.client | int) -}}
{{- end -}}

{{/* The environment every conclave k8s command shares: where the members are and how they are named. */}}
{{- define "conclave.k8sEnv" -}}
- name: CONCLAVE_K8S_STATEFULSET
  value: {{ include "conclave.fullname" . | quote }}
- name: CONCLAVE_K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: CONCLAVE_K8S_PEER_SERVICE
  value: {{ include "conclave.peerService" . | quote }}
- name: CONCLAVE_K8S_CLIENT_SERVICE
  value: {{ include "conclave.fullname" . | quote }}
- name: CONCLAVE_K8S_CLUSTER_DOMAIN
  value: {{ .Values.cluster.clusterDomain | quote }}
- name: CONCLAVE_K8S_INITIAL_MEMBERS
  value: {{ .Values.cluster.initialMembers | quote }}
- name: CONCLAVE_K8S_CLIENT_PORT
  value: {{ .Values.ports.client | quote }}
- name: CONCLAVE_K8S_PEER_PORT
  value: {{ .Values.ports.peer | quote }}
{{- end -}}

{{/*
TLS: the client port's Secret is mounted at /etc/conclave/tls/client, the peer port's at
/etc/conclave/tls/peer (tls.crt, tls.key, ca.crt). The conclave commands of the chart (a member's
own `k8s` commands, the hook, the snapshots, the test) connect with the client Secret's files.
*/}}
{{- define "conclave.clientTlsEnv" -}}
- name: CONCLAVE_TLS_CA
  value: /etc/conclave/tls/client/ca.crt
- name: CONCLAVE_TLS_CERT
  value: /etc/conclave/tls/client/tls.crt
- name: CONCLAVE_TLS_KEY
  value: /etc/conclave/tls/client/tls.key
{{- end -}}

{{- define "conclave.clientTlsMount" -}}
- name: tls-client
  mountPath: /etc/conclave/tls/client
  readOnly: true
{{- end -}}

{{- define "conclave.clientTlsVolume" -}}
- name: tls-client
  secret:
    secretName: {{ .Values.tls.client.secretName }}
{{- end -}}

{{/* "true" when auth is on: auth.enabled when it is true or false, else the server's default (on with client TLS). */}}
{{- define "conclave.authOn" -}}
{{- if kindIs "bool" .Values.auth.enabled -}}
{{- .Values.auth.enabled -}}
{{- else -}}
{{- .Values.tls.client.enabled -}}
{{- end -}}
{{- end -}}

{{/* The server environment of auth, the audit log and the rate limits. */}}
{{- define "conclave.securityEnv" -}}
{{- if kindIs "bool" .Values.auth.enabled }}
- name: CONCLAVE_AUTH
  value: {{ ternary "on" "off" .Values.auth.enabled | quote }}
{{- end }}
{{- if .Values.auth.tokenSecretName }}
- name: CONCLAVE_AUTH_TOKEN_SECRET_FILE
  value: /etc/conclave/auth/secret
{{- end }}
{{- if .Values.auditLog.enabled }}
- name: CONCLAVE_AUDIT_LOG
  value: "-"
{{- end }}
{{- range $key, $env := dict "sessionOps" "CONCLAVE_SESSION_RATE_OPS" "sessionBytes" "CONCLAVE_SESSION_RATE_BYTES" }}
{{- $v := index $.Values.rateLimits $key }}
{{- if gt ($v | int64) 0 }}
- name: {{ $env }}
  value: {{ $v | int64 | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Auth, audit log and rate limits that cannot work are refused when the chart renders. */}}
{{- define "conclave.validateSecurity" -}}
{{- $e := .Values.auth.enabled -}}
{{- if not (or (kindIs "bool" $e) (eq (toString $e) "")) -}}
{{- fail (printf "auth.enabled must be true, false or \"\" (follow the server: on exactly when tls.client is enabled), got %v" $e) -}}
{{- end -}}
{{- $on := eq (include "conclave.authOn" .) "true" -}}
{{- if and .Values.auth.tokenSecretName (not $on) -}}
{{- fail "auth.tokenSecretName needs auth on: set auth.enabled=true (or enable tls.client, which turns it on)" -}}
{{- end -}}
{{- $certs := and .Values.tls.client.enabled (ne .Values.tls.client.clientAuth "none") -}}
{{- if and $on (not $certs) (not .Values.auth.tokenSecretName) -}}
{{- fail "auth is on but no caller could say who it is: enable tls.client with clientAuth request or require (client certificates), set auth.tokenSecretName (bearer tokens), or set auth.enabled=false" -}}
{{- end -}}
{{- range $key, $v := .Values.rateLimits -}}
{{- if not (has $key (list "sessionOps" "sessionBytes")) -}}
{{- fail (printf "rateLimits.%s is not a rate limit: use rateLimits.sessionOps and rateLimits.sessionBytes" $key) -}}
{{- end -}}
{{- if or (not (or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v))) (lt (float64 $v) 0.0) (ne (float64 $v) (floor $v)) -}}
{{- fail (printf "rateLimits.%s must be a whole number >= 0 (0: no limit), got %v" $key $v) -}}
{{- end -}}
{{- end -}}
{{- range $key, $_ := .Values.config -}}
{{- if has $key (list "auth" "authTokenSecretFile" "auditLog" "sessionRateOps" "sessionRateBytes") -}}
{{- fail (printf "config.%s is set by the chart: use auth.enabled, auth.tokenSecretName, auditLog.enabled and rateLimits instead" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Refuse member counts that cannot keep a majority through a failure, unless allowed. */}}
{{- define "conclave.validate" -}}
{{- $allow := .Values.cluster.allowUnsafeReplicaCount -}}
{{- range $what, $n := dict "replicaCount" (.Values.replicaCount | int) "cluster.initialMembers" (.Values.cluster.initialMembers | int) -}}
{{- if lt $n 1 -}}
{{- fail (printf "%s must be at least 1, got %d" $what $n) -}}
{{- end -}}
{{- if and (not $allow) (or (eq $n 1) (eq (mod $n 2) 0)) -}}
{{- fail (printf "%s is %d: use 3 or 5 (an odd count of at least 3, so that a majority survives a failure; an even count tolerates no more failures than the odd count below it, and 1 tolerates none). Set cluster.allowUnsafeReplicaCount=true to run %d anyway." $what $n $n) -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.podAntiAffinity (list "hard" "soft" "none")) -}}
{{- fail (printf "podAntiAffinity must be hard, soft or none, got %v" .Values.podAntiAffinity) -}}
{{- end -}}
{{- if or (hasKey .Values.tls "enabled") (hasKey .Values.tls "secretName") -}}
{{- fail "tls.enabled and tls.secretName are gone: use tls.client.enabled/secretName/clientAuth and tls.peer.enabled/secretName" -}}
{{- end -}}
{{- range $port := list "client" "peer" -}}
{{- $t := index $.Values.tls $port -}}
{{- if and $t.enabled (not $t.secretName) -}}
{{- fail (printf "tls.%s.enabled needs tls.%s.secretName (a Secret with tls.crt, tls.key and ca.crt)" $port $port) -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.tls.client.clientAuth (list "none" "request" "require")) -}}
{{- fail (printf "tls.client.clientAuth must be none, request or require, got %v" .Values.tls.client.clientAuth) -}}
{{- end -}}
{{- include "conclave.validateSecurity" . -}}
{{- range $key, $_ := .Values.config -}}
{{- if has $key (list "id" "data" "listen" "peerListen" "metricsListen" "members" "join" "peerDial" "config" "tlsCert" "tlsKey" "tlsCa" "tlsClientAuth" "peerTlsCert" "peerTlsKey" "peerTlsCa" "tlsReloadMs") -}}
{{- fail (printf "config.%s is set by the chart and the start logic; remove it from config" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
