{{/* Names, labels and the checks every template shares. */}}

{{- define "sg.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sg.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway") */}}
{{- define "sg.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sg.engineName" -}}
{{ include "sg.fullname" .root }}-engine-{{ .pool.name }}
{{- end -}}

{{- define "sg.redisName" -}}
{{ include "sg.fullname" . }}-redis
{{- end -}}

{{/* Fails the render when a destination lies outside the allowed jurisdictions:
     (dict "root" $ "what" "pool x" "jurisdiction" "DE") */}}
{{- define "sg.requireAllowed" -}}
{{- if not (has .jurisdiction .root.Values.allowedJurisdictions) -}}
{{- fail (printf "%s is in %s, outside allowedJurisdictions %v: refusing to render" .what .jurisdiction .root.Values.allowedJurisdictions) -}}
{{- end -}}
{{- end -}}

{{/* The launch profile of a pool (files/profiles.yaml, generated from serving/profiles.py). */}}
{{- define "sg.profile" -}}
{{- $profiles := .root.Files.Get "files/profiles.yaml" | fromYaml -}}
{{- $profile := index $profiles .pool.profile -}}
{{- if not $profile -}}
{{- fail (printf "pool %s: unknown profile %s; known: %s" .pool.name .pool.profile (keys $profiles | sortAlpha | join ", ")) -}}
{{- end -}}
{{- toYaml $profile -}}
{{- end -}}

{{- define "sg.redisUrl" -}}
{{- if .Values.redis.enabled -}}
redis://{{ include "sg.redisName" . }}.{{ .Release.Namespace }}.svc.{{ .Values.cluster.domain }}:{{ .Values.redis.port }}/0
{{- else -}}
{{- required "redis.external.url is required when redis.enabled is false" .Values.redis.external.url -}}
{{- end -}}
{{- end -}}
