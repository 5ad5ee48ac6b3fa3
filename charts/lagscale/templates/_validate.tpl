{{/*
lagscale.validate: checks the schema cannot express (relations between values). Fails the install
with a message naming the value.
*/}}
{{- define "lagscale.validate" -}}
{{- if and (gt (int .Values.coordinator.replicas) 1) (not .Values.coordinator.leaderElection.enabled) -}}
{{- fail (printf "coordinator.replicas is %v: more than one coordinator needs coordinator.leaderElection.enabled=true (two writers of replica counts would fight)" .Values.coordinator.replicas) -}}
{{- end -}}
{{- $cfg := .Values.coordinator.config -}}
{{- $d := $cfg.defaults | default dict -}}
{{- if and (hasKey $d "minReplicas") (hasKey $d "maxReplicas") (gt (int $d.minReplicas) (int $d.maxReplicas)) -}}
{{- fail (printf "coordinator.config.defaults: minReplicas (%v) is greater than maxReplicas (%v)" $d.minReplicas $d.maxReplicas) -}}
{{- end -}}
{{- range $section := list "servers" "models" -}}
{{- $seen := dict -}}
{{- range $i, $e := (get $cfg $section | default list) -}}
{{- if hasKey $seen $e.name -}}
{{- fail (printf "coordinator.config.%s: %q is listed twice" $section $e.name) -}}
{{- end -}}
{{- $_ := set $seen $e.name true -}}
{{- with $e.target -}}
{{- /* The coordinator scales through /apis/<group>/<version>/...: a core-group apiVersion ("v1")
has no group and is refused at start-up, as is any kind but the five it knows. */ -}}
{{- $parts := splitList "/" .apiVersion -}}
{{- if or (ne (len $parts) 2) (not (first $parts)) (not (last $parts)) -}}
{{- fail (printf "coordinator.config.%s[%d].target.apiVersion: invalid value %q (expected group/version: apps/v1 for Deployment, StatefulSet or ReplicaSet, mlops.seldon.io/v1alpha1 for Model or Server)" $section $i .apiVersion) -}}
{{- end -}}
{{- $_ := include "lagscale.kindResource" (dict "root" $ "kind" .kind) -}}
{{- end -}}
{{- $min := ternary $e.minReplicas (dig "minReplicas" 1 $d) (hasKey $e "minReplicas") -}}
{{- $max := ternary $e.maxReplicas (dig "maxReplicas" 1 $d) (hasKey $e "maxReplicas") -}}
{{- if and (hasKey $e "minReplicas") (hasKey $e "maxReplicas") (gt (int $min) (int $max)) -}}
{{- fail (printf "coordinator.config.%s[%d] (%s): minReplicas (%v) is greater than maxReplicas (%v)" $section $i $e.name $min $max) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.server.enabled .Values.server.autoscale -}}
{{- if gt (int .Values.server.minReplicas) (int .Values.server.maxReplicas) -}}
{{- fail (printf "server: minReplicas (%v) is greater than maxReplicas (%v)" .Values.server.minReplicas .Values.server.maxReplicas) -}}
{{- end -}}
{{- range (.Values.coordinator.config.servers | default list) -}}
{{- if eq .name $.Values.server.name -}}
{{- fail (printf "server.name %q is also in coordinator.config.servers; rename one, or set server.autoscale=false" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $m := .Values.hpa.models -}}
{{- if gt (int ($m.minReplicas | default 1)) (int $m.maxReplicas) -}}
{{- fail (printf "hpa.models[%d] (%s): minReplicas (%v) is greater than maxReplicas (%v)" $i $m.name $m.minReplicas $m.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
