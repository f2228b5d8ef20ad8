//! TLS to PostgreSQL with rustls, against the test server's own CA (made by `scripts/dev.sh`).
//! The role used may connect over TLS only, so every success below was an encrypted connection.
//! libpq's URL parameters choose the mode: `sslmode=disable|prefer|require|verify-full` and
//! `sslrootcert=<CA bundle>`.

mod util;

use util::{TLS_ROLE, TLS_ROLE_PASSWORD};

fn tls_url(db: &str, params: &str) -> String {
    let base = url::Url::parse(&util::pg_url(db)).expect("test URL");
    let host = base.host_str().unwrap_or("127.0.0.1");
    let port = base.port().unwrap_or(5432);
    format!("postgres://{TLS_ROLE}:{TLS_ROLE_PASSWORD}@{host}:{port}/{db}{params}")
}

fn backup_with(source: &str) -> std::process::Output {
    let (_dir, dest) = util::local_dest();
    util::streamdump(&["backup", "--source", source, "--to", &dest, "--json"])
}

#[test]
fn tls_modes_connect_verify_and_refuse_as_asked() {
    util::ensure_tls_role();
    let db = util::fresh_db("tls");
    util::psql(&db, "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g");
    let ca = util::pg_ca_file();

    for params in [
        String::new(),
        "?sslmode=require".to_string(),
        format!("?sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let out = backup_with(&tls_url(&db, &params));
        assert!(out.status.success(), "{params}: {}", util::stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&util::stdout(&out)).expect("report");
        assert_eq!(report["rows"], 100, "{params}");
    }

    // Without TLS the server refuses this role: proof that the successes above were encrypted.
    let out = backup_with(&tls_url(&db, "?sslmode=disable"));
    let err = util::stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("no encryption") || err.contains("pg_hba.conf"), "{err}");

    // verify-full without the test CA: the system roots do not know it.
    let out = backup_with(&tls_url(&db, "?sslmode=verify-full"));
    let err = util::stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("certificate") && err.contains("verify-full"), "{err}");

    // A CA bundle that does not exist, and a mode streamdump does not offer: named.
    let out = backup_with(&tls_url(&db, "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"));
    assert!(util::stderr(&out).contains("/nonexistent/ca.pem"), "{}", util::stderr(&out));
    let out = backup_with(&tls_url(&db, "?sslmode=verify-ca"));
    assert!(util::stderr(&out).contains("verify-ca"), "{}", util::stderr(&out));

    let out = backup_with(&tls_url(&db, "?sslmode=verify-full"));
    assert!(!util::stderr(&out).contains(TLS_ROLE_PASSWORD), "password shown");
    util::drop_db(&db);
}
