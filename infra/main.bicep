targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; with the subscription and location it seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person (or group) who deploys and onboards customers; may write customer credentials to Key Vault. Empty to skip.')
param principalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Turn on for production: a purge-protected vault cannot be purged for its retention period.')
param keyVaultPurgeProtection bool = false

@description('Base URL of the Teams admin bridge (Teams PowerShell cmdlets Graph lacks); empty to leave unset.')
param teamsBridgeUrl string = ''

@description('Upper bound on Flex Consumption instances; it also bounds concurrent Graph calls.')
param maximumInstanceCount int = 40

// Optional name overrides; empty means the generated name.
@description('Client id of the operators\' Entra app registration: when set, the console at /console sits behind App Service Authentication (Entra ID sign-in). Without it the deployed console refuses to serve.')
param consoleClientId string = ''

@description('Object id of an Entra group whose members may use the console (empty: anyone the app registration lets in).')
param consoleOperatorsGroupId string = ''

param resourceGroupName string = ''
param functionAppName string = ''
param storageAccountName string = ''
param serviceBusNamespaceName string = ''
param keyVaultName string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}sitesync-${resourceToken}'
// Container names: 3-63 lowercase letters, digits and hyphens.
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}sitesync-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    // Storage account names: 3-24 lowercase letters and digits.
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: !empty(serviceBusNamespaceName) ? serviceBusNamespaceName : '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    // Vault names: 3-24 characters.
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: appName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    teamsBridgeUrl: teamsBridgeUrl
  }
  // The host starts as soon as the site exists; give it its roles first.
  dependsOn: [
    rbac
  ]
}

// azd stores these in the environment (.azure/<env>/.env).
module consoleAuth 'modules/consoleauth.bicep' = if (!empty(consoleClientId)) {
  name: 'console-auth'
  scope: rg
  params: {
    siteName: api.outputs.name
    clientId: consoleClientId
    allowedGroupIds: empty(consoleOperatorsGroupId) ? [] : [consoleOperatorsGroupId]
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output SERVICE_CONSOLE_URI string = '${api.outputs.uri}/console/'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName
