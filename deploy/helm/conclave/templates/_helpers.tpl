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
{{- range $key, $_ := .Values.config -}}
{{- if has $key (list "id" "data" "listen" "peerListen" "metricsListen" "members" "join" "peerDial" "config" "tlsCert" "tlsKey" "tlsCa" "tlsClientAuth" "peerTlsCert" "peerTlsKey" "peerTlsCa" "tlsReloadMs") -}}
{{- fail (printf "config.%s is set by the chart and the start logic; remove it from config" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
