// The module's configuration (authsettingsV2) for the tests.

export const EXCLUDED_PATHS = ['/public/*', '/health'];
export const ALLOWED_EXTERNAL = 'https://allowed.example';

/**
 * opts:
 *   provider     'testidp' (custom OpenID Connect, default) or 'aad' (azureActiveDirectory)
 *   wellKnown    discovery URL for testidp
 *   issuer       openIdIssuer for aad
 *   tokenDir     file token store directory
 *   tokenStore   false to disable the token store
 *   action       unauthenticatedClientAction (default RedirectToLoginPage)
 */
export function testConfig({
  provider = 'testidp',
  wellKnown,
  issuer,
  tokenDir,
  tokenStore = true,
  action = 'RedirectToLoginPage',
} = {}) {
  const identityProviders = {};
  if (provider === 'aad') {
    identityProviders.azureActiveDirectory = {
      enabled: true,
      registration: {
        openIdIssuer: issuer,
        clientId: 'ezauth-test',
        clientSecretSettingName: 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET',
      },
      login: { loginParameters: ['scope=openid profile email offline_access'] },
    };
  } else {
    identityProviders.customOpenIdConnectProviders = {
      testidp: {
        enabled: true,
        registration: {
          clientId: 'ezauth-test',
          clientCredential: { method: 'ClientSecretPost', clientSecretSettingName: 'TESTIDP_AUTHENTICATION_SECRET' },
          openIdConnectConfiguration: { wellKnownOpenIdConfiguration: wellKnown },
        },
        login: { nameClaimType: 'name', scopes: ['openid', 'profile', 'email', 'offline_access'] },
      },
    };
  }
  return {
    platform: { enabled: true },
    globalValidation: {
      requireAuthentication: true,
      unauthenticatedClientAction: action,
      redirectToProvider: provider,
      excludedPaths: [...EXCLUDED_PATHS],
    },
    identityProviders,
    login: {
      tokenStore: tokenStore ? { enabled: true, fileSystem: { directory: tokenDir } } : { enabled: false },
      allowedExternalRedirectUrls: [ALLOWED_EXTERNAL],
    },
    httpSettings: { requireHttps: false },
    ezauth: { httpTimeoutSeconds: 3, httpConnectTimeoutSeconds: 2 },
  };
}
