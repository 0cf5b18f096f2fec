//! Grant families, refresh tokens, authorization codes and revoked access tokens.
//!
//! Refresh rotation and code redemption are conditional updates that spend the
//! token first (`… WHERE used_at IS NULL`), so of two racing requests exactly
//! one wins, on any number of instances. A second use of a spent token revokes
//! its whole family (RFC 9700 §4.14.2, RFC 6749 §4.1.2), except once, within
//! a short reuse interval, for the token just replaced (`ReuseGrace`).

use signet_core::audit::AuditEvent;
use signet_core::clock::UnixTime;
use signet_core::model::{AuthCode, Grant, RefreshToken, SessionTerms};

use crate::db::{Row, Tx, query};
use crate::{Result, Store, audit, from_json, to_json};

fn grant(r: &Row) -> Result<Grant> {
    Ok(Grant {
        id: r.try_get("id")?,
        environment_id: r.try_get("environment_id")?,
        client_id: r.try_get("client_id")?,
        account_id: r.try_get("account_id")?,
        scope: r.try_get("scope")?,
        auth_time: r.try_get("auth_time")?,
        amr: from_json(&r.try_get::<String>("amr")?, "amr")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        jkt: r.try_get("jkt")?,
        session: match (r.try_get::<Option<i64>>("session_seconds")?, r.try_get::<Option<i64>>("session_ends")?) {
            (Some(seconds), Some(ends_at)) => Some(SessionTerms { seconds, ends_at }),
            _ => None,
        },
        parent_id: r.try_get("parent_id")?,
    })
}

const GRANT_COLUMNS: &str = "id, environment_id, client_id, account_id, scope, auth_time, amr, created_at, revoked_at, jkt, session_seconds, \
     session_ends, parent_id";

