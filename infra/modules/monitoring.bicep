// Log Analytics workspace and a workspace-based Application Insights component. Local (key)
// authentication is off: the app sends telemetry with its managed identity
// (Monitoring Metrics Publisher, see rbac.bicep).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
// The connection string only names the ingestion endpoint; with local auth disabled it grants nothing.
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsName string = logAnalytics.name
output logAnalyticsId string = logAnalytics.id
