//! Azure AD's multi-tenant issuers. An app registered for every organization (`common`,
//! `organizations`) or for personal accounts (`consumers`) reads a discovery document whose
//! issuer is a template, `https://login.microsoftonline.com/{tenantid}/v2.0` (v1:
//! `https://sts.windows.net/{tenantid}/`), and one set of keys signs every tenant's tokens.
//! A token is judged as the Microsoft identity platform documents it ("Validate tokens",
//! multi-tenant apps): its `tid` must be a tenant id (a GUID), and its `iss` exactly the
//! template with that tenant in place, so no tenant passes its tokens off as another's. The
//! template itself is never an issuer: a token naming `{tenantid}` literally matches nothing.

/// What Azure AD's templates hold in place of the tenant.
pub const PLACEHOLDER: &str = "{tenantid}";

/// The tenant of personal Microsoft accounts (Microsoft Account users signing in through
/// Azure AD).
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// v1 `common` documents at `login.microsoftonline.com` name the token service's template.
const V1_TEMPLATE: &str = "https://sts.windows.net/{tenantid}/";

/// Whose users a multi-tenant issuer takes, by its tenant segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `common`: every organization and personal accounts.
    Everyone,
    /// `organizations`: every organization, not personal accounts.
    Organizations,
    /// `consumers`: personal accounts only.
    Consumers,
}

/// A configured multi-tenant issuer.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTenant {
    pub audience: Audience,
    /// The configured issuer with its tenant segment as [`PLACEHOLDER`]: the template its
    /// discovery document must name.
    template: String,
    /// A v1 issuer (nothing after the tenant), whose document may name [`V1_TEMPLATE`].
    v1: bool,
    /// The only tenants allowed to sign in (any case); empty: all the audience takes.
    pub allowed_tenants: Vec<String>,
}

impl MultiTenant {
    /// The multi-tenant reading of a configured issuer whose first path segment is `common`,
    /// `organizations` or `consumers`; `None` for one tenant's issuer.
    pub fn of_issuer(issuer: &str) -> Option<MultiTenant> {
        let url = url::Url::parse(issuer).ok()?;
        let mut segments = url.path_segments()?;
        let tenant = segments.next()?;
        let audience = match tenant.to_ascii_lowercase().as_str() {
            "common" => Audience::Everyone,
            "organizations" => Audience::Organizations,
            "consumers" => Audience::Consumers,
            _ => return None,
        };
        let v1 = segments.all(str::is_empty);
        // The segment as written in the configured text (after the authority's first '/').
        let authority = issuer.find("://")? + 3;
        let start = authority + issuer[authority..].find('/')? + 1;
        let end = start + tenant.len();
        (issuer.get(start..end)? == tenant).then(|| MultiTenant {
            audience,
            template: format!("{}{PLACEHOLDER}{}", &issuer[..start], &issuer[end..]),
            v1,
            allowed_tenants: Vec::new(),
        })
    }

    /// Is `discovered` the template this issuer's discovery document must name? (The
    /// configured issuer with `{tenantid}` for its tenant; a v1 issuer's may be the token
    /// service's.)
    pub fn check_template(&self, discovered: &str) -> Result<(), String> {
        if discovered == self.template || (self.v1 && discovered == V1_TEMPLATE) {
            Ok(())
        } else {
            Err(format!(
                "names the issuer {discovered:?}, not the multi-tenant template {:?}",
                self.template
            ))
        }
    }

