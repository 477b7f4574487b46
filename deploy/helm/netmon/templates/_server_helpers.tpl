{{/*
Labels that select netmon-server's pods (component: server, so the agent's
selector never matches them).
*/}}
{{- define "netmon.serverSelectorLabels" -}}
app.kubernetes.io/name: {{ include "netmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/*
Labels of netmon-server's objects.
*/}}
{{- define "netmon.serverLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "netmon.serverSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: netmon
{{- end }}
