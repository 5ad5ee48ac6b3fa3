{{/*
lagscale.rbacRules: the coordinator's permissions as YAML {namespace: [rules]} ("" = cluster-wide
when rbac.clusterWide). Least privilege:
  - get/patch on the `scale` subresource of exactly the kinds that targets name, only with the
    kubernetes actuator (dry-run and webhook never touch the API), limited to the target names;
  - Seldon mode: get/list/watch on Models and Servers, and scale on any of them (targets are
    discovered at run time), in the Seldon namespace only;
  - leader election: get/update on the one Lease (by name) in the release namespace, and create on
    leases there. Kubernetes RBAC cannot limit `create` by resourceNames (the name of an object
    being created is not known when the request is authorized), so create is its own rule without
    names, confined to the release namespace by the Role.
*/}}
{{- define "lagscale.rbacRules" -}}
{{- $root := . -}}
{{- $cfg := include "lagscale.coordinatorConfig" . | fromYaml -}}
{{- $patching := eq .Values.coordinator.actuator "kubernetes" -}}
{{- /* scale: namespace -> "group|resource" -> list of names ("*" = any) */ -}}
{{- $scale := dict -}}
{{- $read := dict -}}
{{- if $patching -}}
{{- range $entry := concat (default (list) $cfg.servers) (default (list) $cfg.models) -}}
{{- with $entry.target -}}
{{- $ns := .namespace | default $root.Release.Namespace -}}
{{- if $root.Values.rbac.clusterWide }}{{ $ns = "" }}{{ end -}}
{{- $parts := splitList "/" .apiVersion -}}
{{- $group := ternary (first $parts) "" (gt (len $parts) 1) -}}
{{- $res := include "lagscale.kindResource" (dict "root" $root "kind" .kind) -}}
{{- $key := printf "%s|%s" $group $res -}}
{{- $kinds := get $scale $ns | default dict -}}
{{- $_ := set $kinds $key (append (get $kinds $key | default list) .name) -}}
{{- $_ := set $scale $ns $kinds -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.seldon.enabled -}}
{{- $ns := ternary "" .Values.seldon.namespace .Values.rbac.clusterWide -}}
{{- $_ := set $read $ns true -}}
{{- if $patching -}}
{{- $kinds := get $scale $ns | default dict -}}
{{- $_ := set $kinds "mlops.seldon.io|models" (list "*") -}}
{{- $_ := set $kinds "mlops.seldon.io|servers" (list "*") -}}
{{- $_ := set $scale $ns $kinds -}}
{{- end -}}
{{- end -}}
{{- $out := dict -}}
{{- range $ns := keys $scale | concat (keys $read) | uniq | sortAlpha -}}
{{- $rules := list -}}
{{- if hasKey $read $ns -}}
{{- $rules = append $rules (dict "apiGroups" (list "mlops.seldon.io") "resources" (list "models" "servers") "verbs" (list "get" "list" "watch")) -}}
{{- end -}}
{{- $kinds := get $scale $ns | default dict -}}
{{- range $key := keys $kinds | sortAlpha -}}
{{- $parts := splitList "|" $key -}}
{{- $names := get $kinds $key | uniq | sortAlpha -}}
{{- $rule := dict "apiGroups" (list (first $parts)) "resources" (list (printf "%s/scale" (last $parts))) "verbs" (list "get" "patch") -}}
{{- if and $root.Values.rbac.restrictToNames (not (has "*" $names)) -}}
{{- $_ := set $rule "resourceNames" $names -}}
{{- end -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- $_ := set $out $ns $rules -}}
{{- end -}}
{{- if .Values.coordinator.leaderElection.enabled -}}
{{- $ns := .Release.Namespace -}}
{{- $lease := dict "apiGroups" (list "coordination.k8s.io") "resources" (list "leases") -}}
{{- $rules := get $out $ns | default list -}}
{{- $rules = append $rules (merge (dict "verbs" (list "get" "update") "resourceNames" (list (include "lagscale.leaseName" .))) $lease) -}}
{{- $rules = append $rules (merge (dict "verbs" (list "create")) $lease) -}}
{{- $_ := set $out $ns $rules -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
