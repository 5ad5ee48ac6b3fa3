{{/*
Security of the report stream (sidecars -> coordinator gRPC port): the bearer token and TLS.
*/}}

{{/* The Secret holding the bearer token: auth.existingSecret, else the generated one (only with the
chart's own coordinator: another coordinator would not know its value), else "". */}}
{{- define "lagscale.authSecretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if and .Values.auth.generate .Values.coordinator.enabled -}}
{{- printf "%s-auth" (include "lagscale.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the chart's Secrets for sidecars go to (JSON list): the release's, the Seldon
ServerConfig's when it renders one elsewhere, and with the injector every namespace in
injector.namespaces (their pods mount them there). */}}
{{- define "lagscale.sidecarSecretNamespaces" -}}
{{- $list := list .Release.Namespace -}}
{{- if .Values.seldon.serverConfig.enabled -}}
{{- $list = append $list (default .Values.seldon.namespace .Values.seldon.serverConfig.namespace) | uniq -}}
{{- end -}}
{{- if .Values.injector.enabled -}}
{{- range .Values.injector.namespaces -}}
{{- $list = append $list . | uniq -}}
{{- end -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* The Secrets the sidecar mounts that the chart makes itself (JSON list): the generated token, and
the sidecars' TLS Secret unless reportTls.mode is existing. They exist only where the chart renders
them (lagscale.sidecarSecretNamespaces). */}}
{{- define "lagscale.sidecarChartSecrets" -}}
{{- $list := list -}}
{{- if and (not .Values.auth.existingSecret) (include "lagscale.authSecretName" .) -}}
{{- $list = append $list (include "lagscale.authSecretName" .) -}}
{{- end -}}
{{- if and .Values.reportTls.enabled (ne .Values.reportTls.mode "existing") -}}
{{- $list = append $list (include "lagscale.reportTlsClientSecret" .) -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* The object a KEDA-actuated entry's ScaledObject scales (JSON), its namespace resolved: the
entry's `target`, else with Seldon on the Seldon Model or Server of its name; "" when neither.
Called with (dict "root" $ "cfg" <coordinator config> "entry" $e "kind" "model"|"server"). */}}
{{- define "lagscale.kedaTarget" -}}
{{- $t := .entry.target -}}
{{- if and (not $t) .cfg.seldon.enabled -}}
{{- $t = dict "apiVersion" "mlops.seldon.io/v1alpha1" "kind" (title .kind) "name" .entry.name "namespace" .cfg.seldon.namespace -}}
{{- end -}}
{{- if $t -}}
{{- toJson (set (omit $t "namespace") "namespace" ($t.namespace | default .root.Release.Namespace)) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces of the KEDA ScaledObjects (JSON list; empty unless keda.enabled): their targets'
(lagscale.kedaTarget, as keda-scaledobject.yaml places them). */}}
{{- define "lagscale.kedaNamespaces" -}}
{{- $list := list -}}
{{- if and .Values.keda.enabled .Values.coordinator.enabled -}}
{{- $cfg := include "lagscale.coordinatorConfig" . | fromYaml -}}
{{- range $section := list "servers" "models" -}}
{{- range $e := (get $cfg $section | default list) -}}
{{- if eq ($e.actuator | default "coordinator") "keda" -}}
{{- $t := include "lagscale.kedaTarget" (dict "root" $ "cfg" $cfg "entry" $e "kind" (trimSuffix "s" $section)) -}}
{{- if $t -}}
{{- $list = append $list ($t | fromJson).namespace | uniq -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* Namespaces the sidecars' TLS Secret goes to (JSON list): the sidecars', and with TLS on, every
KEDA ScaledObject's (KEDA presents it to the coordinator's gRPC port through a
TriggerAuthentication, which reads Secrets from its own namespace only). */}}
{{- define "lagscale.reportTlsClientNamespaces" -}}
{{- $list := include "lagscale.sidecarSecretNamespaces" . | fromJsonArray -}}
{{- range include "lagscale.kedaNamespaces" . | fromJsonArray -}}
{{- $list = append $list . | uniq -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* The coordinator's TLS Secret (tls.crt, tls.key, ca.crt); "" when TLS is off. */}}
{{- define "lagscale.reportTlsServerSecret" -}}
{{- if .Values.reportTls.enabled -}}
{{- if eq .Values.reportTls.mode "existing" -}}
{{- required "reportTls.existingSecret is required with reportTls.mode existing" .Values.reportTls.existingSecret -}}
{{- else -}}
{{- printf "%s-report-tls" (include "lagscale.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The sidecars' TLS Secret (ca.crt, and tls.crt/tls.key for mutual TLS); "" when TLS is off. */}}
{{- define "lagscale.reportTlsClientSecret" -}}
{{- if .Values.reportTls.enabled -}}
{{- if eq .Values.reportTls.mode "existing" -}}
{{- required "reportTls.existingClientSecret is required with reportTls.mode existing" .Values.reportTls.existingClientSecret -}}
{{- else -}}
{{- printf "%s-report-tls-client" (include "lagscale.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* DNS names the coordinator's certificate carries: every way a sidecar may dial its Service. */}}
{{- define "lagscale.reportTlsDnsNames" -}}
{{- $svc := include "lagscale.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- toJson (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) -}}
{{- end -}}

{{/* Coordinator args for the token and TLS. Pass the root. */}}
{{- define "lagscale.coordinatorSecurityArgs" -}}
{{- if include "lagscale.authSecretName" . }}
- --token-file=/var/run/lagscale/auth/{{ .Values.auth.key }}
{{- end }}
{{- if .Values.reportTls.enabled }}
- --tls-cert=/var/run/lagscale/tls/tls.crt
- --tls-key=/var/run/lagscale/tls/tls.key
- --tls-reload-interval={{ .Values.reportTls.reloadInterval }}
{{- if .Values.reportTls.mutual }}
- --tls-client-ca=/var/run/lagscale/tls/ca.crt
{{- end }}
{{- end }}
{{- end -}}

{{/* Coordinator volume mounts for the token and TLS. Pass the root. */}}
{{- define "lagscale.coordinatorSecurityMounts" -}}
{{- if include "lagscale.authSecretName" . }}
- name: auth
  mountPath: /var/run/lagscale/auth
  readOnly: true
{{- end }}
{{- if .Values.reportTls.enabled }}
- name: report-tls
  mountPath: /var/run/lagscale/tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Coordinator volumes for the token and TLS. Pass the root. */}}
{{- define "lagscale.coordinatorSecurityVolumes" -}}
{{- with include "lagscale.authSecretName" . }}
- name: auth
  secret:
    secretName: {{ . }}
{{- end }}
{{- with include "lagscale.reportTlsServerSecret" . }}
- name: report-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{/* Sidecar env for the token and TLS. Pass the root. */}}
{{- define "lagscale.sidecarSecurityEnv" -}}
{{- if include "lagscale.authSecretName" . }}
- name: LAGSCALE_COORDINATOR_TOKEN_FILE
  value: /var/run/lagscale/auth/{{ .Values.auth.key }}
{{- end }}
{{- if .Values.reportTls.enabled }}
- name: LAGSCALE_COORDINATOR_CA
  value: /var/run/lagscale/tls/ca.crt
- name: LAGSCALE_COORDINATOR_TLS_RELOAD_INTERVAL
  value: {{ .Values.reportTls.reloadInterval | quote }}
{{- if .Values.reportTls.mutual }}
- name: LAGSCALE_COORDINATOR_CERT
  value: /var/run/lagscale/tls/tls.crt
- name: LAGSCALE_COORDINATOR_KEY
  value: /var/run/lagscale/tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* Sidecar volume mounts for the token and TLS. Pass the root. */}}
{{- define "lagscale.sidecarSecurityMounts" -}}
{{- if include "lagscale.authSecretName" . }}
- name: lagscale-auth
  mountPath: /var/run/lagscale/auth
  readOnly: true
{{- end }}
{{- if .Values.reportTls.enabled }}
- name: lagscale-report-tls
  mountPath: /var/run/lagscale/tls
  readOnly: true
{{- end }}
{{- end -}}
