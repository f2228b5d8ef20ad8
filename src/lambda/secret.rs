//! Database credentials from AWS Secrets Manager, in the format RDS itself writes:
//! `{"engine", "host", "port", "username", "password", "dbname"}`.
//!
//! The secret's text is parsed as untyped JSON and read field by field, so that no error message
//! can quote it; the connection URL built from it hides the password in every `Display`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::plan::ConnectionUrl;
use crate::store::describe_aws_error;
use crate::tls::TlsOptions;

/// Fetch a secret's string from Secrets Manager.
pub async fn fetch(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<String> {
    let output = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        Error::Connect {
            target: format!("Secrets Manager secret '{secret_id}'"),
            reason: describe_aws_error(&e),
        }
    })?;
    output.secret_string.ok_or_else(|| {
        Error::config(
            format!("secret '{secret_id}'"),
            "has no SecretString (a binary secret is not in the RDS format)",
        )
    })
}

/// Build the connection from an RDS-format secret; `database` overrides the secret's `dbname`.
pub fn connection_url(
    secret_id: &str,
    secret: &str,
    database: Option<&str>,
    tls: &TlsOptions,
) -> Result<ConnectionUrl> {
    let what = format!("secret '{secret_id}'");
    let bad = |reason: &str| Error::config(what.clone(), reason);
    let value: Value = serde_json::from_str(secret)
        .map_err(|_| bad("is not JSON in the RDS format {engine, host, port, username, ...}"))?;
    let Some(fields) = value.as_object() else {
        return Err(bad("is not a JSON object in the RDS format"));
    };
    let engine = text(fields, "engine").ok_or_else(|| bad("has no 'engine'"))?;
    let scheme = match engine.as_str() {
        "postgres" | "postgresql" | "aurora-postgresql" => "postgres",
        "mysql" | "mariadb" | "aurora-mysql" | "aurora" => "mysql",
        _ => {
            return Err(Error::config(
                what,
                format!(
                    "engine '{engine}' is not one of postgres, aurora-postgresql, mysql, mariadb, \
                     aurora-mysql"
                ),
            ));
        }
    };
    let host = text(fields, "host").ok_or_else(|| bad("has no 'host'"))?;
    let username = text(fields, "username").ok_or_else(|| bad("has no 'username'"))?;
    let password = match fields.get("password") {
        Some(Value::String(p)) => p.clone(),
        Some(_) => return Err(bad("has a 'password' that is not a string")),
        None => return Err(bad("has no 'password'")),
    };
    let port = match fields.get("port") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(_) => None,
    };
    if fields.get("port").is_some_and(|p| !p.is_null()) && port.is_none() {
        return Err(bad("has a 'port' that is not a port number"));
    }
    let dbname = database.map(str::to_string).or_else(|| text(fields, "dbname"));
    let Some(dbname) = dbname else {
        return Err(bad("has no 'dbname': name the database in the request ('database')"));
    };

    let mut url = url::Url::parse(&format!("{scheme}://placeholder/"))
        .map_err(|e| Error::config(what.clone(), e))?;
    let host_ok = if host.contains(':') && !host.starts_with('[') {
        url.set_host(Some(&format!("[{host}]")))
    } else {
        url.set_host(Some(&host))
    };
    host_ok.map_err(|_| bad("has a 'host' that is not a host name or address"))?;
    url.set_port(port).map_err(|()| bad("has an unusable 'port'"))?;
    url.set_username(&username).map_err(|()| bad("has an unusable 'username'"))?;
    url.set_password(Some(&password)).map_err(|()| bad("has an unusable 'password'"))?;
    url.path_segments_mut().map_err(|()| bad("cannot be made into a URL"))?.pop().push(&dbname);
    Ok(ConnectionUrl::parse(&what, url.as_str())?.with_tls(tls.clone()))
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "p@ss:w/rd%&?#";

    fn secret(fields: serde_json::Value) -> String {
        fields.to_string()
    }

    #[test]
    fn rds_secret_becomes_a_url_with_an_escaped_password() {
        let s = secret(serde_json::json!({
            "engine": "postgres", "host": "db.example.internal", "port": 5432,
            "username": "backup", "password": PASSWORD, "dbname": "shop",
            "dbInstanceIdentifier": "shop-prod"
        }));
        let url = connection_url("prod", &s, None, &TlsOptions::default()).unwrap();
        assert_eq!(url.database(), "shop");
        assert_eq!(url.to_string(), "postgres://backup:***@db.example.internal:5432/shop");
        let config: tokio_postgres::Config = url.expose().parse().unwrap();
        assert_eq!(config.get_password(), Some(PASSWORD.as_bytes()));
        assert_eq!(config.get_user(), Some("backup"));

        let other = connection_url("prod", &s, Some("Sales DB"), &TlsOptions::default()).unwrap();
        assert_eq!(other.database(), "Sales DB");
    }

    #[test]
    fn port_as_string_and_aurora_engine() {
        let s = secret(serde_json::json!({
            "engine": "aurora-postgresql", "host": "10.0.0.5", "port": "6432",
            "username": "u", "password": "x", "dbname": "d"
        }));
        let url = connection_url("a", &s, None, &TlsOptions::default()).unwrap();
        assert_eq!(url.to_string(), "postgres://u:***@10.0.0.5:6432/d");
    }

    #[test]
    fn bad_secrets_are_named_without_their_contents() {
        for (body, expected) in [
            ("not json {".to_string(), "is not JSON"),
            (secret(serde_json::json!({"engine": "oracle"})), "engine 'oracle'"),
            (secret(serde_json::json!({"engine": "postgres", "host": "h"})), "no 'username'"),
            (
                secret(serde_json::json!({"engine": "postgres", "host": "h", "username": "u",
                                          "password": PASSWORD, "port": "x"})),
                "'port' that is not a port number",
            ),
            (
                secret(serde_json::json!({"engine": "postgres", "host": "h", "username": "u",
                                          "password": PASSWORD})),
                "no 'dbname'",
            ),
        ] {
            let err = connection_url("prod/db", &body, None, &TlsOptions::default()).unwrap_err();
            let text = err.to_string();
            assert_eq!(err.kind(), "ConfigurationError");
            assert!(text.contains("secret 'prod/db'") && text.contains(expected), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }
}
