{{/* The chart's name, or nameOverride. */}}
{{- define "nebula-resource.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, or the release
name when it already holds the chart's name, else release-chart.
*/}}
{{- define "nebula-resource.fullname" -}}
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

{{/* The selector labels: what the Service, the PodDisruptionBudget and the ServiceMonitor select. */}}
{{- define "nebula-resource.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nebula-resource.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of every object. */}}
{{- define "nebula-resource.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nebula-resource.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nebula-resource
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "nebula-resource.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nebula-resource.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret of the credentials: credentials.existingSecret, or the chart's. */}}
{{- define "nebula-resource.secretName" -}}
{{- default (printf "%s-credentials" (include "nebula-resource.fullname" .)) .Values.credentials.existingSecret }}
{{- end }}

{{/* Where the Secret's keys are files. */}}
{{- define "nebula-resource.secretsDir" -}}
/var/run/secrets/nebula
{{- end }}
