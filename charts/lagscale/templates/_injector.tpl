{{/*
The sidecar injection webhook (injector.enabled). The container the webhook injects is rendered
here from the same named template users include by hand ("lagscale.sidecar"), as JSON, into the
injector ConfigMap; the coordinator reads it (--webhook-sidecar-template) and fills in only the
per-pod ports and server name. One source of truth for the sidecar's container spec.
*/}}

{{/* The sidecar template file (sidecar.json) the webhook reads. Pass the root. */}}
{{- define "lagscale.injectorSidecarTemplate" -}}
{{- $s := .Values.sidecar -}}
{{- dict
    "container" (include "lagscale.sidecar" . | fromYamlArray | first)
    "volumes" (include "lagscale.sidecarVolumes" . | fromYamlArray)
    "podAnnotations" (include "lagscale.sidecarPodAnnotations" . | fromYaml)
    "skipPodLabels" (include "lagscale.selectorLabels" (dict "root" . "component" "coordinator") | fromYaml)
    "ports" (dict "http" (int $s.httpPort) "grpc" (int $s.grpcPort) "admin" (int $s.adminPort)
                  "upstreamHttp" (int $s.upstreamHttpPort) "upstreamGrpc" (int $s.upstreamGrpcPort))
  | toPrettyJson -}}
{{- end -}}

{{/*
The webhook's namespace checks. An injected sidecar mounts Secrets; those the chart makes exist
only where it renders them, so the webhook must inject only in injector.namespaces, and that list
must not be empty. Fails the render with what to do otherwise. Pass the root.
*/}}
{{- define "lagscale.injectorValidate" -}}
{{- /* A native sidecar is an init container with restartPolicy Always: before 1.29 the API server
drops the field, and the pod is refused (probes on an init container) or never starts. */ -}}
{{- if and (eq .Values.injector.sidecarMode "native") (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "injector.sidecarMode is native, which needs Kubernetes 1.29 or later (an init container with restartPolicy Always), and the cluster is %s: set injector.sidecarMode=container" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- $secrets := include "lagscale.sidecarChartSecrets" . | fromJsonArray -}}
{{- if and $secrets (not .Values.injector.namespaces) -}}
{{- $ways := list "list the namespaces whose pods are injected in injector.namespaces (the chart then renders the Secrets there too)" -}}
{{- if and (not .Values.auth.existingSecret) (include "lagscale.authSecretName" .) -}}
{{- $ways = append $ways "set auth.existingSecret to a token Secret you create in the release namespace and in each injected namespace (or auth.generate=false for no token)" -}}
{{- end -}}
{{- if and .Values.reportTls.enabled (ne .Values.reportTls.mode "existing") -}}
{{- $ways = append $ways "use reportTls.mode=existing with a reportTls.existingClientSecret you create in each injected namespace" -}}
{{- end -}}
{{- fail (printf "injector.enabled: the injected sidecar mounts the Secret(s) %s, which the chart creates only in the namespaces it renders into, and injected pods never run in the release namespace %q; without them every injected pod waits for its volumes for ever. Either %s" (join ", " $secrets) .Release.Namespace (join ", or " $ways)) -}}
{{- end -}}
{{- end -}}

{{- define "lagscale.injectorName" -}}
{{- printf "%s-injector" (include "lagscale.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the Secret holding the webhook's serving certificate. */}}
{{- define "lagscale.injectorTlsSecret" -}}
{{- printf "%s-injector-tls" (include "lagscale.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Coordinator arguments for the webhook (inside the container's args list). */}}
{{- define "lagscale.injectorArgs" -}}
{{- if .Values.injector.enabled -}}
- --webhook-listen=0.0.0.0:{{ .Values.injector.port }}
- --webhook-cert=/var/run/lagscale/webhook-tls/tls.crt
- --webhook-key=/var/run/lagscale/webhook-tls/tls.key
- --webhook-sidecar-template=/etc/lagscale-injector/sidecar.json
- --webhook-sidecar-mode={{ .Values.injector.sidecarMode }}
{{- end -}}
{{- end -}}

{{/* Coordinator container port, volume mounts and pod volumes for the webhook. */}}
{{- define "lagscale.injectorPorts" -}}
{{- if .Values.injector.enabled -}}
- name: webhook
  containerPort: {{ .Values.injector.port }}
  protocol: TCP
{{- end -}}
{{- end -}}
{{- define "lagscale.injectorMounts" -}}
{{- if .Values.injector.enabled -}}
# A directory mount (not subPath), so rotated certificates reach the running process.
- name: webhook-tls
  mountPath: /var/run/lagscale/webhook-tls
  readOnly: true
- name: injector
  mountPath: /etc/lagscale-injector
  readOnly: true
{{- end -}}
{{- end -}}
{{- define "lagscale.injectorVolumes" -}}
{{- if .Values.injector.enabled -}}
- name: webhook-tls
  secret:
    secretName: {{ include "lagscale.injectorTlsSecret" . }}
- name: injector
  configMap:
    name: {{ include "lagscale.injectorName" . }}
{{- end -}}
{{- end -}}