    /// The issuer a token of tenant `tid` must carry under `template`; `Err` says why the
    /// tenant is refused.
    pub fn issuer_for(&self, template: &str, tid: Option<&str>) -> Result<String, String> {
        let tid = tid.ok_or("no tid claim (a multi-tenant issuer needs the token's tenant)")?;
        if !is_guid(tid) {
            return Err(format!("tid {tid:?} is not a tenant id (a GUID)"));
        }
        let consumer = tid.eq_ignore_ascii_case(CONSUMER_TENANT);
        match self.audience {
            Audience::Organizations if consumer => {
                return Err(format!(
                    "tid {tid} is the personal accounts' tenant, which `organizations` refuses"
                ))
            }
            Audience::Consumers if !consumer => {
                return Err(format!(
                    "tid {tid} is an organization's tenant, which `consumers` refuses"
                ))
            }
            _ => {}
        }
        if !self.allowed_tenants.is_empty()
            && !self
                .allowed_tenants
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tid))
        {
            return Err(format!("tid {tid} is not one of the allowed tenants"));
        }
        Ok(template.replacen(PLACEHOLDER, tid, 1))
    }

    /// Could `iss` be the issuer of one of this issuer's tenants, by the templates its
    /// discovery document may name? (For saying a token could not be judged when that
    /// document cannot be read.)
    pub fn may_name(&self, iss: &str) -> bool {
        self.matches(&self.template, iss) || (self.v1 && self.matches(V1_TEMPLATE, iss))
    }

    /// Could `iss` be a token's issuer under `template` (an allowed tenant in its place)?
    /// Only says which provider should judge a token; the token's own `tid` decides.
    pub fn matches(&self, template: &str, iss: &str) -> bool {
        let Some((before, after)) = template.split_once(PLACEHOLDER) else {
            return false;
        };
        iss.strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|tid| self.issuer_for(template, Some(tid)).is_ok())
    }
}

/// A GUID as Azure AD writes tenant ids: 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const V2: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

    #[test]
    fn the_tenant_segment_makes_an_issuer_multi_tenant() {
        let common = MultiTenant::of_issuer("https://login.microsoftonline.com/common/v2.0");
        let common = common.unwrap();
        assert_eq!(common.audience, Audience::Everyone);
        assert!(common.check_template(V2).is_ok());
        assert!(common.check_template(V1_TEMPLATE).is_err(), "v2 names v2");
        assert!(common
            .check_template("https://login.microsoftonline.com/common/v2.0")
            .is_err());
        let v1 = MultiTenant::of_issuer("https://login.microsoftonline.com/organizations/");
        let v1 = v1.unwrap();
        assert_eq!(v1.audience, Audience::Organizations);
        assert!(v1.check_template(V1_TEMPLATE).is_ok());
        assert!(v1
            .check_template("https://login.microsoftonline.com/{tenantid}/")
            .is_ok());
        assert_eq!(
            MultiTenant::of_issuer("https://sts.windows.net/consumers/")
                .unwrap()
                .audience,
            Audience::Consumers
        );
        for single in [
            &format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",
            "https://idp.test",
            "https://idp.test/commons/v2.0",
        ] {
            assert_eq!(MultiTenant::of_issuer(single), None, "{single}");
        }
    }

    #[test]
    fn a_token_issuer_is_the_template_with_its_guid_tenant() {
        let mut common =
            MultiTenant::of_issuer("https://login.microsoftonline.com/common/v2.0").unwrap();
        assert_eq!(
            common.issuer_for(V2, Some(TENANT)).unwrap(),
            format!("https://login.microsoftonline.com/{TENANT}/v2.0")
        );
        assert!(common.issuer_for(V2, Some(CONSUMER_TENANT)).is_ok());
        for bad in [
            None,
            Some(""),
            Some("contoso"),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db4"),
            Some("72f988bf/86f1-41af-91ab-2d7cd011db47"),
            Some("{tenantid}"),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db4g"),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47/"),
        ] {
            assert!(common.issuer_for(V2, bad).is_err(), "{bad:?}");
        }
        assert!(common.matches(
            V2,
            &format!("https://login.microsoftonline.com/{TENANT}/v2.0")
        ));
        assert!(!common.matches(V2, V2));
        assert!(!common.matches(V2, "https://login.microsoftonline.com/evil/x/v2.0"));

        common.audience = Audience::Organizations;
        assert!(common.issuer_for(V2, Some(CONSUMER_TENANT)).is_err());
        assert!(common.issuer_for(V2, Some(TENANT)).is_ok());
        common.audience = Audience::Consumers;
        assert!(common.issuer_for(V2, Some(TENANT)).is_err());
        assert!(common.issuer_for(V2, Some(CONSUMER_TENANT)).is_ok());

        common.audience = Audience::Everyone;
        common.allowed_tenants = vec![TENANT.to_uppercase()];
        assert!(common.issuer_for(V2, Some(TENANT)).is_ok());
        assert!(common.issuer_for(V2, Some(CONSUMER_TENANT)).is_err());
    }
}
