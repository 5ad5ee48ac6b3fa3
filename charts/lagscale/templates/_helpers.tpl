{{/* Names, labels and images shared by every template. */}}

{{- define "lagscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: "<release>-lagscale", or the release name when it already says lagscale. */}}
{{- define "lagscale.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "lagscale.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name of one of several objects of a kind (an HPA, a ScaledObject per model): as it is when
it fits in 63 characters, else cut and ended by a hash of the whole, so two long names that share
their first 63 characters still differ. */}}
{{- define "lagscale.uniqueName" -}}
{{- if le (len .) 63 -}}
{{- . -}}
{{- else -}}
{{- printf "%s-%s" (trunc 54 . | trimSuffix "-" | trimSuffix ".") (sha256sum . | trunc 8) -}}
{{- end -}}
{{- end -}}

{{- define "lagscale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lagscale.labels" -}}
helm.sh/chart: {{ include "lagscale.chart" . }}
app.kubernetes.io/name: {{ include "lagscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component (pass (dict "root" $ "component" "coordinator")). */}}
{{- define "lagscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lagscale.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lagscale.componentLabels" -}}
{{ include "lagscale.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lagscale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lagscale.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference: (dict "root" $ "image" .Values.image.sidecar): repository@digest when the
image has a digest, else repository:tag. image.registry prefixes lagscale's own images only; pass
"registry" "" for an image named in full by the user. */}}
{{- define "lagscale.image" -}}
{{- $registry := ternary .registry .root.Values.image.registry (hasKey . "registry") -}}
{{- $repository := .image.repository -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" $registry) .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Address sidecars report to: the configured one, or this release's coordinator Service. */}}
{{- define "lagscale.coordinatorAddress" -}}
{{- if .Values.sidecar.coordinatorAddress -}}
{{- .Values.sidecar.coordinatorAddress -}}
{{- else -}}
{{- printf "%s.%s.svc:%d" (include "lagscale.fullname" .) .Release.Namespace (int .Values.coordinator.grpcPort) -}}
{{- end -}}
{{- end -}}

{{- define "lagscale.serverName" -}}
{{- printf "%s-%s" (include "lagscale.fullname" .) .Values.server.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The coordinator configuration as a dict: coordinator.config, plus the example server when
server.autoscale is on, plus the seldon section from the chart's seldon values. A target without a
namespace gets the release namespace written in: the RBAC and the ScaledObjects are rendered
there, and the coordinator itself would otherwise take "default".
*/}}
{{- define "lagscale.coordinatorConfig" -}}
{{- $cfg := deepCopy .Values.coordinator.config -}}
{{- range $entry := concat (default (list) $cfg.servers) (default (list) $cfg.models) -}}
{{- if and $entry.target (not $entry.target.namespace) -}}
{{- $_ := set $entry.target "namespace" $.Release.Namespace -}}
{{- end -}}
{{- end -}}
{{- if and .Values.server.enabled .Values.server.autoscale -}}
{{- $target := dict "apiVersion" "apps/v1" "kind" "Deployment" "name" (include "lagscale.serverName" .) "namespace" .Release.Namespace -}}
{{- $srv := dict "name" .Values.server.name "placement" "all" "minReplicas" .Values.server.minReplicas "maxReplicas" .Values.server.maxReplicas "target" $target -}}
{{- $_ := set $cfg "servers" (append (default (list) $cfg.servers) $srv) -}}
{{- end -}}
{{- $_ := set $cfg "seldon" (dict "enabled" .Values.seldon.enabled "namespace" .Values.seldon.namespace) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The kinds a target may name, with their plural (Kind: plural): the coordinator's own list
(coordinator/src/config.cc, kTargetKinds); it refuses to start on any other.
*/}}
{{- define "lagscale.targetKinds" -}}
{{- toJson (dict "Model" "models" "Server" "servers" "Deployment" "deployments" "StatefulSet" "statefulsets" "ReplicaSet" "replicasets") -}}
{{- end -}}

{{/* Plural resource of a target kind, for RBAC. */}}
{{- define "lagscale.kindResource" -}}
{{- $known := include "lagscale.targetKinds" .root | fromJson -}}
{{- if not (hasKey $known .kind) -}}
{{- fail (printf "target kind %q: the coordinator scales only Model, Server, Deployment, StatefulSet or ReplicaSet" .kind) -}}
{{- end -}}
{{- get $known .kind -}}
{{- end -}}

{{/*
lagscale.leaseName: the coordinator's leader-election Lease (in the release namespace).
*/}}
{{- define "lagscale.leaseName" -}}
{{- .Values.coordinator.leaderElection.leaseName | default (include "lagscale.fullname" .) -}}
{{- end -}}
