//! Where the configuration comes from and in which of App Service's shapes, before any setting
//! is read: the file a host names (or, when that file is empty, the environment as App Service
//! hands it to its middleware), unwrapped from whatever App Service's tools put around it, and
//! brought to one authsettingsV2 tree. The resolver in `mod.rs` reads only that tree, so legacy
//! input and v2 input can never mean different things for the same setting.
//!
//! Accepted wrappers, all as App Service's tools write them:
//! - the bare tree (file-based configuration, `WEBSITE_AUTH_V2_CONFIG_JSON`);
//! - an ARM resource: `properties` beside envelope keys (`id`, `name`, `type`, `kind`,
//!   `location`, `tags`, `systemData`, ...): Resource Explorer, `az webapp auth show`, a
//!   template's resource;
//! - a whole ARM template (what `bicep build` writes): its one `Microsoft.Web/sites/config`
//!   resource named `authsettingsV2` (or `authsettings`);
//! - the v1 `authsettings` shape (flat keys), bare or wrapped, translated by [`super::legacy`].

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{invalid, legacy, ConfigError, Environment};

/// The configuration as one authsettingsV2 tree, with what reading it taught.
#[derive(Debug, Default)]
pub struct Document {
    pub tree: Value,
    /// Secrets a legacy configuration held inline, by the setting name the tree now uses for
    /// them. They are looked up before the environment and never printed.
    pub inline_secrets: HashMap<String, String>,
    pub warnings: Vec<String>,
    /// Where it came from, for messages: "authsettingsV2", "v1 authsettings", ...
    pub origin: String,
    /// For a translated configuration: the v2 path each legacy setting became, and the name
    /// the user wrote (a v1 key or an environment variable), so errors name what they wrote.
    pub sources: Vec<(String, String)>,
}

/// Keys ARM (and the tools that print ARM resources) put around `properties`; none of them
/// changes what the settings mean.
const ENVELOPE_KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "kind",
    "location",
    "tags",
    "systemData",
    "apiVersion",
    "dependsOn",
    "resourceGroup",
    "etag",
    "comments",
    "condition",
    "scope",
];

/// The top-level keys of authsettingsV2 (and ezauth's own object).
const V2_KEYS: &[&str] = &[
    "platform",
    "globalValidation",
    "identityProviders",
    "login",
    "httpSettings",
    "legacyProperties",
    "clearInboundClaimsMapping",
    "ezauth",
];

/// Reads configuration text as a host would: an empty text (an empty file, `/dev/null`) means
/// "App Service's settings from the environment", anything else is a JSON document.
pub fn read(text: &str, env: &dyn Environment) -> Result<Document, ConfigError> {
    if text.trim().is_empty() {
        let mut doc = from_environment(env)?;
        // Said once at startup: an empty file that was meant to hold settings shows here.
        doc.warnings.insert(
            0,
            format!(
                "the configuration file is empty: the configuration comes from {}",
                doc.origin
            ),
        );
        return Ok(doc);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| invalid("", format!("not valid JSON: {e}")))?;
    from_value(value, env)
}

/// The environment as App Service's middleware reads it: a file it names
/// (`WEBSITE_AUTH_FILE_PATH`), else the v2 JSON the platform wrote
/// (`WEBSITE_AUTH_V2_CONFIG_JSON`), else the legacy `WEBSITE_AUTH_*` settings.
fn from_environment(env: &dyn Environment) -> Result<Document, ConfigError> {
    let from_file = env
        .var("WEBSITE_AUTH_FROM_FILE")
        .map(|v| legacy::truthy(&v, "WEBSITE_AUTH_FROM_FILE"))
        .transpose()?
        .unwrap_or(true);
    if let Some(path) = env.var("WEBSITE_AUTH_FILE_PATH").filter(|_| from_file) {
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            path: "WEBSITE_AUTH_FILE_PATH".into(),
            message: format!("cannot read {path}: {e}"),
            unreadable: true,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            invalid(
                "WEBSITE_AUTH_FILE_PATH",
                format!("{path} is not valid JSON: {e}"),
            )
        })?;
        let mut doc = from_value(value, env)?;
        doc.origin = format!("{path} (named by WEBSITE_AUTH_FILE_PATH)");
        return Ok(doc);
    }
    if let Some(json) = env.var("WEBSITE_AUTH_V2_CONFIG_JSON") {
        let value: Value = serde_json::from_str(&json).map_err(|e| {
            invalid(
                "WEBSITE_AUTH_V2_CONFIG_JSON",
                format!("not valid JSON: {e}"),
            )
        })?;
        let mut doc = from_value(value, env)?;
        doc.origin = "WEBSITE_AUTH_V2_CONFIG_JSON".into();
        return Ok(doc);
    }
    let v1 = legacy::v1_from_env(env)?;
    if v1.is_empty() && legacy::v2_settings_in_env(env).is_empty() {
        return Err(invalid(
            "",
            "the configuration file is empty and the environment holds no App Service \
             configuration (WEBSITE_AUTH_FILE_PATH, WEBSITE_AUTH_V2_CONFIG_JSON or \
             WEBSITE_AUTH_* settings such as WEBSITE_AUTH_CLIENT_ID)",
        ));
    }
    // Translated from nothing but the environment, so every value is named by its variable.
    let mut doc = legacy::translate(serde_json::Map::new(), env)?;
    doc.origin = "the WEBSITE_AUTH_* environment variables (App Service's legacy settings)".into();
    Ok(doc)
}

