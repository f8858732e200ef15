// App Service Authentication (Entra ID sign-in) in front of the operator's console.
// Every path needs a signed-in operator except the API under /api: its routes keep their function keys,
// Graph's webhooks authenticate with clientState, and the health probe stays open. No client secret is
// stored: sign-in uses the OpenID Connect implicit flow (the app registration issues ID tokens).

@description('Name of the function app.')
param siteName string

@description('Client id of the operators\' app registration (in the provider\'s own tenant).')
param clientId string

@description('Tenant of that app registration.')
param tenantId string = tenant().tenantId

@description('Object ids of Entra groups whose members may sign in; empty lets every user of the tenant assigned to the app in.')
param allowedGroupIds array = []

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [
        '/api/*'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    login: {
      tokenStore: {
        enabled: false
      }
      preserveUrlFragmentsForLogins: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
          defaultAuthorizationPolicy: empty(allowedGroupIds) ? null : {
            allowedPrincipals: {
              groups: allowedGroupIds
            }
          }
        }
      }
    }
  }
}
