//! Tenants and their API keys. A key reads `sl_<kind>_<tenant>_<key id>_<secret>`; only the
//! SHA-256 of the secret is stored, so a key is shown once, when it is created.

use deadpool_postgres::GenericClient;
use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Reads and writes.
    Write,
    /// Reads only: the auditor's key.
    Read,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Write => "write",
            KeyKind::Read => "read",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            KeyKind::Write => "w",
            KeyKind::Read => "r",
        }
    }
}

/// The caller of a request, established from its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub kind: KeyKind,
}

/// A key in clear text, returned once at creation.
pub struct IssuedKey {
    pub kind: KeyKind,
    pub secret: String,
}

/// Longest tenant name, in characters (the `tenants.name` check).
pub const MAX_TENANT_NAME_LEN: usize = 200;

/// Inserts a tenant row and returns its id.
pub async fn insert_tenant(client: &impl GenericClient, name: &str) -> anyhow::Result<Uuid> {
    let length = name.chars().count();
    if !(1..=MAX_TENANT_NAME_LEN).contains(&length) {
        anyhow::bail!("tenant name must have 1 to {MAX_TENANT_NAME_LEN} characters, not {length}");
    }
    let id = Uuid::now_v7();
    client.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", &[&id, &name]).await?;
    Ok(id)
}

/// Creates a key of `kind` for `tenant_id` and returns it in clear text.
pub async fn issue_key(
    client: &impl GenericClient,
    tenant_id: Uuid,
    kind: KeyKind,
) -> anyhow::Result<IssuedKey> {
    let key_id = random_text(12);
    let secret = random_text(32);
    client
        .execute(
            "INSERT INTO api_keys (tenant_id, key_id, kind, secret_sha256) VALUES ($1, $2, $3, $4)",
            &[&tenant_id, &key_id, &kind.as_str(), &sha256(&secret)],
        )
        .await?;
    let text = format!("sl_{}_{}_{}_{}", kind.tag(), tenant_id.simple(), key_id, secret);
    Ok(IssuedKey { kind, secret: text })
}

/// Checks a presented key. `None` when it is malformed or unknown, when its secret does not
/// match, or when its tag names the other kind.
pub async fn authenticate(
    client: &impl GenericClient,
    presented: &str,
) -> Result<Option<Caller>, tokio_postgres::Error> {
    let Some((tagged, tenant_id, key_id, secret)) = split_key(presented) else {
        return Ok(None);
    };
    let statement = client
        .prepare_cached(
            "SELECT kind, secret_sha256 FROM api_keys WHERE tenant_id = $1 AND key_id = $2",
        )
        .await?;
    let row = client.query_opt(&statement, &[&tenant_id, &key_id]).await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let stored: Vec<u8> = row.get(1);
    if !constant_time_eq(&stored, &sha256(secret)) {
        return Ok(None);
    }
    let kind = if row.get::<_, &str>(0) == "write" { KeyKind::Write } else { KeyKind::Read };
    // The tag is part of the key as issued, so a key with another kind's tag is not this key.
    if kind != tagged {
        return Ok(None);
    }
    Ok(Some(Caller { tenant_id, kind }))
}

/// Returns the SHA-256 of a key's kind tag, tenant, key id and secret, or `None` when the key
/// is not of the form `sl_<kind>_<tenant>_<key id>_<secret>`. Every accepted spelling of one
/// key (the tenant id with or without hyphens) gets the same digest.
pub fn key_digest(presented: &str) -> Option<[u8; 32]> {
    let (kind, tenant_id, key_id, secret) = split_key(presented)?;
    let mut hasher = Sha256::new();
    hasher.update(kind.tag().as_bytes());
    hasher.update(tenant_id.as_bytes());
    hasher.update(key_id.as_bytes());
    hasher.update(b"_");
    hasher.update(secret.as_bytes());
    Some(hasher.finalize().into())
}

fn split_key(presented: &str) -> Option<(KeyKind, Uuid, &str, &str)> {
    let mut parts = presented.splitn(5, '_');
    let (prefix, tag) = (parts.next()?, parts.next()?);
    let kind = [KeyKind::Write, KeyKind::Read].into_iter().find(|kind| kind.tag() == tag)?;
    let tenant = Uuid::parse_str(parts.next()?).ok()?;
    let (key_id, secret) = (parts.next()?, parts.next()?);
    (prefix == "sl").then_some((kind, tenant, key_id, secret))
}

fn random_text(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_key_reads_parts() {
        let tenant = Uuid::now_v7();
        let key = format!("sl_w_{}_abc_secret_with_underscore", tenant.simple());
        let (kind, parsed, key_id, secret) = split_key(&key).unwrap();
        assert_eq!(kind, KeyKind::Write);
        assert_eq!(parsed, tenant);
        assert_eq!(key_id, "abc");
        assert_eq!(secret, "secret_with_underscore");
        assert!(split_key("sl_w_nottenant_a_b").is_none());
        let other_tag = format!("sl_x_{}_abc_secret", tenant.simple());
        assert!(split_key(&other_tag).is_none());
        assert!(split_key("").is_none());
    }
}
