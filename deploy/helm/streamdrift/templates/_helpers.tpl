{{- define "streamdrift.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "streamdrift.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "streamdrift.labels" -}}
app.kubernetes.io/name: {{ include "streamdrift.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "streamdrift.selector" -}}
app.kubernetes.io/name: {{ include "streamdrift.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "streamdrift.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "streamdrift.secretName" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" (include "streamdrift.fullname" .)) -}}
{{- end -}}

{{- define "streamdrift.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "streamdrift.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Environment of both planes: the credentials from the Secret (absent keys are skipped). */}}
{{- define "streamdrift.env" -}}
- name: STREAMDRIFT_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "streamdrift.secretName" . }}, key: sasl-password, optional: true}
- name: STREAMDRIFT_WEB_AUTH_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "streamdrift.secretName" . }}, key: web-auth-token, optional: true}
{{- end -}}

{{- define "streamdrift.volumeMounts" -}}
- {name: settings, mountPath: /etc/streamdrift/streamdrift.yaml, subPath: streamdrift.yaml, readOnly: true}
- {name: tmp, mountPath: /tmp}
{{- if .Values.tls.secretName }}
- {name: tls, mountPath: /etc/streamdrift/tls, readOnly: true}
{{- end }}
{{- end -}}

{{- define "streamdrift.volumes" -}}
- name: settings
  configMap: {name: {{ include "streamdrift.fullname" . }}-settings}
- name: tmp
  emptyDir: {}
{{- if .Values.tls.secretName }}
- name: tls
  secret: {secretName: {{ .Values.tls.secretName }}, defaultMode: 0440}
{{- end }}
{{- end -}}

{{- define "streamdrift.probes" -}}
livenessProbe:
  httpGet: {path: /health, port: {{ .port }}}
  {{- toYaml .probes.liveness | nindent 2 }}
readinessProbe:
  httpGet: {path: /health, port: {{ .port }}}
  {{- toYaml .probes.readiness | nindent 2 }}
{{- end -}}
