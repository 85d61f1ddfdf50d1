{{/* Chart name. */}}
{{- define "pg-kafka-cdc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "pg-kafka-cdc.fullname" -}}
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

{{- define "pg-kafka-cdc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pg-kafka-cdc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pg-kafka-cdc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pg-kafka-cdc.labels" -}}
helm.sh/chart: {{ include "pg-kafka-cdc.chart" . }}
{{ include "pg-kafka-cdc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "pg-kafka-cdc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pg-kafka-cdc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the secretEnv keys are read from. */}}
{{- define "pg-kafka-cdc.secretName" -}}
{{- default (include "pg-kafka-cdc.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "pg-kafka-cdc.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* worker.json, as a dict: secrets stay out, only *_env references. */}}
{{- define "pg-kafka-cdc.workerConfig" -}}
{{- $kafka := dict "brokers" .Values.kafka.brokers }}
{{- with .Values.kafka.client_id }}{{ $_ := set $kafka "client_id" . }}{{ end }}
{{- if hasKey .Values.kafka "ssl" }}{{ $_ := set $kafka "ssl" .Values.kafka.ssl }}{{ end }}
{{- with .Values.kafka.sasl }}{{ $_ := set $kafka "sasl" . }}{{ end }}
{{- $worker := dict "kafka" $kafka "http" (dict "host" "0.0.0.0" "port" .Values.http.port) "connectors_dir" "connectors" }}
{{- with .Values.database }}{{ $_ := set $worker "database" . }}{{ end }}
{{- with .Values.postgres }}{{ $_ := set $worker "postgres" . }}{{ end }}
{{- with .Values.log }}{{ $_ := set $worker "log" . }}{{ end }}
{{- toPrettyJson $worker }}
{{- end }}
