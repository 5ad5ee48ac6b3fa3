{{/*
lagscale.rbacRules: the coordinator's permissions as YAML {namespace: [rules]} ("" = cluster-wide
when rbac.clusterWide). Least privilege:
  - get on each target object, limited to the target names, whenever the coordinator reads targets
    (the kubernetes actuator, or Seldon mode with any actuator): it GETs the object itself for
    spec.replicas (and a Seldon kind's minReplicas/maxReplicas) when it first sees a target and at
    every new leadership term, before it writes anything;
  - get/patch on the `scale` subresource of exactly those targets, only with the kubernetes
    actuator (dry-run and webhook never write through the API) and never for `actuator: keda`
    entries, which KEDA alone writes;
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
{{- $reading := or $patching .Values.seldon.enabled -}}
{{- $seldonNs := ternary "" .Values.seldon.namespace .Values.rbac.clusterWide -}}
{{- /* get (the object) and scale (its subresource): namespace -> "group|resource" -> names ("*" = any) */ -}}
{{- $get := dict -}}
{{- $scale := dict -}}
{{- $read := dict -}}
{{- if $reading -}}
{{- range $entry := concat (default (list) $cfg.servers) (default (list) $cfg.models) -}}
{{- with $entry.target -}}
{{- $ns := ternary "" .namespace $root.Values.rbac.clusterWide -}}
{{- $parts := splitList "/" .apiVersion -}}
{{- $group := first $parts -}}
{{- $res := include "lagscale.kindResource" (dict "root" $root "kind" .kind) -}}
{{- $key := printf "%s|%s" $group $res -}}
{{- /* Seldon mode already reads every Model and Server of its namespace. */ -}}
{{- if not (and $root.Values.seldon.enabled (eq $ns $seldonNs) (eq $group "mlops.seldon.io")) -}}
{{- $kinds := get $get $ns | default dict -}}
{{- $_ := set $kinds $key (append (get $kinds $key | default list) .name) -}}
{{- $_ := set $get $ns $kinds -}}
{{- end -}}
{{- if and $patching (ne ($entry.actuator | default "coordinator") "keda") -}}
{{- $kinds := get $scale $ns | default dict -}}
{{- $_ := set $kinds $key (append (get $kinds $key | default list) .name) -}}
{{- $_ := set $scale $ns $kinds -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.seldon.enabled -}}
{{- $_ := set $read $seldonNs true -}}
{{- if $patching -}}
{{- $kinds := get $scale $seldonNs | default dict -}}
{{- $_ := set $kinds "mlops.seldon.io|models" (list "*") -}}
{{- $_ := set $kinds "mlops.seldon.io|servers" (list "*") -}}
{{- $_ := set $scale $seldonNs $kinds -}}
{{- end -}}
{{- end -}}
{{- $out := dict -}}
{{- range $ns := concat (keys $get) (keys $scale) (keys $read) | uniq | sortAlpha -}}
{{- $rules := list -}}
{{- if hasKey $read $ns -}}
{{- $rules = append $rules (dict "apiGroups" (list "mlops.seldon.io") "resources" (list "models" "servers") "verbs" (list "get" "list" "watch")) -}}
{{- end -}}
{{- $gets := get $get $ns | default dict -}}
{{- $scales := get $scale $ns | default dict -}}
{{- range $key := concat (keys $gets) (keys $scales) | uniq | sortAlpha -}}
{{- $parts := splitList "|" $key -}}
{{- range $rule := list (dict "names" (get $gets $key) "resource" (last $parts) "verbs" (list "get"))
                      (dict "names" (get $scales $key) "resource" (printf "%s/scale" (last $parts)) "verbs" (list "get" "patch")) -}}
{{- if $rule.names -}}
{{- $names := $rule.names | uniq | sortAlpha -}}
{{- $r := dict "apiGroups" (list (first $parts)) "resources" (list $rule.resource) "verbs" $rule.verbs -}}
{{- if and $root.Values.rbac.restrictToNames (not (has "*" $names)) -}}
{{- $_ := set $r "resourceNames" $names -}}
{{- end -}}
{{- $rules = append $rules $r -}}
{{- end -}}
{{- end -}}
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
