{{/* Names ------------------------------------------------------------------------------- */}}

{{- define "cfgeo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cfgeo.fullname" -}}
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

{{- define "cfgeo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cfgeo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cfgeo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cfgeo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cfgeo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cfgeo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cfgeo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Switches: each prints "true" or nothing ------------------------------------------------ */}}

{{- define "cfgeo.geoEnabled" -}}
{{- if .Values.geo.location }}true{{ end }}
{{- end }}

{{- define "cfgeo.recordsEnabled" -}}
{{- if .Values.records.sources }}true{{ end }}
{{- end }}

{{/* Leader election: explicit true/false wins; null means "on when replicas > 1". */}}
{{- define "cfgeo.leaderElection" -}}
{{- $le := .Values.leaderElection.enabled }}
{{- if kindIs "bool" $le }}{{ if $le }}true{{ end }}
{{- else if gt (int .Values.replicas) 1 }}true
{{- end }}
{{- end }}

{{- define "cfgeo.leaseName" -}}
{{- default (include "cfgeo.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "cfgeo.pdbEnabled" -}}
{{- $p := .Values.podDisruptionBudget.enabled }}
{{- if kindIs "bool" $p }}{{ if $p }}true{{ end }}
{{- else if gt (int .Values.replicas) 1 }}true
{{- end }}
{{- end }}

{{- define "cfgeo.crdsInstall" -}}
{{- $c := .Values.crds.install }}
{{- if kindIs "bool" $c }}{{ if $c }}true{{ end }}
{{- else if has "crd" .Values.records.sources }}true
{{- end }}
{{- end }}

{{- define "cfgeo.secretName" -}}
{{- if .Values.cloudflare.apiToken.create }}
{{- default (printf "%s-cloudflare" (include "cfgeo.fullname" .)) .Values.cloudflare.apiToken.secretName }}
{{- else }}
{{- .Values.cloudflare.apiToken.existingSecret }}
{{- end }}
{{- end }}

{{/* The record sources cfgeo knows, in flag order. */}}
{{- define "cfgeo.allSources" -}}
ingress service gateway-httproute gateway-grpcroute gateway-tlsroute gateway-tcproute gateway-udproute crd
{{- end }}

{{/* Sources whose permissions the ClusterRole grants, space-separated. */}}
{{- define "cfgeo.rbacSources" -}}
{{- if .Values.rbac.grantAllSources }}
{{- include "cfgeo.allSources" . }}
{{- else }}
{{- join " " .Values.records.sources }}
{{- end }}
{{- end }}

{{/* Checks that fail the render with a message naming the value at fault. */}}
{{- define "cfgeo.validate" -}}
{{- $all := splitList " " (include "cfgeo.allSources" .) }}
{{- range .Values.records.sources }}
{{- if not (has . $all) }}
{{- fail (printf "records.sources: unknown source %q; valid: %s" . (join ", " $all)) }}
{{- end }}
{{- end }}
{{- if ne (len (uniq .Values.records.sources)) (len .Values.records.sources) }}
{{- fail (printf "records.sources: %s lists a source twice" (join "," .Values.records.sources)) }}
{{- end }}
{{- if not (or (include "cfgeo.geoEnabled" .) (include "cfgeo.recordsEnabled" .)) }}
{{- fail "nothing to run: set geo.location (the geo engine) and/or records.sources (the record synchronizer)" }}
{{- end }}
{{- if include "cfgeo.geoEnabled" . }}
{{- if not .Values.geo.lbHostname }}
{{- fail "geo.lbHostname (CF_LB_HOSTNAME) is required with the geo engine (geo.location is set)" }}
{{- end }}
{{- if not (and .Values.cloudflare.accountId .Values.cloudflare.zoneId) }}
{{- fail "cloudflare.accountId and cloudflare.zoneId are required with the geo engine (geo.location is set)" }}
{{- end }}
{{- end }}
{{- if and .Values.records.txtPrefix .Values.records.txtSuffix }}
{{- fail "records.txtPrefix and records.txtSuffix exclude each other (as in external-dns)" }}
{{- end }}
{{- $t := .Values.cloudflare.apiToken }}
{{- if $t.create }}
{{- if not $t.value }}
{{- fail "cloudflare.apiToken.create is true but cloudflare.apiToken.value is empty" }}
{{- end }}
{{- else if not $t.existingSecret }}
{{- fail "cloudflare.apiToken: set existingSecret (a Secret holding the token under key cloudflare.apiToken.key, default apiToken), or create=true with value" }}
{{- end }}
{{- if not $t.key }}
{{- fail "cloudflare.apiToken.key must not be empty" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not (include "cfgeo.leaderElection" .)) }}
{{- fail (printf "replicas is %d but leaderElection.enabled is false: two pods would write to Cloudflare at once; enable leader election or use one replica" (int .Values.replicas)) }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "serviceMonitor.enabled needs service.enabled" }}
{{- end }}
{{- end }}

{{/*
The settings ConfigMap's data: a YAML map of variable to string. Empty values ("", null, [])
are left out so that cfgeo's own defaults apply; lists are joined with commas.
*/}}
{{- define "cfgeo.settings" -}}
{{- $e := dict }}
{{- $c := .Values.cloudflare }}
{{- $_ := set $e "CFGEO_OWNER_ID" .Values.ownerId }}
{{- $_ := set $e "CFGEO_LOG_FORMAT" .Values.log.format }}
{{- $_ := set $e "CFGEO_LOG_LEVEL" .Values.log.level }}
{{- $_ := set $e "CF_ACCOUNT_ID" $c.accountId }}
{{- $_ := set $e "CF_ZONE_ID" $c.zoneId }}
{{- $_ := set $e "CF_API_BASE_URL" $c.apiBaseUrl }}
{{- $_ := set $e "CF_RATE_LIMIT" $c.rateLimit }}
{{- $_ := set $e "CF_RATE_WINDOW_SECS" $c.rateWindowSecs }}
{{- $_ := set $e "CF_TIMEOUT_SECS" $c.timeoutSecs }}
{{- if include "cfgeo.geoEnabled" . }}
{{- $g := .Values.geo }}
{{- $_ := set $e "GEO_LOCATION" $g.location }}
{{- $_ := set $e "GEO_LATITUDE" $g.latitude }}
{{- $_ := set $e "GEO_LONGITUDE" $g.longitude }}
{{- $_ := set $e "LABEL_SELECTOR" $g.labelSelector }}
{{- $_ := set $e "CF_LB_HOSTNAME" $g.lbHostname }}
{{- $_ := set $e "CF_ORIGIN_WEIGHT" $g.originWeight }}
{{- $_ := set $e "CFGEO_GEO_DRAIN" $g.drain }}
{{- $_ := set $e "CFGEO_MONITOR" $g.monitor.mode }}
{{- $_ := set $e "CFGEO_MONITOR_TYPE" $g.monitor.type }}
{{- $_ := set $e "CFGEO_MONITOR_PATH" $g.monitor.path }}
{{- $_ := set $e "CFGEO_MONITOR_EXPECTED_CODES" $g.monitor.expectedCodes }}
{{- $_ := set $e "CFGEO_MONITOR_INTERVAL" $g.monitor.interval }}
{{- $_ := set $e "CFGEO_LB_STEERING_POLICY" $g.steeringPolicy }}
{{- $_ := set $e "CFGEO_LB_PROXIED" $g.proxied }}
{{- $_ := set $e "CFGEO_GEO_REMOVAL_DELAY_SECS" $g.removalDelaySecs }}
{{- $_ := set $e "CFGEO_GEO_RESYNC_SECS" $g.resyncSecs }}
{{- end }}
{{- if include "cfgeo.recordsEnabled" . }}
{{- $r := .Values.records }}
{{- $_ := set $e "CFGEO_SOURCES" $r.sources }}
{{- $_ := set $e "CFGEO_POLICY" $r.policy }}
{{- $_ := set $e "CFGEO_TXT_OWNER_ID" $r.txtOwnerId }}
{{- $_ := set $e "CFGEO_TXT_PREFIX" $r.txtPrefix }}
{{- $_ := set $e "CFGEO_TXT_SUFFIX" $r.txtSuffix }}
{{- $_ := set $e "CFGEO_TXT_WILDCARD_REPLACEMENT" $r.txtWildcardReplacement }}
{{- $_ := set $e "CFGEO_DOMAIN_FILTER" $r.domainFilters }}
{{- $_ := set $e "CFGEO_EXCLUDE_DOMAINS" $r.excludeDomains }}
{{- $_ := set $e "CFGEO_REGEX_DOMAIN_FILTER" $r.regexDomainFilter }}
{{- $_ := set $e "CFGEO_REGEX_DOMAIN_EXCLUSION" $r.regexDomainExclusion }}
{{- $_ := set $e "CFGEO_ZONE_ID_FILTER" $r.zoneIdFilters }}
{{- $_ := set $e "CFGEO_MANAGED_RECORD_TYPES" $r.managedRecordTypes }}
{{- $_ := set $e "CFGEO_CLOUDFLARE_PROXIED" $r.cloudflareProxied }}
{{- $_ := set $e "CFGEO_CLOUDFLARE_RECORD_COMMENT" $r.cloudflareRecordComment }}
{{- $_ := set $e "CFGEO_BATCH_CHANGE_SIZE" $r.batchChangeSize }}
{{- $_ := set $e "CFGEO_INTERVAL" $r.interval }}
{{- $_ := set $e "CFGEO_DRY_RUN" $r.dryRun }}
{{- $_ := set $e "CFGEO_LABEL_FILTER" $r.labelFilter }}
{{- $_ := set $e "CFGEO_ANNOTATION_FILTER" $r.annotationFilter }}
{{- $_ := set $e "CFGEO_NAMESPACE" $r.namespace }}
{{- $_ := set $e "CFGEO_INGRESS_CLASS" $r.ingressClasses }}
{{- $_ := set $e "CFGEO_GATEWAY_LABEL_FILTER" $r.gatewayLabelFilter }}
{{- $_ := set $e "CFGEO_ANNOTATION_PREFIX" $r.annotationPrefixes }}
{{- end }}
{{- range $k, $v := $e }}
{{- if kindIs "slice" $v }}
{{- if $v }}
{{ $k }}: {{ join "," $v | quote }}
{{- end }}
{{- else if kindIs "bool" $v }}
{{ $k }}: {{ ternary "true" "false" $v | quote }}
{{- else if kindIs "float64" $v }}
{{ $k }}: {{ ternary (printf "%d" (int64 $v)) (toString $v) (eq $v (floor $v)) | quote }}
{{- else if not (kindIs "invalid" $v) }}
{{- if ne (toString $v) "" }}
{{ $k }}: {{ toString $v | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
