{{/*
lagscale.sidecar: the lagscale sidecar as one container, to put in your own pod spec:

  containers:
    {{- include "lagscale.sidecar" . | nindent 4 }}
    - name: my-inference-server
      ...

or with per-workload settings (any omitted key falls back to the chart's `sidecar` values;
serverNameLabel takes the server name from a pod label instead of a fixed serverName):

    {{- include "lagscale.sidecar" (dict "root" $ "serverName" "triton" "upstreamHttpPort" 8000
          "upstreamGrpcPort" 8001 "httpPort" 9100 "grpcPort" 9101) | nindent 4 }}

Clients (or Seldon's agent) send requests to the sidecar's http/grpc ports; it forwards them to the
inference server on 127.0.0.1 and reports lag to the coordinator. POD_NAME comes from the downward
API, so each pod reports as itself. Add `lagscale.sidecarVolumes` to the pod's volumes when
the token or TLS is on (the default generates a token), and `lagscale.sidecarPodAnnotations` to the pod's annotations for
Prometheus scraping by annotation.
*/}}
{{- define "lagscale.sidecar" -}}
{{- $root := . -}}
{{- $o := dict -}}
{{- if hasKey . "root" -}}{{- $root = .root -}}{{- $o = . -}}{{- end -}}
{{- $s := $root.Values.sidecar -}}
{{- $httpPort := int (dig "httpPort" $s.httpPort $o) -}}
{{- $grpcPort := int (dig "grpcPort" $s.grpcPort $o) -}}
{{- $adminPort := int (dig "adminPort" $s.adminPort $o) -}}
{{- $upHttp := int (dig "upstreamHttpPort" $s.upstreamHttpPort $o) -}}
{{- $upGrpc := int (dig "upstreamGrpcPort" $s.upstreamGrpcPort $o) -}}
{{- $serverName := dig "serverName" "" $o -}}
{{- $serverNameLabel := dig "serverNameLabel" "" $o -}}
- name: lagscale-sidecar
  image: {{ include "lagscale.image" (dict "root" $root "image" $root.Values.image.sidecar) }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  env:
    # Each pod reports as itself (the sidecar also reads LAGSCALE_POD_NAME, then the hostname).
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: LAGSCALE_LISTEN
      value: "0.0.0.0:{{ $httpPort }}"
    - name: LAGSCALE_UPSTREAM
      value: "127.0.0.1:{{ $upHttp }}"
    - name: LAGSCALE_GRPC_LISTEN
      value: {{ ternary (printf "0.0.0.0:%d" $grpcPort) "" (gt $grpcPort 0) | quote }}
    {{- if gt $grpcPort 0 }}
    - name: LAGSCALE_GRPC_UPSTREAM
      value: "127.0.0.1:{{ $upGrpc }}"
    - name: LAGSCALE_GRPC_ENGINE
      value: {{ $s.grpcEngine | quote }}
    {{- end }}
    - name: LAGSCALE_ADMIN
      value: "0.0.0.0:{{ $adminPort }}"
    - name: LAGSCALE_COORDINATOR
      value: {{ include "lagscale.coordinatorAddress" $root | quote }}
    {{- if $serverName }}
    - name: LAGSCALE_SERVER_NAME
      value: {{ $serverName | quote }}
    {{- else if $serverNameLabel }}
    # The server name from a pod label (e.g. Seldon's seldon-server-name).
    - name: LAGSCALE_SERVER_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.labels['{{ $serverNameLabel }}']
    {{- end }}
    - name: LAGSCALE_MODEL_HEADER
      value: {{ $s.modelHeader | quote }}
    - name: LAGSCALE_REPORT_INTERVAL
      value: {{ $s.reportInterval | quote }}
    - name: LAGSCALE_UPSTREAM_TIMEOUT
      value: {{ $s.upstreamTimeout | quote }}
    - name: LAGSCALE_DRAIN_TIMEOUT
      value: {{ $s.drainTimeout | quote }}
    - name: LAGSCALE_IDLE_TIMEOUT
      value: {{ $s.idleTimeout | quote }}
    {{- if gt (int $s.threads) 0 }}
    - name: LAGSCALE_THREADS
      value: {{ $s.threads | quote }}
    {{- end }}
    {{- include "lagscale.sidecarSecurityEnv" $root | nindent 4 }}
    {{- with $s.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: lagscale-http
      containerPort: {{ $httpPort }}
      protocol: TCP
    {{- if gt $grpcPort 0 }}
    - name: lagscale-grpc
      containerPort: {{ $grpcPort }}
      protocol: TCP
    {{- end }}
    - name: lagscale-admin
      containerPort: {{ $adminPort }}
      protocol: TCP
  readinessProbe:
    httpGet:
      path: /readyz
      port: lagscale-admin
    periodSeconds: 5
    failureThreshold: 2
  livenessProbe:
    httpGet:
      path: /healthz
      port: lagscale-admin
    periodSeconds: 10
    failureThreshold: 3
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  {{- with include "lagscale.sidecarSecurityMounts" $root }}
  volumeMounts:
    {{- . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Pod volumes the sidecar needs: the token and TLS Secrets (empty when neither). Pass the root. */}}
{{- define "lagscale.sidecarVolumes" -}}
{{- with include "lagscale.authSecretName" . }}
- name: lagscale-auth
  secret:
    secretName: {{ . }}
{{- end }}
{{- with include "lagscale.reportTlsClientSecret" . }}
- name: lagscale-report-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{/* Pod annotations for Prometheus scraping of the sidecar's admin port. Pass the root. */}}
{{- define "lagscale.sidecarPodAnnotations" -}}
{{- if .Values.metrics.annotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.sidecar.adminPort | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}
