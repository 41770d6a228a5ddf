//! The fixed cast of a corpus: accounts with their users, roles, buckets, keys and functions.
//! Derived only from `(seed, account index)`, so the same principal shows up with the same ids in
//! every file, the way a real trail repeats a few busy identities.

use crate::rng::Rng;

/// Real region names; the first `SynthConfig::regions` are used, `us-east-1` first because global
/// services (IAM) log there.
pub(crate) const REGIONS: &[&str] = &[
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "ap-northeast-1",
    "eu-central-1",
    "us-east-2",
    "ap-southeast-2",
    "sa-east-1",
    "ca-central-1",
    "eu-north-1",
    "ap-south-1",
    "us-west-1",
    "eu-west-2",
    "ap-southeast-1",
    "eu-west-3",
    "ap-northeast-2",
    "eu-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
];

pub(crate) struct User {
    pub name: String,
    pub id: String,
    pub key: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleKind {
    /// Instance profile: session name is an instance id, `ec2RoleDelivery` is set.
    Ec2,
    /// Lambda execution role: session name is the function name; sometimes `inScopeOf`.
    Lambda,
    /// IAM Identity Center permission set: human, session name is an e-mail, console sessions.
    Sso,
    /// CI via OIDC web identity: `webIdFederationData` filled, `sourceIdentity` sometimes.
    Ci,
    /// Used by AWS services on the customer's behalf (`invokedBy`).
    ServiceUse,
    /// Cross-account admin role assumed from another account.
    CrossAccount,
}

pub(crate) struct Role {
    pub name: String,
    pub id: String,
    pub kind: RoleKind,
}

pub(crate) struct Account {
    pub id: String,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub buckets: Vec<String>,
    pub kms_keys: Vec<String>,
    pub functions: Vec<String>,
    pub instances: Vec<String>,
    pub secrets: Vec<String>,
    pub identity_store: String,
    pub sso_users: Vec<String>,
    /// Client egress addresses of this account's humans and CI.
    pub ips: Vec<String>,
    pub vpce: String,
}

pub(crate) struct World {
    pub accounts: Vec<Account>,
    /// Accounts outside the corpus (partners, a security tooling account) for cross-account calls.
    pub external: Vec<String>,
    pub regions: Vec<&'static str>,
}

const USER_NAMES: &[&str] = &[
    "alice",
    "bob",
    "carol.nguyen",
    "deploy-bot",
    "ci-runner",
    "svc-backup",
    "dmitri",
    "legacy-etl",
];
const SSO_EMAILS: &[&str] = &[
    "maria.garcia@example.com",
    "j.muller@example.com",
    "kenji.sato@example.com",
    "ops-oncall@example.com",
];
const BUCKET_BASES: &[&str] = &[
    "data-lake-raw",
    "app-assets-prod",
    "logs-archive",
    "ml-training-sets",
    "customer-exports",
];
const FUNCTION_NAMES: &[&str] = &[
    "image-resizer",
    "order-events-consumer",
    "nightly-report",
    "auth-token-rotator",
    "s3-object-indexer",
];
const SECRET_NAMES: &[&str] = &[
    "prod/db/postgres",
    "prod/api/stripe",
    "staging/db/mysql",
    "shared/slack-webhook",
];

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| (b'0' + rng.below(10) as u8) as char)
        .collect()
}

fn prefixed(rng: &mut Rng, prefix: &str, n: usize) -> String {
    let mut s = String::from(prefix);
    rng.push_upper(&mut s, n);
    s
}

