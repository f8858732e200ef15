// The function app on Flex Consumption (Linux, Node 22), running as the user-assigned identity.
// App settings hold no key and no connection string with a secret: every connection is
// identity-based, and a setting that must carry a secret is a Key Vault reference.
param name string
param planName string
param location string
param tags object = {}
@description('azd service name from azure.yaml; azd finds the app by this tag.')
param serviceName string = 'api'
param identityId string
param identityClientId string
param storageAccountName string
param storageBlobEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param serviceBusFullyQualifiedNamespace string
param keyVaultUri string
param applicationInsightsConnectionString string
@description('Microsoft Graph base URL, without version.')
param graphBaseUrl string = 'https://graph.microsoft.com'
@description('Microsoft Entra authority host for the app tokens in customer tenants.')
param authorityHost string = environment().authentication.loginEndpoint
@description('Base URL of the Teams admin bridge; empty leaves the setting unset.')
param teamsBridgeUrl string = ''
param maximumInstanceCount int = 40
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings resolve with this identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // Node 20 left support on 2026-04-30; the code itself still runs on 20 (engines: >=20).
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Every setting in SETTINGS (shared/config/settings.ts) that is not local-only, plus what the host
// needs for identity-based connections. test/infra checks this object against SETTINGS.
// A secret goes in as a Key Vault reference, never as a value (pass the vault name in):
//   SOME_SECRET: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=some-secret)'
var appSettings = {
  // Functions host storage: timers, Durable task hub (AzureStorage provider), deployment.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Service Bus triggers and senders use the connection named ServiceBusConnection.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId

  // SDK clients in the code (Tables, Service Bus, Key Vault) use DefaultAzureCredential with this identity.
  AZURE_CLIENT_ID: identityClientId
  SITESYNC_TABLES_ENDPOINT: storageTableEndpoint
  SITESYNC_KEY_VAULT_URL: keyVaultUri
  SITESYNC_WEBHOOK_BASE_URL: 'https://${site.properties.defaultHostName}'
  SITESYNC_GRAPH_BASE_URL: graphBaseUrl
  SITESYNC_AUTHORITY_HOST: authorityHost
  // Provisioning work standing still this long is sent again by the reconciler timer.
  SITESYNC_RECONCILE_AFTER_SECONDS: '1200'
  // A customer's sync hand-offs in the provisioning queue at once; the rest wait their turn.
  SITESYNC_HANDOFF_WINDOW: '32'

  // The host passes these arguments to the Node.js worker it starts. Stack traces name the TypeScript source
  // (dist/app.js.map ships with the bundle); the heap limit keeps V8 collecting before it grows past what the
  // app holds live, so an instance stays within 512 MB (the local instances use the same limit).
  languageWorkers__node__arguments: '--enable-source-maps --max-old-space-size=384'

  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Settings set only when given a value: an empty string would fail the app's URL validation.
var optionalAppSettings = {
  SITESYNC_TEAMS_BRIDGE_URL: teamsBridgeUrl
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, toObject(filter(items(optionalAppSettings), s => !empty(s.value)), s => s.key, s => s.value))
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
