//! Claims as App Service shows them: JWT claim names mapped to the long claim-type URIs .NET
//! uses, every value a string, arrays as repeated claims.

use serde_json::{Map, Value};

use crate::store::Claim;

pub const ROLE_TYPE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
/// The user id most providers give (`sub`).
pub const NAME_ID: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
/// .NET's name claim type (`ClaimTypes.Name`): the display name of providers without ID
/// tokens (GitHub's login).
pub const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
/// .NET's e-mail claim type (`ClaimTypes.Email`), what `email` maps to.
pub const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
/// Azure AD's user id (`oid`), stable across the apps of a tenant.
pub const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/// Short JWT names App Service maps to URIs (the .NET inbound claim map).
const MAPPED: &[(&str, &str)] = &[
    ("email", EMAIL),
    ("sub", NAME_ID),
    ("oid", OBJECT_ID),
    (
        "tid",
        "http://schemas.microsoft.com/identity/claims/tenantid",
    ),
    (
        "given_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    ),
    (
        "family_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    ),
    (
        "upn",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    ),
    (
        "unique_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    ),
    (
        "amr",
        "http://schemas.microsoft.com/claims/authnmethodsreferences",
    ),
    ("scp", "http://schemas.microsoft.com/identity/claims/scope"),
];

pub fn claim_type(jwt_name: &str) -> &str {
    MAPPED
        .iter()
        .find(|(short, _)| *short == jwt_name)
        .map_or(jwt_name, |(_, long)| long)
}

/// Flattens a token's claims into `[{typ, val}]`.
pub fn from_jwt(claims: &Map<String, Value>) -> Vec<Claim> {
    let mut out = Vec::with_capacity(claims.len());
    for (name, value) in claims {
        let typ = claim_type(name);
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            v => vec![v],
        };
        for v in values {
            let val = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(Claim {
                typ: typ.to_owned(),
                val,
            });
        }
    }
    out
}

pub fn find<'c>(claims: &'c [Claim], typ: &str) -> Option<&'c str> {
    claims.iter().find(|c| c.typ == typ).map(|c| c.val.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_names_and_flattens_values() {
        let m = json!({"sub": "u1", "roles": ["a", "b"], "iat": 5, "name": "N"});
        let c = from_jwt(m.as_object().unwrap());
        assert_eq!(
            find(
                &c,
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
            ),
            Some("u1")
        );
        assert_eq!(c.iter().filter(|c| c.typ == "roles").count(), 2);
        assert_eq!(find(&c, "iat"), Some("5"));
        assert_eq!(find(&c, "name"), Some("N"));
    }
}
