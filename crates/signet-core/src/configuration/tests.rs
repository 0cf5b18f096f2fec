use super::*;
use crate::claims::ClaimEngine;
use crate::model::ADMINISTRATORS;
use crate::secret::Secret;

const ADMINS: &str = "00000000-0000-4000-8000-000000000001";

fn document() -> Configuration {
    let admin = AccountEntry {
        id: "a1".into(),
        environment_id: ADMINS.into(),
        username: "administrator".into(),
        password_hash: Some(crate::password::DUMMY_HASH.into()),
        active: true,
        admin: true,
        roles: Role::ALL.into_iter().collect(),
        auditor: false,
        totp: Some(Protected::Sealed(vec![1, 2, 3])),
        totp_confirmed: true,
        totp_last_step: 0,
        failed_attempts: 0,
        locked_until: 0,
        password_change_required: false,
        created_at: 1,
        attributes: None,
    };
    Configuration {
        format: FORMAT,
        environments: vec![EnvironmentEntry { id: ADMINS.into(), name: ADMINISTRATORS.into(), created_at: 1 }],
        applications: vec![],
        accounts: vec![admin],
        claim_mappings: vec![],
        certificates: vec![],
        signing_keys: vec![SigningKeyEntry {
            kid: "k1".into(),
            environment_id: ADMINS.into(),
            public_jwk: serde_json::json!({"kty": "EC"}),
            private_key: Some(Protected::Sealed(vec![4])),
            created_at: 1,
            retired_at: None,
        }],
        settings: BTreeMap::from([(
            "ldap".to_owned(),
            serde_json::json!({"bind": {"sealed": "AAE=", "purpose": "ldap.bind_password"}}),
        )]),
        mfa: Some(MfaSection {
            methods: vec![MfaMethodEntry {
                id: METHOD.into(),
                name: "app".into(),
                username_format: "{{identity.entity.name}}".into(),
                settings: crate::mfa::Settings::Totp(crate::mfa::Totp {
                    issuer: "Acme".into(),
                    period: 30,
                    key_size: 20,
                    qr_size: 200,
                    algorithm: crate::mfa::Algorithm::SHA1,
                    digits: 6,
                    skew: 1,
                    max_validation_attempts: 5,
                }),
                secrets: Protected::Sealed(vec![5]),
                created_at: 1,
            }],
            enforcements: vec![crate::mfa::Enforcement {
                name: "admins".into(),
                id: "e1".into(),
                mfa_method_ids: vec![METHOD.into()],
                identity_entity_ids: vec!["a1".into()],
                ..Default::default()
            }],
            totp_enrolments: vec![TotpEnrolmentEntry {
                method_id: METHOD.into(),
                account_id: "a1".into(),
                params: crate::totp::Params { algorithm: crate::mfa::Algorithm::SHA1, digits: 6, period: 30, skew: 1 },
                secret: Protected::Sealed(vec![6]),
                last_step: 3,
                created_at: 1,
            }],
        }),
        identity_providers: Some(vec![IdentityProviderEntry {
            id: "idp1".into(),
            environment_id: ADMINS.into(),
            name: "Acme SSO".into(),
            issuer: "https://sso.acme.test".into(),
            client_id: "signet".into(),
            client_secret: Protected::Sealed(vec![7]),
            scopes: vec!["openid".into()],
            jit: false,
            mfa: Default::default(),
            created_at: 1,
        }]),
        federated_links: Some(vec![FederatedLinkEntry {
            issuer: "https://sso.acme.test".into(),
            subject: "s1".into(),
            account_id: "a1".into(),
            provider_id: "idp1".into(),
            created_at: 1,
        }]),
    }
}

const METHOD: &str = "00000000-0000-4000-8000-00000000000a";

fn refused(doc: &Configuration) -> Invalid {
    doc.validate(&ClaimEngine::new()).unwrap_err()
}

