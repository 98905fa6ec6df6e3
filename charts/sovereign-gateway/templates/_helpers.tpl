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

{{/* store.redis_url (gateway/core/redis_url.py): the in-chart Redis, or the external one's
     mode (single | cluster | sentinel). Without credentials: with redis.external.passwordSecret
     the Deployment sets the URL with them (sg.redisUrlWithPassword), from the Secret. */}}
{{- define "sg.redisUrl" -}}
{{- include "sg.redisUrlFor" (dict "root" . "userinfo" "") -}}
{{- end -}}

{{- define "sg.redisUrlWithPassword" -}}
{{- $e := .Values.redis.external -}}
{{- include "sg.redisUrlFor" (dict "root" . "userinfo" (printf "%s:$(SG_REDIS_PASSWORD)@" ($e.username | default ""))) -}}
{{- end -}}

{{- define "sg.redisUrlFor" -}}
{{- $v := .root.Values -}}
{{- $e := $v.redis.external -}}
{{- if $v.redis.enabled -}}
redis://{{ include "sg.redisName" .root }}.{{ .root.Release.Namespace }}.svc.{{ $v.cluster.domain }}:{{ $v.redis.port }}/0
{{- else -}}
{{- $mode := $e.mode | default "single" -}}
{{- $tls := $e.tls | default dict -}}
{{- $query := list -}}
{{- if and $tls.enabled ($tls.caSecret | default dict).name -}}
{{- $query = append $query "ssl_ca_certs=/etc/sovereign-redis-tls/ca.crt" -}}
{{- end -}}
{{- if and $tls.enabled (eq ($tls.verify | toString) "false") -}}
{{- $query = append $query "ssl_cert_reqs=none" -}}
{{- end -}}
{{- if eq $mode "single" -}}
{{- $url := required "redis.external.url is required when redis.enabled is false" $e.url -}}
{{- $url = regexReplaceAll "^(rediss?://)" $url (printf "${1}%s" .userinfo) -}}
{{- if $query -}}{{ $url }}{{ ternary "&" "?" (contains "?" $url) }}{{ join "&" $query }}{{- else -}}{{ $url }}{{- end -}}
{{- else -}}
{{- if not $e.nodes -}}{{- fail (printf "redis.external.nodes is required in mode %s" $mode) -}}{{- end -}}
{{- $scheme := printf "%s+%s" (ternary "rediss" "redis" (default false $tls.enabled)) $mode -}}
{{- $path := "" -}}
{{- if eq $mode "sentinel" -}}
{{- $path = printf "/%s/%d" (required "redis.external.service is required in mode sentinel" $e.service) (int ($e.db | default 0)) -}}
{{- end -}}
{{ $scheme }}://{{ .userinfo }}{{ join "," $e.nodes }}{{ $path }}{{ if $query }}?{{ join "&" $query }}{{ end }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ports the gateway reaches an external Redis on: redis.port and the nodes' ports. */}}
{{- define "sg.redisPorts" -}}
{{- $ports := list (int .Values.redis.port) -}}
{{- if ne (.Values.redis.external.mode | default "single") "single" -}}
{{- range .Values.redis.external.nodes -}}
{{- $ports = append $ports (int (regexReplaceAll "^.*:" . "")) -}}
{{- end -}}
{{- end -}}
{{- $ports | uniq | toJson -}}
{{- end -}}

{{/* A pool's text watermark (gateway/upstream/watermark.py): off | on | client. YAML 1.1
     reads a bare on/off as a boolean, so true and false are taken for "on" and "off". */}}
{{- define "sg.poolWatermark" -}}
{{- $mode := .watermark | default "off" -}}
{{- if kindIs "bool" .watermark -}}{{- $mode = ternary "on" "off" .watermark -}}{{- end -}}
{{- $mode -}}
{{- end -}}

{{/* The pools that mark answers; fails when one does without watermark.enabled. */}}
{{- define "sg.markingPools" -}}
{{- $marking := list -}}
{{- range $pool := .Values.engines.pools -}}
{{- if ne (include "sg.poolWatermark" $pool) "off" -}}
{{- $marking = append $marking $pool.name -}}
{{- end -}}
{{- end -}}
{{- if and $marking (not .Values.watermark.enabled) -}}
{{- fail (printf "pools %v mark answers (watermark: on|client): set watermark.enabled and watermark.existingSecret" $marking) -}}
{{- end -}}
{{- $marking | toJson -}}
{{- end -}}

{{/* The model whose tokenizer.json the gateway's watermark detector reads: watermark.tokenizerModel,
     else the model of the first pool that marks, else of the first pool. */}}
{{- define "sg.watermarkModel" -}}
{{- $w := .Values.watermark -}}
{{- if $w.tokenizerModel -}}
{{- $w.tokenizerModel -}}
{{- else -}}
{{- $marking := include "sg.markingPools" . | fromJsonArray -}}
{{- $chosen := dict -}}
{{- range $pool := .Values.engines.pools -}}
{{- if and (not $chosen) (or (has $pool.name $marking) (not $marking)) -}}
{{- $chosen = $pool -}}
{{- end -}}
{{- end -}}
{{- if not $chosen -}}
{{- fail "watermark.tokenizerModel is required without engine pools (the model folder whose tokenizer.json the gateway's detector reads)" -}}
{{- end -}}
{{- (include "sg.profile" (dict "root" . "pool" $chosen) | fromYaml).model -}}
{{- end -}}
{{- end -}}

{{/* The provenance default (on | off; a YAML 1.1 boolean taken as such). */}}
{{- define "sg.provenanceDefault" -}}
{{- $d := .Values.provenance.default -}}
{{- if kindIs "bool" $d -}}{{- ternary "on" "off" $d -}}{{- else -}}{{- $d | default "off" -}}{{- end -}}
{{- end -}}

{{/* Where the engines' watermark processor's code is mounted (the ConfigMap holds the package
     `serving` with serving/watermark_scheme.py and serving/watermark_processor.py). */}}
{{- define "sg.watermarkCodeDir" -}}/opt/sovereign-watermark{{- end -}}
