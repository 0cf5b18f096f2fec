//! Certificates kept by CryptoAdmins. Those trusted for mutual TLS are the
//! admin API's client-certificate trust anchors; every instance reads them
//! from here, so an import or a deletion applies everywhere at once.

use signet_core::audit::AuditEvent;
use signet_core::clock::UnixTime;

use crate::db::{Row, Tx, query};
use crate::{Result, Store, audit, conflict, flag};

#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: String,
    pub name: String,
    pub pem: String,
    /// Hex SHA-256 of the DER: the same certificate cannot be imported twice.
    pub sha256: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub trusted_for_mtls: bool,
    pub private_key_sealed: Option<Vec<u8>>,
    pub created_at: UnixTime,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("subject", &self.subject)
            .field("trusted_for_mtls", &self.trusted_for_mtls)
            .field("has_private_key", &self.private_key_sealed.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) const COLUMNS: &str = "id, name, pem, sha256, subject, issuer, not_before, not_after, trusted_for_mtls, \
                       private_key_sealed, created_at";

pub(crate) fn certificate(r: &Row) -> Result<Certificate> {
    Ok(Certificate {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        pem: r.try_get("pem")?,
        sha256: r.try_get("sha256")?,
        subject: r.try_get("subject")?,
        issuer: r.try_get("issuer")?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        trusted_for_mtls: r.try_get::<i64>("trusted_for_mtls")? != 0,
        private_key_sealed: r.try_get("private_key_sealed")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) async fn insert(tx: &mut Tx, c: &Certificate) -> Result<()> {
    query(format!("INSERT INTO certificates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.pem)
        .bind(&c.sha256)
        .bind(&c.subject)
        .bind(&c.issuer)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(flag(c.trusted_for_mtls))
        .bind(c.private_key_sealed.clone())
        .bind(c.created_at)
        .execute(tx)
        .await
        .map_err(conflict("certificate"))?;
    Ok(())
}

impl Store {
    /// Imports a certificate and records who did, in one transaction.
    /// `Conflict` when its name or the certificate itself is already there.
    pub async fn insert_certificate(&self, c: &Certificate, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert(&mut tx, c).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await
    }

    pub async fn certificate(&self, id: &str) -> Result<Option<Certificate>> {
        let row = query(format!("SELECT {COLUMNS} FROM certificates WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(certificate).transpose()
    }

    pub async fn certificates_page(&self, after: Option<&str>, limit: i64) -> Result<Vec<Certificate>> {
        let rows = query(format!("SELECT {COLUMNS} FROM certificates WHERE id > $1 ORDER BY id LIMIT $2"))
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.db.read())
            .await?;
        rows.iter().map(certificate).collect()
    }

    /// The CA certificates client certificates are checked against.
    pub async fn mtls_trust_anchors(&self) -> Result<Vec<Certificate>> {
        let rows = query(format!("SELECT {COLUMNS} FROM certificates WHERE trusted_for_mtls = 1 ORDER BY id"))
            .fetch_all(self.db.read())
            .await?;
        rows.iter().map(certificate).collect()
    }

    /// Deletes a certificate if it is still the one the caller read (same
    /// fingerprint), and records who did. False when it is gone or changed.
    pub async fn delete_certificate(&self, id: &str, sha256: &str, ev: &AuditEvent) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let gone = query("DELETE FROM certificates WHERE id = $1 AND sha256 = $2")
            .bind(id)
            .bind(sha256)
            .execute(&mut tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}
