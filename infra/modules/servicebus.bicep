// Service Bus namespace and every queue the code uses. The queue list mirrors ALL_QUEUES in
// shared/config/queues.ts; test/infra checks that they agree. Standard tier: duplicate detection
// (MessageId as the idempotency key) is not available on Basic.
param name string
param location string
param tags object = {}
@description('Log Analytics workspace that receives the namespace metrics (dead-lettered and active counts).')
param logAnalyticsWorkspaceId string

// name, maxDeliveryCount, lockDuration and duplicateDetectionWindow (omit it to turn detection off).
var queues = [
  {
    name: 'user-provisioning'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    duplicateDetectionWindow: 'PT10M'
  }
  {
    name: 'number-checks'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    duplicateDetectionWindow: 'PT10M'
  }
  {
    name: 'graph-notifications'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    duplicateDetectionWindow: 'PT10M'
  }
  {
    name: 'user-events'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    duplicateDetectionWindow: 'P1D'
  }
]

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Identity only: no SAS keys exist to leak.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [
  for q in queues: {
    parent: namespace
    name: q.name
    properties: {
      maxDeliveryCount: q.maxDeliveryCount
      lockDuration: q.lockDuration
      requiresDuplicateDetection: q.?duplicateDetectionWindow != null
      duplicateDetectionHistoryTimeWindow: q.?duplicateDetectionWindow
      deadLetteringOnMessageExpiration: true
      enablePartitioning: false
      requiresSession: false
    }
  }
]

// Namespace metrics in Log Analytics (AzureMetrics), for the dead-letter query in docs/deploy.md.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'metrics-to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = namespace.name
// serviceBusEndpoint is 'https://<name>.<suffix>:443/'; taking the host keeps sovereign clouds right.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