fn from_value(value: Value, env: &dyn Environment) -> Result<Document, ConfigError> {
    let mut value = unwrap_template(value)?;
    value = unwrap_resource(value)?;
    strip_nulls(&mut value);
    refuse_expressions(&value, &mut Vec::new())?;
    let Value::Object(map) = value else {
        return Err(invalid("", "expected a JSON object"));
    };
    if is_v1(&map) {
        let mut doc = legacy::translate(map, env)?;
        doc.origin = "v1 authsettings".into();
        return Ok(doc);
    }
    let mut doc = Document {
        tree: Value::Object(map),
        origin: "authsettingsV2".into(),
        ..Default::default()
    };
    let ignored = legacy::v1_env_names_set(env);
    if !ignored.is_empty() {
        doc.warnings.push(format!(
            "{} set in the environment, but the configuration is authsettingsV2, which \
             App Service reads instead: ignored",
            ignored.join(", ")
        ));
    }
    Ok(doc)
}

/// v1 is told by its flat keys; a document with any v2 key is v2 (and a v1 key in it is then
/// an unknown field, refused by name).
fn is_v1(map: &Map<String, Value>) -> bool {
    !map.keys().any(|k| V2_KEYS.contains(&k.as_str()))
        && map.keys().any(|k| legacy::V1_KEYS.contains(&k.as_str()))
}

/// A whole ARM template (`$schema`/`contentVersion` beside `resources`): its one auth
/// settings resource, searched in nested `resources` too.
fn unwrap_template(value: Value) -> Result<Value, ConfigError> {
    let is_template = value.as_object().is_some_and(|o| {
        o.get("resources").is_some_and(Value::is_array)
            && (o.contains_key("$schema") || o.contains_key("contentVersion"))
    });
    if !is_template {
        return Ok(value);
    }
    fn collect(resources: &[Value], found: &mut Vec<Value>) {
        for r in resources {
            let Some(o) = r.as_object() else { continue };
            let typ = o.get("type").and_then(Value::as_str).unwrap_or("");
            let name = o.get("name").and_then(Value::as_str).unwrap_or("");
            let typ = typ.to_ascii_lowercase();
            let is_config = typ == "config" || typ.ends_with("/config");
            // `site/authsettingsV2`, `authsettingsV2` (nested), or an expression that ends
            // with it: `[format('{0}/{1}', parameters('site'), 'authsettingsV2')]`.
            let name = name.trim_end_matches([']', ')', '\'']).to_ascii_lowercase();
            let named = ["authsettingsv2", "authsettings"].iter().any(|n| {
                name.strip_suffix(n)
                    .is_some_and(|before| before.is_empty() || before.ends_with(['/', '\'']))
            });
            if is_config && named {
                found.push(r.clone());
            }
            if let Some(nested) = o.get("resources").and_then(Value::as_array) {
                collect(nested, found);
            }
        }
    }
    let mut found = Vec::new();
    if let Some(resources) = value.get("resources").and_then(Value::as_array) {
        collect(resources, &mut found);
    }
    match found.len() {
        1 => Ok(found.pop().unwrap_or_default()),
        0 => Err(invalid(
            "resources",
            "this ARM template has no Microsoft.Web/sites/config resource named authsettingsV2",
        )),
        n => Err(invalid(
            "resources",
            format!("this ARM template has {n} auth settings resources: give ezauth one"),
        )),
    }
}

/// `{"properties": {...}}` with envelope keys beside it; or envelope keys flattened next to the
/// settings (older `az` output).
fn unwrap_resource(value: Value) -> Result<Value, ConfigError> {
    let Value::Object(mut obj) = value else {
        return Ok(value);
    };
    if obj.contains_key("properties") {
        for key in ENVELOPE_KEYS {
            obj.remove(*key);
        }
        if let Some(extra) = obj.keys().find(|k| *k != "properties") {
            return Err(invalid(extra, "unknown field next to \"properties\""));
        }
        return match obj.remove("properties") {
            Some(Value::Object(props)) => Ok(Value::Object(props)),
            _ => Err(invalid("properties", "expected an object")),
        };
    }
    for key in ENVELOPE_KEYS {
        obj.remove(*key);
    }
    Ok(Value::Object(obj))
}

/// ARM writes an unset property as `null`: it means "not set", as if absent.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// `"[parameters('clientId')]"` is an ARM template expression, evaluated at deployment: taken
/// as a value it would be a wrong client id, issuer or path. ARM escapes a literal leading
/// bracket as `[[`.
fn refuse_expressions(value: &Value, path: &mut Vec<String>) -> Result<(), ConfigError> {
    match value {
        Value::String(s) if s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[") => {
            Err(invalid(
                &path.join("."),
                format!(
                    "{s:?} is an ARM template expression: ezauth reads values, not expressions \
                     (deploy the template and export the result, or write the value)"
                ),
            ))
        }
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                refuse_expressions(v, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                match path.last_mut() {
                    Some(last) => {
                        let saved = last.clone();
                        *last = format!("{saved}[{i}]");
                        let r = refuse_expressions(v, path);
                        if let Some(last) = path.last_mut() {
                            *last = saved;
                        }
                        r?;
                    }
                    None => refuse_expressions(v, path)?,
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
