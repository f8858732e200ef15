// Holds each customer's app credential (client secret or certificate for the multi-tenant app
// registration). RBAC mode: the app reads secrets as Key Vault Secrets User; operators who onboard
// customers write them as Key Vault Secrets Officer (see rbac.bicep).
param name string
param location string
param tags object = {}
@description('Purge protection cannot be turned off once on; enable it for production vaults.')
param enablePurgeProtection bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // null leaves the property unset; false is rejected by the service once it was ever true.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