pub(crate) async fn insert_grant(conn: &mut Tx, g: &Grant) -> Result<()> {
    query(format!(
        "INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&g.id)
    .bind(&g.environment_id)
    .bind(&g.client_id)
    .bind(&g.account_id)
    .bind(&g.scope)
    .bind(g.auth_time)
    .bind(to_json(&g.amr))
    .bind(g.created_at)
    .bind(g.revoked_at)
    .bind(g.jkt.clone())
    .bind(g.session.map(|t| t.seconds))
    .bind(g.session.map(|t| t.ends_at))
    .bind(g.parent_id.clone())
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_refresh(conn: &mut Tx, t: &RefreshToken) -> Result<()> {
    query("INSERT INTO refresh_tokens (hash, grant_id, expires_at, used_at) VALUES ($1, $2, $3, $4)")
        .bind(t.hash.clone())
        .bind(&t.grant_id)
        .bind(t.expires_at)
        .bind(t.used_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a family and every family minted from it by token exchange.
/// Revokes a family and every family minted from it; how many were live.
async fn revoke_family(conn: &mut Tx, grant_id: &str, now: UnixTime) -> Result<u64> {
    let done = query(
        "WITH RECURSIVE family(id) AS (SELECT CAST($1 AS TEXT) \
         UNION SELECT g.id FROM grants g JOIN family f ON g.parent_id = f.id) \
         UPDATE grants SET revoked_at = $2 WHERE id IN (SELECT id FROM family) AND revoked_at IS NULL",
    )
    .bind(grant_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn insert_code(conn: &mut Tx, c: &AuthCode) -> Result<()> {
    query(
        "INSERT INTO auth_codes (hash, environment_id, client_id, account_id, redirect_uri, scope, nonce, \
         code_challenge, auth_time, amr, expires_at, used_at, grant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)",
    )
    .bind(c.hash.clone())
    .bind(&c.environment_id)
    .bind(&c.client_id)
    .bind(&c.account_id)
    .bind(&c.redirect_uri)
    .bind(&c.scope)
    .bind(c.nonce.clone())
    .bind(c.code_challenge.clone())
    .bind(c.auth_time)
    .bind(to_json(&c.amr))
    .bind(c.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The outcome of presenting a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Spent and replaced; the family it belongs to.
    Rotated(Box<Grant>),
    /// Already spent: the family has now been revoked.
    Reused { grant_id: String },
    /// Unknown, expired, revoked, or another client's.
    Invalid,
    /// Live, but its family's terms refused this presentation (a DPoP
    /// binding or a session's end, as the caller judged): nothing was spent.
    Refused(Box<Grant>),
    /// Spent, presented again within the reuse interval while the token that
    /// replaced it was unused: that one is revoked and the new one replaces
    /// it; the grace use was recorded.
    Reissued(Box<Grant>),
}

/// How the caller judges a presentation, on the token's family as stored.
pub enum Admission {
    /// The family's terms refuse it: nothing is spent.
    Refused,
    /// Admitted; with a grace for a retried presentation, if it has one.
    Admitted(Option<Box<ReuseGrace>>),
}

/// A spent refresh token presented again is reissued instead of revoking
/// its family when all hold: it was spent at most `interval` seconds ago;
/// the token that replaced it is unused; it was never reissued before (a
/// reissue clears its link, so only the token just replaced qualifies,
/// once); the family is live. `event` records it, in the same transaction.
pub struct ReuseGrace {
    pub interval: i64,
    pub event: AuditEvent,
}

/// Reissues `hash` (spent) as `next`, if `successor`, the token that
/// replaced it, is still unused and `hash` still names it: the successor is
/// spent with no successor of its own, so presenting it later is a reuse;
/// `hash`'s link is cleared, so it is never reissued again. False, and
/// nothing that matters written, when either no longer holds.
async fn reissue(
    tx: &mut Tx,
    (hash, successor): (&[u8], &[u8]),
    next: &RefreshToken,
    now: UnixTime,
    ev: &AuditEvent,
) -> Result<bool> {
    let revoked =
        query("UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(successor.to_vec())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    if revoked.rows_affected() != 1 {
        return Ok(false);
    }
    let unlinked = query("UPDATE refresh_tokens SET successor_hash = NULL WHERE hash = $1 AND successor_hash = $2")
        .bind(hash.to_vec())
        .bind(successor.to_vec())
        .execute(&mut *tx)
        .await?;
    if unlinked.rows_affected() != 1 {
        return Ok(false);
    }
    insert_refresh(tx, next).await?;
    audit::append(tx, ev).await?;
    Ok(true)
}

/// The outcome of presenting an authorization code.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeRedemption {
    Redeemed,
    /// Already redeemed: everything it issued has now been revoked.
    Replayed,
}

impl Store {
    /// A new family, with its first refresh token if the client gets one.
    pub async fn create_grant(&self, g: &Grant, refresh: Option<&RefreshToken>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_grant(&mut tx, g).await?;
        if let Some(t) = refresh {
            insert_refresh(&mut tx, t).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A family and its first refresh token, with the event of the sign-on
    /// that made it (a token exchange), in one transaction.
    pub async fn create_grant_recorded(
        &self,
        g: &Grant,
        refresh: Option<&RefreshToken>,
        ev: &signet_core::audit::AuditEvent,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_grant(&mut tx, g).await?;
        if let Some(t) = refresh {
            insert_refresh(&mut tx, t).await?;
        }
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn grant(&self, id: &str) -> Result<Option<Grant>> {
        let row = query(format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(grant).transpose()
    }

    /// Spends `hash` and stores `next` in its place, in one transaction that
    /// reads the token and its family, spends it and inserts the next. The
    /// spend is conditional (`used_at IS NULL`), so a concurrent spend of the
    /// same token on another instance loses and is treated as the reuse it is.
    /// Reading on the writer, not a reader connection, keeps SQLite's pages of
    /// these tables hot in the one cache that writes them.
    pub async fn rotate_refresh(
        &self,
        hash: &[u8],
        client_id: &str,
        next: &RefreshToken,
        now: UnixTime,
    ) -> Result<Rotation> {
        self.rotate_refresh_if(hash, client_id, next, now, |_| true).await
    }

    /// `rotate_refresh`, when `admit` accepts the token's family (without
    /// a reuse grace).
    pub async fn rotate_refresh_if(
        &self,
        hash: &[u8],
        client_id: &str,
        next: &RefreshToken,
        now: UnixTime,
        admit: impl FnOnce(&Grant) -> bool,
    ) -> Result<Rotation> {
        let admit = |g: &Grant| if admit(g) { Admission::Admitted(None) } else { Admission::Refused };
        self.rotate_refresh_admitted(hash, client_id, next, now, admit).await
    }

    /// `rotate_refresh`, as `admit` judges the token's family. It is asked
    /// before anything is spent, on the row the rotation reads, so a
    /// presentation it refuses (a DPoP-bound family without a proof of its
    /// key) neither spends the token nor counts as its reuse. The new token
    /// never outlives the family's session.
    pub async fn rotate_refresh_admitted(
        &self,
        hash: &[u8],
        client_id: &str,
        next: &RefreshToken,
        now: UnixTime,
        admit: impl FnOnce(&Grant) -> Admission,
    ) -> Result<Rotation> {
        let cols = GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ");
        let mut tx = self.db.begin().await?;
        let row = query(format!(
            "SELECT r.used_at AS token_used_at, r.expires_at AS token_expires_at, \
             r.successor_hash AS token_successor, {cols} \
             FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1"
        ))
        .bind(hash.to_vec())
        .fetch_optional(&mut tx)
        .await?;
        let Some(row) = row else { return Ok(Rotation::Invalid) };
        let g = grant(&row)?;
        let used: Option<i64> = row.try_get("token_used_at")?;
        let expires_at: i64 = row.try_get("token_expires_at")?;
        if g.client_id != client_id {
            return Ok(Rotation::Invalid);
        }
        let grace = match admit(&g) {
            Admission::Refused => return Ok(Rotation::Refused(Box::new(g))),
            Admission::Admitted(grace) => grace,
        };
        let next = RefreshToken {
            grant_id: g.id.clone(),
            expires_at: next.expires_at.min(g.session.map_or(UnixTime::MAX, |t| t.ends_at)),
            ..next.clone()
        };
        if let Some(used) = used {
            let successor: Option<Vec<u8>> = row.try_get("token_successor")?;
            if let (Some(grace), Some(successor)) = (grace, successor)
                && now - used <= grace.interval
                && g.revoked_at.is_none()
                && reissue(&mut tx, (hash, &successor), &next, now, &grace.event).await?
            {
                tx.commit().await?;
                return Ok(Rotation::Reissued(Box::new(g)));
            }
            revoke_family(&mut tx, &g.id, now).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused { grant_id: g.id });
        }
        if expires_at <= now || g.revoked_at.is_some() {
            return Ok(Rotation::Invalid);
        }
        let spent =
            query("UPDATE refresh_tokens SET used_at = $2, successor_hash = $3 WHERE hash = $1 AND used_at IS NULL")
                .bind(hash.to_vec())
                .bind(now)
                .bind(next.hash.clone())
                .execute(&mut tx)
                .await?;
        if spent.rows_affected() != 1 {
            revoke_family(&mut tx, &g.id, now).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused { grant_id: g.id });
        }
        insert_refresh(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(Box::new(g)))
    }

    pub async fn insert_auth_code(&self, c: &AuthCode) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_code(&mut tx, c).await?;
        tx.commit().await
    }

    /// Stores a code and records who it was issued for, at once.
    pub async fn insert_auth_code_recorded(&self, c: &AuthCode, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_code(&mut tx, c).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await
    }

    /// The code as issued, whether or not it has been redeemed.
    pub async fn auth_code(&self, hash: &[u8]) -> Result<Option<AuthCode>> {
        let row = query(
            "SELECT hash, environment_id, client_id, account_id, redirect_uri, scope, nonce, code_challenge, \
             auth_time, amr, expires_at, grant_id FROM auth_codes WHERE hash = $1",
        )
        .bind(hash.to_vec())
        .fetch_optional(self.db.read())
        .await?;
        row.map(|r| {
            Ok(AuthCode {
                hash: r.try_get("hash")?,
                environment_id: r.try_get("environment_id")?,
                client_id: r.try_get("client_id")?,
                account_id: r.try_get("account_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                scope: r.try_get("scope")?,
                nonce: r.try_get("nonce")?,
                code_challenge: r.try_get("code_challenge")?,
                auth_time: r.try_get("auth_time")?,
                amr: from_json(&r.try_get::<String>("amr")?, "amr")?,
                expires_at: r.try_get("expires_at")?,
                grant_id: r.try_get("grant_id")?,
            })
        })
        .transpose()
    }

    /// Spends a code that the caller has checked, creating its family in the
    /// same transaction. A code already spent revokes the family it created,
    /// and the replay is recorded as `replayed`, its target the family,
    /// when that revoked anything: once per code, however often replayed.
    pub async fn redeem_auth_code(
        &self,
        hash: &[u8],
        g: &Grant,
        refresh: Option<&RefreshToken>,
        now: UnixTime,
        replayed: AuditEvent,
    ) -> Result<CodeRedemption> {
        let mut tx = self.db.begin().await?;
        let done = query("UPDATE auth_codes SET used_at = $2, grant_id = $3 WHERE hash = $1 AND used_at IS NULL")
            .bind(hash.to_vec())
            .bind(now)
            .bind(&g.id)
            .execute(&mut tx)
            .await?;
        if done.rows_affected() == 1 {
            insert_grant(&mut tx, g).await?;
            if let Some(t) = refresh {
                insert_refresh(&mut tx, t).await?;
            }
            tx.commit().await?;
            return Ok(CodeRedemption::Redeemed);
        }
        let first: Option<Option<String>> = query("SELECT grant_id FROM auth_codes WHERE hash = $1")
            .bind(hash.to_vec())
            .fetch_optional(&mut tx)
            .await?
            .map(|r| r.try_get("grant_id"))
            .transpose()?;
        if let Some(Some(grant_id)) = first
            && revoke_family(&mut tx, &grant_id, now).await? > 0
        {
            audit::append(&mut tx, &AuditEvent { target: grant_id, ..replayed }).await?;
        }
        tx.commit().await?;
        Ok(CodeRedemption::Replayed)
    }

    /// Revokes a family: its refresh tokens stop working, and so do its live
    /// access tokens, which carry the family id.
    pub async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<()> {
        let mut tx = self.db.begin().await?;
        revoke_family(&mut tx, grant_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The family a refresh token belongs to, with its owner, for revocation.
    pub async fn refresh_token_grant(&self, hash: &[u8]) -> Result<Option<Grant>> {
        let row = query(format!(
            "SELECT {} FROM grants g JOIN refresh_tokens r ON r.grant_id = g.id WHERE r.hash = $1",
            GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(hash.to_vec())
        .fetch_optional(self.db.read())
        .await?;
        row.as_ref().map(grant).transpose()
    }

    /// A refresh token that can still be spent, with its family: unused,
    /// unexpired, and its family not revoked.
    pub async fn live_refresh_token(&self, hash: &[u8], now: UnixTime) -> Result<Option<(RefreshToken, Grant)>> {
        let cols = GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ");
        let row = query(format!(
            "SELECT r.hash, r.grant_id, r.expires_at, r.used_at, {cols} FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id \
             WHERE r.hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND g.revoked_at IS NULL"
        ))
        .bind(hash.to_vec())
        .bind(now)
        .fetch_optional(self.db.read())
        .await?;
        row.map(|r| {
            let token = RefreshToken {
                hash: r.try_get("hash")?,
                grant_id: r.try_get("grant_id")?,
                expires_at: r.try_get("expires_at")?,
                used_at: r.try_get("used_at")?,
            };
            Ok((token, grant(&r)?))
        })
        .transpose()
    }

    /// Records a revoked access token until it would have expired anyway.
    pub async fn revoke_jti(&self, jti: &str, expires_at: UnixTime, now: UnixTime) -> Result<()> {
        query(
            "INSERT INTO revoked_jtis (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(self.db.write())
        .await?;
        Ok(())
    }

    /// Revocations recorded at or after `since`: access tokens (with their
    /// expiry) and families (with the time they were revoked). Instances poll
    /// this to keep an in-memory view of what is revoked.
    pub async fn revocations_since(&self, since: UnixTime) -> Result<Revoked> {
        let mut newest: Option<UnixTime> = None;
        let jtis = query("SELECT jti, expires_at, revoked_at FROM revoked_jtis WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(self.db.read())
            .await?
            .iter()
            .map(|r| {
                newest = newest.max(Some(r.try_get("revoked_at")?));
                Ok((r.try_get("jti")?, r.try_get("expires_at")?))
            })
            .collect::<Result<Vec<_>>>()?;
        let grants = query("SELECT id, revoked_at FROM grants WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(self.db.read())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("revoked_at")?)))
            .collect::<Result<Vec<_>>>()?;
        let subjects = query("SELECT subject, revoked_at FROM revoked_subjects WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(self.db.read())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("subject")?, r.try_get("revoked_at")?)))
            .collect::<Result<Vec<_>>>()?;
        let newest = grants.iter().chain(&subjects).map(|(_, at)| Some(*at)).fold(newest, Option::max);
        Ok(Revoked { jtis, grants, subjects, newest })
    }

    /// Whether an access token has been revoked, by its own `jti` or through its family.
    pub async fn access_token_revoked(&self, jti: &str, grant_id: Option<&str>) -> Result<bool> {
        let row = query(
            "SELECT (SELECT COUNT(*) FROM revoked_jtis WHERE jti = $1) + \
                    (SELECT COUNT(*) FROM grants WHERE id = $2 AND revoked_at IS NOT NULL) AS n",
        )
        .bind(jti)
        .bind(grant_id.unwrap_or(""))
        .fetch_one(self.db.read())
        .await?;
        Ok(row.try_get::<i64>("n")? > 0)
    }

    /// Deletes what has expired: revoked jtis, codes, device codes, flows, sessions.
    pub async fn purge_expired(&self, now: UnixTime) -> Result<u64> {
        let mut n = 0;
        for table in [
            "revoked_jtis",
            "auth_codes",
            "device_codes",
            "login_flows",
            "browser_sessions",
            "refresh_tokens",
            "dpop_jtis",
        ] {
            n += query(format!("DELETE FROM {table} WHERE expires_at < $1"))
                .bind(now)
                .execute(self.db.write())
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    /// Spends a DPoP proof's `jti` for the key `jkt`: false when it was
    /// spent before, here or on another instance (RFC 9449 §11.1).
    pub async fn spend_dpop_jti(&self, jkt: &str, jti: &str, keep_until: UnixTime) -> Result<bool> {
        let key = signet_core::crypto::sha256(format!("{jkt}\n{jti}").as_bytes()).to_vec();
        let done = query("INSERT INTO dpop_jtis (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(keep_until)
            .execute(self.db.write())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes families created before `before` that have no refresh token
    /// left: nothing can refresh them, and their access tokens have expired if
    /// `before` is at least an access token's lifetime ago.
    pub async fn purge_idle_grants(&self, before: UnixTime) -> Result<u64> {
        let done = query(
            "DELETE FROM grants WHERE created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.id)",
        )
        .bind(before)
        .execute(self.db.write())
        .await?;
        Ok(done.rows_affected())
    }
}

/// Revocations since a time, for the instances' caches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Access tokens by `jti`, with their expiry.
    pub jtis: Vec<(String, UnixTime)>,
    /// Grant families, with when they were revoked.
    pub grants: Vec<(String, UnixTime)>,
    /// Subjects whose tokens issued at or before the time are revoked.
    pub subjects: Vec<(String, UnixTime)>,
    /// When the newest of these was revoked: how far behind the feed is
    /// shows as the time it is applied less this.
    pub newest: Option<UnixTime>,
}

/// Revokes every access token of `subject` issued at or before `at`.
pub(crate) async fn revoke_subject(tx: &mut crate::db::Tx, subject: &str, at: UnixTime) -> Result<()> {
    query(
        "INSERT INTO revoked_subjects (subject, revoked_at) VALUES ($1, $2) \
         ON CONFLICT (subject) DO UPDATE SET revoked_at = $2",
    )
    .bind(subject)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