#[test]
fn a_valid_document_passes_and_round_trips_through_json() {
    let doc = document();
    doc.validate(&ClaimEngine::new()).unwrap();
    doc.check_signing_keys().unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    assert!(text.contains(r#""totp":{"sealed":"AQID"}"#), "{text}");
    assert_eq!(serde_json::from_str::<Configuration>(&text).unwrap(), doc);
}

#[test]
fn unknown_fields_and_missing_sections_are_refused() {
    let mut v = serde_json::to_value(document()).unwrap();
    v["accounts"][0]["is_root"] = true.into();
    assert!(serde_json::from_value::<Configuration>(v).unwrap_err().to_string().contains("is_root"));
    let mut v = serde_json::to_value(document()).unwrap();
    v.as_object_mut().unwrap().remove("accounts");
    assert!(serde_json::from_value::<Configuration>(v).is_err());
}

#[test]
fn an_application_cannot_take_a_persons_id() {
    let mut doc = document();
    doc.applications.push(ApplicationEntry {
        id: "a1".into(),
        environment_id: ADMINS.into(),
        name: "deployer".into(),
        kind: AppKind::Worker,
        secret_hash: Some(vec![0; 32]),
        redirect_uris: vec![],
        grant_types: [GrantType::ClientCredentials].into_iter().collect(),
        scopes: BTreeSet::new(),
        roles: [Role::Admin].into_iter().collect(),
        admin_api: false,
        created_at: 1,
        pkce_required: true,
    });
    assert_eq!(refused(&doc).path, "applications[0].id");
    doc.applications[0].id = "w1".into();
    doc.validate(&ClaimEngine::new()).unwrap();
}

#[test]
fn broken_references_and_rules_name_the_field() {
    let mut doc = document();
    doc.format = 2;
    assert_eq!(refused(&doc).path, "format");

    let mut doc = document();
    doc.accounts[0].environment_id = "elsewhere".into();
    assert_eq!(refused(&doc).path, "accounts[0].environment_id");

    let mut doc = document();
    doc.accounts.push(AccountEntry { id: "a2".into(), ..doc.accounts[0].clone() });
    assert_eq!(refused(&doc).path, "accounts[1].username");

    let mut doc = document();
    doc.environments[0].name = "Admins".into();
    assert!(refused(&doc).message.contains("Administrators"));

    let mut doc = document();
    doc.accounts[0].roles = [Role::UserAdmin].into_iter().collect();
    assert_eq!(refused(&doc).path, "accounts[0].roles");

    let mut doc = document();
    doc.accounts[0].active = false;
    assert!(refused(&doc).message.contains("UserAdmin"));

    let mut doc = document();
    doc.environments[0].id = "not-a-uuid".into();
    assert_eq!(refused(&doc).path, "environments[0].id");

    let mut doc = document();
    doc.claim_mappings.push(ClaimMappingEntry {
        id: "m".into(),
        environment_id: ADMINS.into(),
        claim: "sub".into(),
        expression: "1".into(),
        created_at: 1,
    });
    assert_eq!(refused(&doc).path, "claim_mappings[0]");

    let mut doc = document();
    doc.mfa.as_mut().unwrap().enforcements[0].mfa_method_ids = vec!["gone".into()];
    assert_eq!(refused(&doc).path, "mfa.enforcements[0].mfa_method_ids");

    let mut doc = document();
    let enforcement = &mut doc.mfa.as_mut().unwrap().enforcements[0];
    enforcement.mfa_method_ids.push(enforcement.mfa_method_ids[0].clone());
    assert_eq!(refused(&doc).path, "mfa.enforcements[0].mfa_method_ids", "a method named twice");

    let mut doc = document();
    doc.mfa.as_mut().unwrap().enforcements[0].identity_entity_ids = vec!["nobody".into()];
    assert_eq!(refused(&doc).path, "mfa.enforcements[0].identity_entity_ids");

    let mut doc = document();
    doc.mfa.as_mut().unwrap().totp_enrolments[0].account_id = "nobody".into();
    assert_eq!(refused(&doc).path, "mfa.totp_enrolments[0].account_id");

    let mut doc = document();
    doc.mfa.as_mut().unwrap().methods[0].username_format = "{{identity.entity.email}}".into();
    assert_eq!(refused(&doc).path, "mfa.methods[0].username_format");

    let mut doc = document();
    doc.mfa.as_mut().unwrap().methods[0].id = METHOD.to_uppercase();
    assert_eq!(refused(&doc).path, "mfa.methods[0].id");

    let mut doc = document();
    doc.federated_links.as_mut().unwrap()[0].account_id = "nobody".into();
    assert_eq!(refused(&doc).path, "federated_links[0].account_id");

    let mut doc = document();
    doc.identity_providers.as_mut().unwrap()[0].environment_id = "elsewhere".into();
    assert_eq!(refused(&doc).path, "identity_providers[0].environment_id");

    let mut doc = document();
    doc.identity_providers.as_mut().unwrap()[0].scopes = vec!["profile".into()];
    assert_eq!(refused(&doc).path, "identity_providers[0]");

    // A document from before MFA existed still imports.
    let mut v = serde_json::to_value(document()).unwrap();
    v.as_object_mut().unwrap().remove("mfa");
    let old: Configuration = serde_json::from_value(v).unwrap();
    assert_eq!(old.mfa, None);
    old.validate(&ClaimEngine::new()).unwrap();

    let mut doc = document();
    doc.signing_keys[0].retired_at = Some(5);
    doc.validate(&ClaimEngine::new()).unwrap();
    assert!(doc.check_signing_keys().unwrap_err().message.contains("0 active"));
}

#[test]
fn every_secret_is_mapped_with_its_purpose_and_path() {
    let mut doc = document();
    let mut seen = Vec::new();
    doc.map_secrets(|purpose, p| {
        seen.push(purpose.to_owned());
        let plain = p.sealed().unwrap().to_vec();
        Ok::<_, ()>(Protected::Plain(Secret::new(plain)))
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            "totp:a1".to_owned(),
            "signing-key:k1".into(),
            "ldap.bind_password".into(),
            crate::federation::secret_purpose("idp1"),
            crate::mfa::secrets_purpose(METHOD),
            crate::mfa::enrolment_purpose(METHOD, "a1"),
        ]
    );
    let text = serde_json::to_string(&doc).unwrap();
    assert!(text.contains(r#"{"plain":"AAE=","purpose":"ldap.bind_password"}"#), "{text}");
    assert!(format!("{doc:?}").contains("[redacted]"));
    let back: Configuration = serde_json::from_str(&text).unwrap();
    assert_eq!(back, doc);
    let err = doc.map_secrets(|purpose, _| if purpose.starts_with("signing") { Err("no") } else { Ok(p0()) });
    assert_eq!(err, Err(("signing_keys[0].private_key".to_owned(), "no")));
}

fn p0() -> Protected {
    Protected::Sealed(vec![0])
}
