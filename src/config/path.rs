//! JSON paths as configuration errors and warnings name them
//! (`identityProviders.azureActiveDirectory.registration.clientId`,
//! `login.allowedExternalRedirectUrls[2]`): built from parts, so every place that names a
//! setting spells its path the same way (tests and operators match these strings exactly).

use std::fmt;
use std::ops::Deref;

/// A dotted JSON path; derefs to the `&str` a [`super::ConfigError`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(String);

impl JsonPath {
    /// A path starting at a top-level key (`login`), or at several dotted keys
    /// (`identityProviders.azureActiveDirectory`).
    pub fn root(key: &str) -> JsonPath {
        JsonPath(key.to_owned())
    }

    /// The member `key` of this object (`.key`). Keys are written as they are: a custom
    /// provider's name may hold only letters, digits and `_`, so no quoting is needed.
    pub fn key(&self, key: &str) -> JsonPath {
        JsonPath(format!("{}.{key}", self.0))
    }

    /// The element `i` of this array (`[i]`).
    pub fn index(&self, i: usize) -> JsonPath {
        JsonPath(format!("{}[{i}]", self.0))
    }
}

impl Deref for JsonPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::JsonPath;

    #[test]
    fn keys_and_indexes_spell_the_paths_errors_name() {
        let base = JsonPath::root("identityProviders.customOpenIdConnectProviders").key("idp");
        assert_eq!(
            base.key("login")
                .key("loginParameters")
                .index(3)
                .to_string(),
            "identityProviders.customOpenIdConnectProviders.idp.login.loginParameters[3]"
        );
        assert_eq!(&*JsonPath::root("login").index(0), "login[0]");
    }
}
