{{/* The chart's name, or nameOverride. */}}
{{- define "netpass.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: fullnameOverride, or <release>-<name> (just <release> if it contains the name). */}}
{{- define "netpass.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "netpass.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "netpass.labels" -}}
helm.sh/chart: {{ include "netpass.chart" . }}
{{ include "netpass.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: netpass
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the chart's pods; a component's selector adds app.kubernetes.io/component. */}}
{{- define "netpass.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netpass.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "netpass.agent.selectorLabels" -}}
{{ include "netpass.selectorLabels" . }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "netpass.controller.selectorLabels" -}}
{{ include "netpass.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "netpass.agent.fullname" -}}
{{- printf "%s-agent" (include "netpass.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "netpass.controller.fullname" -}}
{{- printf "%s-controller" (include "netpass.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "netpass.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "netpass.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "netpass.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "netpass.controller.fullname" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the four tokens. */}}
{{- define "netpass.tokensSecret" -}}
{{- default (printf "%s-tokens" (include "netpass.fullname" .)) .Values.tokens.existingSecret }}
{{- end }}

{{/* An image reference: (dict "image" .Values.agent.image "root" .). */}}
{{- define "netpass.image" -}}
{{- $repository := .image.repository }}
{{- with .root.Values.imageRegistry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s:%s" $repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Where the pods find their files. */}}
{{- define "netpass.tokensPath" -}}/etc/netpass/tokens{{- end }}
{{- define "netpass.tlsPath" -}}/etc/netpass/tls{{- end }}
{{- define "netpass.configPath" -}}/etc/netpass/config{{- end }}

{{/* Spring Boot's SSL bundle "netpass" from the mounted kubernetes.io/tls Secret, and the API served with it. */}}
{{- define "netpass.tlsConfig" -}}
{{- $tls := include "netpass.tlsPath" . -}}
spring:
  ssl:
    bundle:
      pem:
        netpass:
          reload-on-update: true
          keystore:
            certificate: {{ printf "%s/tls.crt" $tls }}
            private-key: {{ printf "%s/tls.key" $tls }}
          truststore:
            certificate: {{ printf "%s/ca.crt" $tls }}
server:
  ssl:
    bundle: netpass
    client-auth: {{ .Values.tls.clientAuth }}
# The management port would inherit server.ssl: kubelet's probes and Prometheus scrape it over plain HTTP.
management:
  server:
    ssl:
      enabled: false
{{- end }}

{{/* The scheme both APIs are served with. */}}
{{- define "netpass.scheme" -}}
{{- .Values.tls.enabled | ternary "https" "http" }}
{{- end }}

{{/* The controller's API base URL agents register with: registration.controllerUrl, or this release's Service. */}}
{{- define "netpass.controllerUrl" -}}
{{- if .Values.registration.controllerUrl }}
{{- .Values.registration.controllerUrl }}
{{- else }}
{{- printf "%s://%s.%s.svc:%v" (include "netpass.scheme" .) (include "netpass.controller.fullname" .) .Release.Namespace .Values.controller.service.port }}
{{- end }}
{{- end }}

{{/* The agent pods' labels as a label selector (what agent discovery watches); the DaemonSet's own selector. */}}
{{- define "netpass.agent.labelSelector" -}}
{{- $labels := include "netpass.agent.selectorLabels" . | fromYaml }}
{{- $pairs := list }}
{{- range $key := keys $labels | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%s" $key (get $labels $key)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The Lease the controller replicas elect their leader with. */}}
{{- define "netpass.leaseName" -}}
{{- default (include "netpass.controller.fullname" .) .Values.controller.leaderElection.leaseName }}
{{- end }}

{{/* Checks of values that the schema cannot express. */}}
{{- define "netpass.validate" -}}
{{- if and .Values.tls.enabled .Values.agent.enabled (not .Values.tls.agentSecret) }}
{{- fail "tls.enabled needs tls.agentSecret: a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt" }}
{{- end }}
{{- if and .Values.tls.enabled .Values.controller.enabled (not .Values.tls.controllerSecret) }}
{{- fail "tls.enabled needs tls.controllerSecret: a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt" }}
{{- end }}
{{- if and .Values.registration.enabled .Values.agent.enabled (not .Values.controller.enabled) (not .Values.registration.controllerUrl) }}
{{- fail "registration.enabled with controller.enabled false needs registration.controllerUrl: the controller the agents register with" }}
{{- end }}
{{- if and (gt (int .Values.controller.replicas) 1) (not .Values.controller.leaderElection.enabled) }}
{{- fail "controller.replicas > 1 needs controller.leaderElection.enabled: two active controllers would both arm agents" }}
{{- end }}
{{- end }}