impl World {
    pub(crate) fn new(seed: u64, accounts: usize, regions: usize) -> World {
        let mut rng = Rng::new(seed, u64::MAX - 1);
        let mut ids: Vec<String> = Vec::with_capacity(accounts + 3);
        while ids.len() < accounts + 3 {
            // The first account has a leading zero: consumers that parse ids as numbers lose it.
            let id = if ids.is_empty() {
                format!("0{}", digits(&mut rng, 11))
            } else {
                format!("{}{}", rng.range(1, 9), digits(&mut rng, 11))
            };
            if !ids.contains(&id) && id != "000000000000" {
                ids.push(id);
            }
        }
        let external = ids.split_off(accounts);
        let accounts = ids
            .into_iter()
            .enumerate()
            .map(|(i, id)| Account::new(seed, i, id))
            .collect();
        World {
            accounts,
            external,
            regions: REGIONS[..regions].to_vec(),
        }
    }
}

impl Account {
    fn new(seed: u64, idx: usize, id: String) -> Account {
        let mut rng = Rng::new(seed, u64::MAX - 100 - idx as u64);
        let users = USER_NAMES
            .iter()
            .map(|n| User {
                name: (*n).to_string(),
                id: prefixed(&mut rng, "AIDA", 17),
                key: prefixed(&mut rng, "AKIA", 16),
            })
            .collect();
        let mut sso_suffix = String::new();
        rng.push_hex(&mut sso_suffix, 16);
        let role_defs: [(String, RoleKind); 7] = [
            ("ec2-app-role".into(), RoleKind::Ec2),
            ("lambda-exec-orders".into(), RoleKind::Lambda),
            (
                format!("AWSReservedSSO_AdministratorAccess_{sso_suffix}"),
                RoleKind::Sso,
            ),
            (
                format!("AWSReservedSSO_ReadOnlyAccess_{}", &sso_suffix[..12]),
                RoleKind::Sso,
            ),
            ("github-actions-deploy".into(), RoleKind::Ci),
            ("AWSServiceRoleForConfig".into(), RoleKind::ServiceUse),
            (
                "OrganizationAccountAccessRole".into(),
                RoleKind::CrossAccount,
            ),
        ];
        let roles = role_defs
            .into_iter()
            .map(|(name, kind)| Role {
                name,
                id: prefixed(&mut rng, "AROA", 17),
                kind,
            })
            .collect();
        let tail = &id[8..];
        let buckets = BUCKET_BASES.iter().map(|b| format!("{b}-{tail}")).collect();
        let kms_keys = (0..3)
            .map(|_| {
                let mut s = String::new();
                rng.push_uuid(&mut s);
                s
            })
            .collect();
        let functions = FUNCTION_NAMES.iter().map(|f| (*f).to_string()).collect();
        let instances = (0..6)
            .map(|_| {
                let mut s = String::from("i-0");
                rng.push_hex(&mut s, 16);
                s
            })
            .collect();
        let secrets = SECRET_NAMES
            .iter()
            .map(|s| {
                let mut v = format!("{s}-");
                rng.push_alnum(&mut v, 6);
                v
            })
            .collect();
        let mut identity_store = String::from("d-");
        rng.push_hex(&mut identity_store, 10);
        let sso_users = SSO_EMAILS
            .iter()
            .map(|_| {
                let mut s = digits(&mut rng, 10);
                s.push('-');
                rng.push_uuid(&mut s);
                s
            })
            .collect();
        let ips = (0..4)
            .map(|k| match k {
                0 => format!("203.0.113.{}", rng.range(2, 254)),
                1 => format!("198.51.100.{}", rng.range(2, 254)),
                2 => format!(
                    "54.{}.{}.{}",
                    rng.range(64, 95),
                    rng.below(256),
                    rng.range(1, 254)
                ),
                _ => format!(
                    "2001:db8:{:x}::{:x}",
                    rng.below(0xFFFF),
                    rng.range(1, 0xFFFF)
                ),
            })
            .collect();
        let mut vpce = String::from("vpce-0");
        rng.push_hex(&mut vpce, 16);
        Account {
            id,
            users,
            roles,
            buckets,
            kms_keys,
            functions,
            instances,
            secrets,
            identity_store,
            sso_users,
            ips,
            vpce,
        }
    }

    pub(crate) fn sso_email(&self, i: usize) -> &'static str {
        SSO_EMAILS[i % SSO_EMAILS.len()]
    }
}
