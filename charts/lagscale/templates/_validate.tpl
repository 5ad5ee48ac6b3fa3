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
{{- /* A bound the entry leaves out comes from defaults (models) or the coordinator's own 1 and 10
(servers, which take no defaults); the coordinator checks the bounds it ends up with. */ -}}
{{- $base := ternary $d dict (eq $section "models") -}}
{{- $min := ternary $e.minReplicas (dig "minReplicas" 1 $base) (hasKey $e "minReplicas") -}}
{{- $max := ternary $e.maxReplicas (dig "maxReplicas" 10 $base) (hasKey $e "maxReplicas") -}}
{{- if gt (int $min) (int $max) -}}
{{- $from := ternary "coordinator.config.defaults" "the coordinator's default" (eq $section "models") -}}
{{- fail (printf "coordinator.config.%s[%d] (%s): minReplicas (%v%s) is greater than maxReplicas (%v%s)" $section $i $e.name $min (ternary "" (printf ", from %s" $from) (hasKey $e "minReplicas")) $max (ternary "" (printf ", from %s" $from) (hasKey $e "maxReplicas"))) -}}
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
{{- include "lagscale.validateCoordinator" . -}}
{{- include "lagscale.validatePorts" . -}}
{{- range $i, $m := .Values.hpa.models -}}
{{- if gt (int ($m.minReplicas | default 1)) (int $m.maxReplicas) -}}
{{- fail (printf "hpa.models[%d] (%s): minReplicas (%v) is greater than maxReplicas (%v)" $i $m.name $m.minReplicas $m.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}


{{/* A duration value ("15s", "500ms", "2m", "1h"; a bare number is seconds) in seconds. */}}
{{- define "lagscale.seconds" -}}
{{- $s := toString . -}}
{{- $unit := regexFind "(ms|s|m|h)$" $s -}}
{{- mulf (float64 (trimSuffix $unit $s)) (get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "" 1.0) $unit) -}}
{{- end -}}

{{/*
lagscale.validateCoordinator: the coordinator's own start-up checks on its flags, and the
settings that would leave it unable to serve what relies on it.
*/}}
{{- define "lagscale.validateCoordinator" -}}
{{- $c := .Values.coordinator -}}
{{- $le := $c.leaderElection -}}
{{- if and $c.enabled $le.enabled -}}
{{- /* client-go's rules, as coordinator/src/leader_election.cc applies them at start-up. */ -}}
{{- $lease := include "lagscale.seconds" $le.leaseDuration | float64 -}}
{{- $renew := include "lagscale.seconds" $le.renewDeadline | float64 -}}
{{- $retry := include "lagscale.seconds" $le.retryPeriod | float64 -}}
{{- if not (gt $renew (mulf $retry 1.2)) -}}
{{- fail (printf "coordinator.leaderElection.renewDeadline: %s must exceed 1.2 x the retry period (coordinator.leaderElection.retryPeriod %s)" $le.renewDeadline $le.retryPeriod) -}}
{{- end -}}
{{- if not (gt $lease $renew) -}}
{{- fail (printf "coordinator.leaderElection.leaseDuration: %s must exceed the renew deadline (coordinator.leaderElection.renewDeadline %s)" $le.leaseDuration $le.renewDeadline) -}}
{{- end -}}
{{- /* The coordinator's maximum for all three; the other two are below the lease. */ -}}
{{- if gt $lease 3600.0 -}}
{{- fail (printf "coordinator.leaderElection.leaseDuration: %s is over the maximum of 1h" $le.leaseDuration) -}}
{{- end -}}
{{- end -}}
{{- $pdb := $c.podDisruptionBudget -}}
{{- if and $c.enabled $pdb.enabled (gt (int $c.replicas) 1) (ge (int $pdb.maxUnavailable) (int $c.replicas)) -}}
{{- fail (printf "coordinator.podDisruptionBudget.maxUnavailable (%v) is not below coordinator.replicas (%v): a drain could evict every coordinator at once, the leader and the webhook's endpoints with them; use at most %d, or podDisruptionBudget.enabled=false" $pdb.maxUnavailable $c.replicas (sub (int $c.replicas) 1)) -}}
{{- end -}}
{{- if and .Values.injector.enabled (eq .Values.injector.failurePolicy "Fail") (eq (int $c.replicas) 0) -}}
{{- fail "injector.failurePolicy is Fail and coordinator.replicas is 0: with no coordinator to answer the webhook, the API server would refuse every new pod the webhook selects; set coordinator.replicas to 1 or more, or injector.failurePolicy=Ignore" -}}
{{- end -}}
{{- if not $c.enabled -}}
{{- if and (not .Values.sidecar.coordinatorAddress) (or .Values.server.enabled .Values.seldon.serverConfig.enabled) -}}
{{- fail (printf "coordinator.enabled is false and sidecar.coordinatorAddress is empty: the sidecars of %s would report to %s, a Service this release does not render; set sidecar.coordinatorAddress to your coordinator's host:port" (ternary "server.enabled" "seldon.serverConfig.enabled" .Values.server.enabled) (include "lagscale.coordinatorAddress" .)) -}}
{{- end -}}
{{- if .Values.keda.enabled -}}
{{- fail "keda.enabled needs coordinator.enabled: the ScaledObjects read the release's coordinator, its external scaler" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
lagscale.validatePorts: each process listens once on each port. The coordinator's listeners (gRPC,
HTTP, webhook) share a container, and so do the sidecar's ports and the inference server's it
forwards to (a sidecar port equal to an upstream port would proxy to itself).
*/}}
{{- define "lagscale.validatePorts" -}}
{{- $c := .Values.coordinator -}}
{{- $ports := list (list "coordinator.grpcPort" $c.grpcPort) (list "coordinator.httpPort" $c.httpPort) -}}
{{- if .Values.injector.enabled -}}
{{- $ports = append $ports (list "injector.port" .Values.injector.port) -}}
{{- end -}}
{{- include "lagscale.distinctPorts" (dict "ports" $ports "what" "the coordinator listens on each in one container") -}}
{{- $s := .Values.sidecar -}}
{{- $ports = list (list "sidecar.httpPort" $s.httpPort) (list "sidecar.adminPort" $s.adminPort) (list "sidecar.upstreamHttpPort" $s.upstreamHttpPort) -}}
{{- if gt (int $s.grpcPort) 0 -}}
{{- $ports = concat $ports (list (list "sidecar.grpcPort" $s.grpcPort) (list "sidecar.upstreamGrpcPort" $s.upstreamGrpcPort)) -}}
{{- end -}}
{{- include "lagscale.distinctPorts" (dict "ports" $ports "what" "the sidecar's ports and the inference server's it forwards to share the pod") -}}
{{- end -}}

{{/* Fails when two of .ports ([value name, port] pairs) are equal. */}}
{{- define "lagscale.distinctPorts" -}}
{{- $seen := dict -}}
{{- range .ports -}}
{{- $key := toString (int (last .)) -}}
{{- if hasKey $seen $key -}}
{{- fail (printf "%s and %s are both %s: %s, so they must all differ" (get $seen $key) (first .) $key $.what) -}}
{{- end -}}
{{- $_ := set $seen $key (first .) -}}
{{- end -}}
{{- end -}}
