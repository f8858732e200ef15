// The one identity the function app uses for everything: host storage, Tables, Service Bus,
// Key Vault and Application Insights ingestion. User-assigned so role assignments exist before
// the app does, and so its client id can be written into app settings.
param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
