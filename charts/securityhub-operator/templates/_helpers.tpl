{{/* Chart name, truncated to the 63 characters a label value may hold. */}}
{{- define "securityhub-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: the release name, plus the chart name unless the release name already contains it. */}}
{{- define "securityhub-operator.fullname" -}}
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

{{- define "securityhub-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator pods; never change them between releases. */}}
{{- define "securityhub-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "securityhub-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "securityhub-operator.labels" -}}
helm.sh/chart: {{ include "securityhub-operator.chart" . }}
{{ include "securityhub-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: securityhub-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Annotations every object gets (the optional Argo CD sync wave). */}}
{{- define "securityhub-operator.commonAnnotations" -}}
{{- if ne (toString .Values.argocd.syncWave) "" }}
argocd.argoproj.io/sync-wave: {{ toString .Values.argocd.syncWave | quote }}
{{- end }}
{{- end }}

{{- define "securityhub-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "securityhub-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "securityhub-operator.leaseName" -}}
{{- default (include "securityhub-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "securityhub-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The AWS_REGION the SDK gets: aws.region, else the first managed region. */}}
{{- define "securityhub-operator.awsRegion" -}}
{{- default (first .Values.regions) .Values.aws.region }}
{{- end }}

{{/*
The rules the operator needs on SecurityHubMembers and Events, shared by the ClusterRole and the per-namespace Roles.
Nothing else: no Secrets, no wildcards.
*/}}
{{- define "securityhub-operator.memberRules" -}}
- apiGroups: ["securityhub.operator.dev"]
  resources: ["securityhubmembers"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["securityhub.operator.dev"]
  resources: ["securityhubmembers/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["securityhub.operator.dev"]
  resources: ["securityhubmembers/finalizers"]
  verbs: ["update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
