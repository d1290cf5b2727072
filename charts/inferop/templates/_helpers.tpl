{{/*
Names and labels shared by every template. Nothing here renders an object.
*/}}

{{/* The chart name, or .Values.nameOverride. */}}
{{- define "inferop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the operator's namespaced objects (Deployment, ServiceAccount, Service) and the prefix of
its cluster-scoped ones: the release name when it already contains the chart name ("inferop"),
else "<release>-inferop".
*/}}
{{- define "inferop.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "inferop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object the chart renders. */}}
{{- define "inferop.labels" -}}
helm.sh/chart: {{ include "inferop.chart" . }}
{{ include "inferop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: inferop
{{- end }}

{{/* The operator pod's identity: the Deployment selector and the metrics Service selector. */}}
{{- define "inferop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inferop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "inferop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "inferop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when image.digest is set. */}}
{{- define "inferop.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
"true" when the inferop.dev API can take the chart's own custom resources (the default CostPolicy,
GPUClasses) in this install/upgrade. Helm maps every object of a release to an API before it creates
any, so a CostPolicy cannot be created in the same `helm install` that creates its CRD: with
crds.install=true on a cluster without the CRDs, the custom resources are left out and NOTES.txt says
to run `helm upgrade` once. With crds.install=false the CRDs are the installer's job and the custom
resources are always rendered.
*/}}
{{- define "inferop.customResourcesServed" -}}
{{- $served := and (.Capabilities.APIVersions.Has "inferop.dev/v1alpha1/CostPolicy") (.Capabilities.APIVersions.Has "inferop.dev/v1alpha1/GPUClass") }}
{{- if or (not .Values.crds.install) $served }}true{{- end }}
{{- end }}

{{/* Names of the custom resources the chart would create but left out (see above), one per line. */}}
{{- define "inferop.deferredCustomResources" -}}
{{- if not (include "inferop.customResourcesServed" .) }}
{{- if .Values.costPolicy.install }}
CostPolicy/{{ .Values.costPolicy.name }}
{{- end }}
{{- range $name, $_ := .Values.gpuClasses }}
GPUClass/{{ $name }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The activator (inferop activator, docs/activator.md): its own name label, so that neither the
operator's Deployment nor its metrics Service ever selects an activator pod.
*/}}
{{- define "inferop.activatorName" -}}
{{- printf "%s-activator" (include "inferop.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "inferop.activatorSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-activator" (include "inferop.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "inferop.activatorLabels" -}}
helm.sh/chart: {{ include "inferop.chart" . }}
{{ include "inferop.activatorSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: inferop
app.kubernetes.io/component: activator
{{- end }}

{{- define "inferop.activatorServiceAccountName" -}}
{{- if .Values.activator.serviceAccount.create }}
{{- default (include "inferop.activatorName" .) .Values.activator.serviceAccount.name }}
{{- else }}
{{- required "activator.serviceAccount.name is required when activator.serviceAccount.create is false" .Values.activator.serviceAccount.name }}
{{- end }}
{{- end }}
