//! CloudTrail records, written field by field in the order AWS writes them.
//!
//! The mix is skewed the way real trails are (S3 data events dominate, then KMS, EC2 reads, STS),
//! and each kind carries the quirks a parser has to survive: free-form fields that change type,
//! missing `requestID`, `userIdentity` without `type`, string booleans, integer and float numbers,
//! non-ASCII text and records close to the 256 KB event limit.

use std::borrow::Cow;
use std::fmt::Write;

use crate::json::{escape_inner, Json};
use crate::rng::{push_event_id, Rng};
use crate::time::{push_iso, push_java_date};
use crate::world::{Account, RoleKind, World};

/// Attacker infrastructure: a few addresses that only ever show up doing suspicious things.
const ATTACKER_IPS: &[&str] = &["185.220.101.47", "45.137.21.9", "193.42.33.190"];
const ATTACKER_UAS: &[&str] = &[
    "python-requests/2.31.0",
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15.0-kali3-amd64 md/arch#x86_64 lang/python#3.11.6 Botocore/1.34.0 (pacu)",
    "aws-cli/1.16.312 Python/2.7.18 Linux/5.4.0 botocore/1.13.48",
];
const SDK_UAS: &[&str] = &[
    "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.cp]",
    "aws-sdk-java/1.12.620 Linux/5.10.209-198.858.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS java/17.0.10 vendor/Amazon.com_Inc. cfg/retry-mode/standard",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.72 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1",
    "aws-sdk-js/3.525.0 ua/2.0 os/linux#5.10.209 lang/js md/nodejs#20.11.1 api/s3#3.525.0",
    "[aws-sdk-rust/1.1.7 os/linux lang/rust#1.76.0]",
];
/// Non-ASCII user agents: custom tooling names are free text and end up verbatim in the log.
const UNICODE_UAS: &[&str] = &[
    "Größenprüfer/1.4 (café-edition) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0",
    "データ同期ツール/2.1 aws-sdk-js/3.525.0 ua/2.0 os/win32#10.0.22631 lang/js",
    "backup-bot 🚀/0.9 Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.72 lang/python#3.12.2",
    "Ñandú-exporter/3.0 (señal=ok) aws-sdk-java/2.25.6 Linux/5.10 OpenJDK_64-Bit_Server_VM/21.0.2+13-LTS",
];
const BROWSER_UAS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.128",
];
const TAG_VALUES: &[&str] = &[
    "platform",
    "Überwachung",
    "データ基盤",
    "équipe-sécurité",
    "🚀 launch",
    "finance",
];

/// Per-file generation state. One per file, owned by one rayon task.
pub(crate) struct Gen<'a> {
    pub w: Json,
    pub rng: Rng,
    pub world: &'a World,
    pub acct: &'a Account,
    pub region: &'static str,
    pub seed: u64,
    /// The id space of this file's eventIDs (see `rng::push_event_id`).
    pub stream: u64,
    pub rec: u64,
    /// The record being written is a late (DELIVERY_DELAY) event.
    late: bool,
    /// The requestID of the record being written, for `addendum.originalRequestID`.
    req_id: String,
    pub oldest: i64,
    pub newest: i64,
}

#[derive(Clone, Copy)]
enum Kind {
    S3Get,
    S3Put,
    S3List,
    KmsDecrypt,
    KmsGenerateDataKey,
    Ec2Describe,
    StsAssumeRole,
    StsGetCallerIdentity,
    Iam,
    LambdaInvoke,
    LambdaUpdateCode,
    ConsoleLogin,
    ServiceEvent,
    Glue,
    LakeFormation,
    SecretsManager,
    SsoPortal,
}

/// Relative frequencies (per mille), skewed like a busy production trail with S3 data events on.
const MIX: &[(Kind, u32)] = &[
    (Kind::S3Get, 300),
    (Kind::S3Put, 120),
    (Kind::S3List, 60),
    (Kind::KmsDecrypt, 110),
    (Kind::KmsGenerateDataKey, 40),
    (Kind::Ec2Describe, 110),
    (Kind::StsAssumeRole, 70),
    (Kind::StsGetCallerIdentity, 5),
    (Kind::Iam, 40),
    (Kind::LambdaInvoke, 45),
    (Kind::LambdaUpdateCode, 8),
    (Kind::ConsoleLogin, 15),
    (Kind::ServiceEvent, 30),
    (Kind::Glue, 12),
    (Kind::LakeFormation, 8),
    (Kind::SecretsManager, 22),
    (Kind::SsoPortal, 5),
];

/// Who made the call.
#[derive(Clone, Copy)]
enum Actor {
    Root,
    /// IAM user with a long-term key.
    User(usize),
    /// IAM user in a console session (`ASIA` key, `sessionCredentialFromConsole`).
    ConsoleUser(usize),
    Role(usize),
    /// A role in an account outside the corpus (cross-account access, `sharedEventID`).
    External(usize),
    Service(&'static str),
    /// `{"accountId": .., "invokedBy": ..}` without `type`, as AWS writes for service events.
    NoType(&'static str),
    Federated(usize),
    IdentityCenter(usize),
}

enum ReqId {
    None,
    Uuid,
    /// S3's 16 upper-case hex characters.
    S3,
}

/// Fields after `resources`.
struct Tail<'t> {
    event_type: &'static str,
    api_version: Option<&'static str>,
    management: Option<bool>,
    shared: bool,
    vpce: bool,
    service_details: Option<&'t str>,
    category: &'static str,
    console: bool,
    tls_host: Option<Cow<'t, str>>,
    edge: bool,
}

impl Default for Tail<'_> {
    fn default() -> Self {
        Tail {
            event_type: "AwsApiCall",
            api_version: None,
            management: Some(true),
            shared: false,
            vpce: false,
            service_details: None,
            category: "Management",
            console: false,
            tls_host: None,
            edge: false,
        }
    }
}

impl<'a> Gen<'a> {
    pub(crate) fn new(
        world: &'a World,
        acct: &'a Account,
        region: &'static str,
        rng: Rng,
        seed: u64,
        stream: u64,
        cap: usize,
    ) -> Self {
        Gen {
            w: Json::with_capacity(cap),
            rng,
            world,
            acct,
            region,
            seed,
            stream,
            rec: 0,
            late: false,
            req_id: String::with_capacity(40),
            oldest: i64::MAX,
            newest: i64::MIN,
        }
    }

    /// Writes one record. `late` adds a DELIVERY_DELAY addendum; `big` makes it a ~200-250 KB
    /// record, just under CloudTrail's 256 KB event limit.
    pub(crate) fn record(&mut self, t: i64, late: bool, big: bool) {
        self.late = late;
        self.oldest = self.oldest.min(t);
        self.newest = self.newest.max(t);
        if big {
            self.big_record(t);
        } else if self.rng.chance(1.0 / 5000.0) {
            self.s3_delete_objects(t, None);
        } else {
            let mut roll = self.rng.below(1000) as u32;
            let mut kind = Kind::S3Get;
            for &(k, weight) in MIX {
                if roll < weight {
                    kind = k;
                    break;
                }
                roll -= weight;
            }
            match kind {
                Kind::S3Get => self.s3_object(t, 0),
                Kind::S3Put => self.s3_object(t, 1),
                Kind::S3List => self.s3_object(t, 2),
                Kind::KmsDecrypt => self.kms(t, false),
                Kind::KmsGenerateDataKey => self.kms(t, true),
                Kind::Ec2Describe => self.ec2_describe(t),
                Kind::StsAssumeRole => self.sts_assume_role(t),
                Kind::StsGetCallerIdentity => self.sts_get_caller_identity(t),
                // IAM is global and logs in us-east-1 only.
                Kind::Iam if self.region == "us-east-1" => self.iam(t),
                Kind::Iam => self.ec2_describe(t),
                Kind::LambdaInvoke => self.lambda_invoke(t),
                Kind::LambdaUpdateCode => self.lambda_update_code(t),
                Kind::ConsoleLogin => self.console_login(t),
                Kind::ServiceEvent => self.service_event(t),
                Kind::Glue => self.glue(t),
                Kind::LakeFormation => self.lake_formation(t),
                Kind::SecretsManager => self.secrets(t),
                Kind::SsoPortal => self.sso_portal(t),
            }
        }
        self.rec += 1;
    }

    // ---------------------------------------------------------------- identities

    fn role_of(&mut self, kind: RoleKind) -> usize {
        let roles = &self.acct.roles;
        let matching = roles.iter().filter(|r| r.kind == kind).count();
        let nth = self.rng.idx(matching.max(1));
        roles
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == kind)
            .nth(nth)
            .map_or(0, |(i, _)| i)
    }

    fn workload_role(&mut self) -> usize {
        match self.rng.below(10) {
            0..=3 => self.role_of(RoleKind::Ec2),
            4..=6 => self.role_of(RoleKind::Lambda),
            _ => self.role_of(RoleKind::Ci),
        }
    }

    fn write_creation(&mut self, t: i64) {
        let created = t - self.rng.range(30, 6 * 3600) as i64;
        self.w.key("creationDate");
        self.w.open_raw_str();
        if self.rng.chance(0.02) {
            // The docs also show the basic ISO-8601 form.
            let mut s = String::with_capacity(20);
            push_iso(&mut s, created);
            self.w
                .buf
                .extend(s.chars().filter(|c| *c != '-' && *c != ':'));
        } else {
            push_iso(&mut self.w.buf, created);
        }
        self.w.close_raw_str();
    }

    fn write_asia(&mut self) {
        self.w.key("accessKeyId");
        self.w.open_raw_str();
        self.w.buf.push_str("ASIA");
        self.rng.push_upper(&mut self.w.buf, 16);
        self.w.close_raw_str();
    }

    /// Writes `userIdentity`. Returns the principal ARN (for error messages) if it has one.
    fn identity(&mut self, actor: Actor, t: i64, invoked_by: Option<&'static str>) -> String {
        let acct = self.acct;
        let id = acct.id.as_str();
        let mut arn = String::new();
        self.w.kv_obj("userIdentity");
        match actor {
            Actor::Root => {
                let _ = write!(arn, "arn:aws:iam::{id}:root");
                self.w.kv_str("type", "Root");
                self.w.kv_str("principalId", id);
                self.w.kv_str("arn", &arn);
                self.w.kv_str("accountId", id);
                if self.rng.chance(0.5) {
                    self.write_asia();
                } else {
                    self.w.kv_str("accessKeyId", "");
                }
            }
            Actor::User(u) | Actor::ConsoleUser(u) => {
                let user = &acct.users[u];
                let _ = write!(arn, "arn:aws:iam::{id}:user/{}", user.name);
                self.w.kv_str("type", "IAMUser");
                self.w.kv_str("principalId", &user.id);
                self.w.kv_str("arn", &arn);
                self.w.kv_str("accountId", id);
                if matches!(actor, Actor::ConsoleUser(_)) {
                    self.write_asia();
                    self.w.kv_str("userName", &user.name);
                    self.w.kv_obj("sessionContext");
                    self.w.kv_obj("sessionIssuer");
                    self.w.end_obj();
                    self.w.kv_obj("webIdFederationData");
                    self.w.end_obj();
                    self.w.kv_obj("attributes");
                    self.write_creation(t);
                    self.w.kv_str(
                        "mfaAuthenticated",
                        if self.rng.chance(0.8) {
                            "true"
                        } else {
                            "false"
                        },
                    );
                    self.w.end_obj();
                    self.w.end_obj();
                } else {
                    self.w.kv_str("accessKeyId", &user.key);
                    self.w.kv_str("userName", &user.name);
                }
            }
            Actor::Role(r) => {
                let role = &acct.roles[r];
                let session: Cow<'_, str> = match role.kind {
                    RoleKind::Ec2 => Cow::Borrowed(self.rng.pick(&acct.instances).as_str()),
                    RoleKind::Lambda => Cow::Borrowed(self.rng.pick(&acct.functions).as_str()),
                    RoleKind::Sso => Cow::Borrowed(acct.sso_email(self.rng.idx(4))),
                    RoleKind::Ci => Cow::Owned(format!(
                        "GitHubActions-{}",
                        7_000_000_000u64 + self.rng.below(900_000_000)
                    )),
                    RoleKind::ServiceUse => Cow::Borrowed("AWSConfig-Describe"),
                    RoleKind::CrossAccount => Cow::Owned(format!(
                        "botocore-session-{}",
                        t - self.rng.below(7200) as i64
                    )),
                };
                let _ = write!(
                    arn,
                    "arn:aws:sts::{id}:assumed-role/{}/{session}",
                    role.name
                );
                self.w.kv_str("type", "AssumedRole");
                self.w
                    .kv_strf("principalId", format_args!("{}:{session}", role.id));
                self.w.kv_str("arn", &arn);
                self.w.kv_str("accountId", id);
                self.write_asia();
                self.w.kv_obj("sessionContext");
                self.w.kv_obj("sessionIssuer");
                self.w.kv_str("type", "Role");
                self.w.kv_str("principalId", &role.id);
                self.w
                    .kv_strf("arn", format_args!("arn:aws:iam::{id}:role/{}", role.name));
                self.w.kv_str("accountId", id);
                self.w.kv_str("userName", &role.name);
                self.w.end_obj();
                self.w.kv_obj("webIdFederationData");
                if role.kind == RoleKind::Ci {
                    self.w.kv_strf(
                        "federatedProvider",
                        format_args!(
                            "arn:aws:iam::{id}:oidc-provider/token.actions.githubusercontent.com"
                        ),
                    );
                    self.w.kv_obj("attributes");
                    self.w.end_obj();
                }
                self.w.end_obj();
                self.w.kv_obj("attributes");
                self.write_creation(t);
                let mfa = role.kind == RoleKind::Sso && self.rng.chance(0.7);
                self.w
                    .kv_str("mfaAuthenticated", if mfa { "true" } else { "false" });
                self.w.end_obj();
                if role.kind == RoleKind::Ci && self.rng.chance(0.5) {
                    self.w
                        .kv_str("sourceIdentity", "deploy-pipeline@example.com");
                }
                if role.kind == RoleKind::Ec2 {
                    self.w.kv_str(
                        "ec2RoleDelivery",
                        if self.rng.chance(0.8) { "2.0" } else { "1.0" },
                    );
                }
                self.w.end_obj();
                if let Some(by) = invoked_by {
                    self.w.kv_str("invokedBy", by);
                }
                if role.kind == RoleKind::Lambda && self.rng.chance(0.3) {
                    let f = self.rng.pick(&acct.functions);
                    let region = self.region;
                    self.w.kv_obj("inScopeOf");
                    self.w.kv_strf(
                        "sourceArn",
                        format_args!("arn:aws:lambda:{region}:{id}:function:{f}"),
                    );
                    self.w.kv_str("sourceAccount", id);
                    self.w.kv_str("issuerType", "AWS::Lambda::Function");
                    self.w.kv_strf(
                        "credentialsIssuedTo",
                        format_args!("arn:aws:lambda:{region}:{id}:function:{f}"),
                    );
                    self.w.end_obj();
                }
            }
            Actor::External(e) => {
                let world = self.world;
                let ext = world.external[e % world.external.len()].as_str();
                let mut rid = String::from("AROA");
                self.rng.push_upper(&mut rid, 17);
                let _ = write!(
                    arn,
                    "arn:aws:sts::{ext}:assumed-role/partner-data-reader/etl-{e}"
                );
                self.w.kv_str("type", "AssumedRole");
                self.w.kv_strf("principalId", format_args!("{rid}:etl-{e}"));
                self.w.kv_str("arn", &arn);
                self.w.kv_str("accountId", ext);
                self.write_asia();
                self.w.kv_obj("sessionContext");
                self.w.kv_obj("sessionIssuer");
                self.w.kv_str("type", "Role");
                self.w.kv_str("principalId", &rid);
                self.w.kv_strf(
                    "arn",
                    format_args!("arn:aws:iam::{ext}:role/partner-data-reader"),
                );
                self.w.kv_str("accountId", ext);
                self.w.kv_str("userName", "partner-data-reader");
                self.w.end_obj();
                self.w.kv_obj("attributes");
                self.write_creation(t);
                self.w.kv_str("mfaAuthenticated", "false");
                self.w.end_obj();
                self.w.end_obj();
            }
            Actor::Service(by) => {
                self.w.kv_str("type", "AWSService");
                self.w.kv_str("invokedBy", by);
            }
            Actor::NoType(by) => {
                self.w.kv_str("accountId", id);
                self.w.kv_str("invokedBy", by);
            }
            Actor::Federated(u) => {
                let issuer = &acct.users[u];
                let _ = write!(arn, "arn:aws:sts::{id}:federated-user/{}-fed", issuer.name);
                self.w.kv_str("type", "FederatedUser");
                self.w
                    .kv_strf("principalId", format_args!("{id}:{}-fed", issuer.name));
                self.w.kv_str("arn", &arn);
                self.w.kv_str("accountId", id);
                self.write_asia();
                self.w.kv_obj("sessionContext");
                self.w.kv_obj("sessionIssuer");
                self.w.kv_str("type", "IAMUser");
                self.w.kv_str("principalId", &issuer.id);
                self.w.kv_strf(
                    "arn",
                    format_args!("arn:aws:iam::{id}:user/{}", issuer.name),
                );
                self.w.kv_str("accountId", id);
                self.w.kv_str("userName", &issuer.name);
                self.w.end_obj();
                self.w.kv_obj("webIdFederationData");
                self.w.end_obj();
                self.w.kv_obj("attributes");
                self.write_creation(t);
                self.w.kv_str("mfaAuthenticated", "false");
                self.w.end_obj();
                self.w.end_obj();
            }
            Actor::IdentityCenter(u) => {
                let uid = &acct.sso_users[u % acct.sso_users.len()];
                self.w.kv_str("type", "IdentityCenterUser");
                self.w.kv_str("accountId", id);
                self.w.kv_obj("onBehalfOf");
                self.w.kv_str("userId", uid);
                self.w.kv_strf(
                    "identityStoreArn",
                    format_args!(
                        "arn:aws:identitystore::{id}:identitystore/{}",
                        acct.identity_store
                    ),
                );
                self.w.end_obj();
                self.w.key("credentialId");
                self.w.open_raw_str();
                self.rng.push_alnum(&mut self.w.buf, 32);
                self.w.close_raw_str();
            }
        }
        self.w.end_obj();
        arn
    }

    // ---------------------------------------------------------------- envelope

    fn version(&mut self, choices: &[&'static str]) -> &'static str {
        self.rng.pick_str(choices)
    }

    /// `eventVersion` through `errorMessage`. Returns the principal ARN.
    #[allow(clippy::too_many_arguments)]
    fn head(
        &mut self,
        version: &'static str,
        actor: Actor,
        invoked_by: Option<&'static str>,
        t: i64,
        source: &str,
        name: &str,
        ip: &str,
        ua: Option<&str>,
    ) -> String {
        self.w.begin_obj();
        self.w.kv_str("eventVersion", version);
        let arn = self.identity(actor, t, invoked_by);
        self.w.key("eventTime");
        self.w.open_raw_str();
        push_iso(&mut self.w.buf, t);
        self.w.close_raw_str();
        self.w.kv_str("eventSource", source);
        self.w.kv_str("eventName", name);
        self.w.kv_str("awsRegion", self.region);
        self.w.kv_str("sourceIPAddress", ip);
        if let Some(ua) = ua {
            self.w.kv_str("userAgent", ua);
        }
        arn
    }

    fn error(&mut self, code: Option<&str>, message: &str) {
        if let Some(code) = code {
            self.w.kv_str("errorCode", code);
        }
        self.w.kv_str("errorMessage", message);
    }

    /// `requestID`, `eventID`, `readOnly`.
    fn ids(&mut self, req: ReqId, read_only: Option<bool>) {
        self.req_id.clear();
        match req {
            ReqId::None => {}
            ReqId::Uuid => self.rng.push_uuid(&mut self.req_id),
            ReqId::S3 => {
                self.rng.push_hex(&mut self.req_id, 16);
                self.req_id.make_ascii_uppercase();
            }
        }
        if !self.req_id.is_empty() {
            self.w.kv_str("requestID", &self.req_id);
        }
        self.w.key("eventID");
        self.w.open_raw_str();
        push_event_id(
            &mut self.w.buf,
            self.seed,
            self.stream,
            self.rec,
            &mut self.rng,
        );
        self.w.close_raw_str();
        if let Some(ro) = read_only {
            self.w.kv_bool("readOnly", ro);
        }
    }

    fn resource(&mut self, account: Option<&str>, typ: &str, arn_key: &str, arn: &str) {
        self.w.begin_obj();
        if let Some(a) = account {
            self.w.kv_str("accountId", a);
        }
        self.w.kv_str("type", typ);
        self.w.kv_str(arn_key, arn);
        self.w.end_obj();
    }

    fn tail(&mut self, tail: Tail<'_>) {
        let id = self.acct.id.as_str();
        self.w.kv_str("eventType", tail.event_type);
        if let Some(v) = tail.api_version {
            self.w.kv_str("apiVersion", v);
        }
        if let Some(m) = tail.management {
            self.w.kv_bool("managementEvent", m);
        }
        self.w.kv_str("recipientAccountId", id);
        if tail.shared {
            self.w.key("sharedEventID");
            self.w.open_raw_str();
            self.rng.push_uuid(&mut self.w.buf);
            self.w.close_raw_str();
        }
        if tail.vpce {
            self.w.kv_str("vpcEndpointId", &self.acct.vpce);
            self.w.kv_str("vpcEndpointAccountId", id);
        }
        if let Some(details) = tail.service_details {
            self.w.key("serviceEventDetails");
            self.w.raw(details);
        }
        self.w.kv_str("eventCategory", tail.category);
        if self.late {
            self.w.kv_obj("addendum");
            self.w.kv_str("reason", "DELIVERY_DELAY");
            if self.rng.chance(0.4) {
                self.w
                    .kv_str("updatedFields", "eventTime,requestParameters");
            }
            self.w.key("originalRequestID");
            self.w.open_raw_str();
            if self.req_id.is_empty() {
                self.rng.push_uuid(&mut self.w.buf);
            } else {
                self.w.buf.push_str(&self.req_id);
            }
            self.w.close_raw_str();
            self.w.key("originalEventID");
            self.w.open_raw_str();
            self.rng.push_uuid(&mut self.w.buf);
            self.w.close_raw_str();
            self.w.end_obj();
        }
        if let Some(host) = tail.tls_host {
            self.w.kv_obj("tlsDetails");
            let v13 = self.rng.chance(0.8);
            self.w
                .kv_str("tlsVersion", if v13 { "TLSv1.3" } else { "TLSv1.2" });
            self.w.kv_str(
                "cipherSuite",
                if v13 {
                    "TLS_AES_128_GCM_SHA256"
                } else {
                    "ECDHE-RSA-AES128-GCM-SHA256"
                },
            );
            self.w.kv_str("clientProvidedHostHeader", &host);
            if v13 && self.rng.chance(0.3) {
                self.w.kv_str("keyExchange", "x25519");
            }
            self.w.end_obj();
        }
        if tail.console {
            self.w.kv_str("sessionCredentialFromConsole", "true");
        }
        if tail.edge {
            self.w.kv_obj("edgeDeviceDetails");
            self.w.kv_str("type", "outposts");
            self.w.key("deviceID");
            self.w.open_raw_str();
            self.w.buf.push_str("op-0");
            self.rng.push_hex(&mut self.w.buf, 16);
            self.w.close_raw_str();
            self.w.end_obj();
        }
        self.w.end_obj();
    }

    // ---------------------------------------------------------------- helpers

    fn client_ip(&mut self) -> &'a str {
        let acct = self.acct;
        self.rng.pick(&acct.ips).as_str()
    }

    fn sdk_ua(&mut self) -> &'static str {
        if self.rng.chance(0.03) {
            self.rng.pick_str(UNICODE_UAS)
        } else {
            self.rng.pick_str(SDK_UAS)
        }
    }

    fn browser_ua(&mut self) -> &'static str {
        self.rng.pick_str(BROWSER_UAS)
    }

    fn private_ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.rng.below(8),
            self.rng.below(256),
            self.rng.range(4, 250)
        )
    }

    fn object_key(&mut self) -> String {
        let n = self.rng.below(100_000);
        match self.rng.below(100) {
            0..=1 => format!("reports/2024/Q1/résumé-finance-{n}.pdf"),
            2 => format!("data/日本語/売上データ_{n}.csv"),
            3 => format!("fotos/Grüße aus München {n}.jpg"),
            4 => format!("uploads/🎉party-{n}.png"),
            5 => format!("exports/Straße_Ñandú_{n}.json"),
            6..=30 => format!("logs/app/2024/03/{:02}/part-{n:05}.gz", 1 + n % 28),
            31..=50 => {
                let mut s = String::from("raw/events/dt=2024-03-01/");
                self.rng.push_uuid(&mut s);
                s.push_str(".parquet");
                s
            }
            51..=70 => {
                let mut s = String::from("images/thumbnails/");
                self.rng.push_hex(&mut s, 12);
                s.push_str(".png");
                s
            }
            71..=85 => format!("backups/db/nightly/dump-{n}.sql.gz"),
            _ => format!("static/js/main.{n:x}.js"),
        }
    }

    fn s3_host(&self, bucket: &str) -> String {
        if self.region == "us-east-1" {
            format!("{bucket}.s3.amazonaws.com")
        } else {
            format!("{bucket}.s3.{}.amazonaws.com", self.region)
        }
    }

    fn s3_additional(&mut self, bytes_in: u64, bytes_out: Option<u64>) {
        let floats = self.rng.chance(0.5);
        self.w.kv_obj("additionalEventData");
        self.w.kv_str("SignatureVersion", "SigV4");
        self.w.kv_str("CipherSuite", "TLS_AES_128_GCM_SHA256");
        if floats {
            self.w.kv_float("bytesTransferredIn", bytes_in as f64);
        } else {
            self.w.kv_int("bytesTransferredIn", bytes_in as i64);
        }
        self.w.kv_str("AuthenticationMethod", "AuthHeader");
        self.w.key("x-amz-id-2");
        self.w.open_raw_str();
        self.rng.push_b64(&mut self.w.buf, 76);
        self.w.close_raw_str();
        if let Some(out) = bytes_out {
            if floats {
                self.w.kv_float("bytesTransferredOut", out as f64);
            } else {
                self.w.kv_int("bytesTransferredOut", out as i64);
            }
        }
        self.w.end_obj();
    }

    fn service_host(&self, service: &str) -> String {
        format!("{service}.{}.amazonaws.com", self.region)
    }

    // ---------------------------------------------------------------- S3 data events

    /// GetObject (op 0), PutObject (1), ListObjects (2).
    fn s3_object(&mut self, t: i64, op: u8) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let bucket = self.rng.pick(&acct.buckets).as_str();
        let roll = self.rng.below(100);
        let (actor, console, invoked_by) = match roll {
            0..=54 => (Actor::Role(self.workload_role()), false, None),
            55..=69 => (Actor::User(self.rng.idx(acct.users.len())), false, None),
            70..=79 => (Actor::External(self.rng.idx(3)), false, None),
            80..=89 => (Actor::Role(self.role_of(RoleKind::Sso)), true, None),
            _ => (
                Actor::Role(self.role_of(RoleKind::ServiceUse)),
                false,
                Some("athena.amazonaws.com"),
            ),
        };
        let vpce = matches!(actor, Actor::Role(_)) && !console && self.rng.chance(0.15);
        let ip: Cow<'_, str> = if let Some(by) = invoked_by {
            Cow::Borrowed(by)
        } else if vpce {
            Cow::Owned(self.private_ip())
        } else {
            Cow::Borrowed(self.client_ip())
        };
        let ua: &str = match (console, invoked_by) {
            (_, Some(by)) => by,
            (true, _) => "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.217-183.860.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
            _ => self.sdk_ua(),
        };
        let edge = self.rng.chance(0.003);
        let source = if edge {
            "s3-outposts.amazonaws.com"
        } else {
            "s3.amazonaws.com"
        };
        let name = ["GetObject", "PutObject", "ListObjects"][op as usize];
        let key = if op == 2 {
            String::new()
        } else {
            self.object_key()
        };
        let prefix = if op == 2 {
            *self.rng.pick(&[
                "",
                "logs/app/2024/03/",
                "raw/events/",
                "fotos/",
                "backups/db/",
            ])
        } else {
            ""
        };
        let error = match self.rng.below(100) {
            0 if op == 0 => Some(("NoSuchKey", "The specified key does not exist.")),
            1 => Some(("AccessDenied", "Access Denied")),
            _ => None,
        };
        let version = self.version(&["1.08", "1.09", "1.10", "1.10", "1.11"]);
        self.head(version, actor, invoked_by, t, source, name, &ip, Some(ua));
        if let Some((code, msg)) = error {
            self.error(Some(code), msg);
        }
        let host = self.s3_host(bucket);
        self.w.kv_obj("requestParameters");
        match op {
            2 => {
                self.w.kv_str("list-type", "2");
                self.w.kv_str("bucketName", bucket);
                self.w.kv_str("encoding-type", "url");
                self.w.kv_str("prefix", prefix);
                if self.rng.chance(0.5) {
                    self.w.kv_str("delimiter", "/");
                }
                self.w.kv_str("Host", &host);
                if self.rng.chance(0.3) {
                    self.w.kv_str("max-keys", "1000");
                }
            }
            _ => {
                self.w.kv_str("bucketName", bucket);
                self.w.kv_str("Host", &host);
                self.w.kv_str("key", &key);
                if op == 1 {
                    if self.rng.chance(0.4) {
                        self.w.kv_str("x-amz-server-side-encryption", "aws:kms");
                    }
                    if self.rng.chance(0.15) {
                        let v = *self.rng.pick(TAG_VALUES);
                        self.w
                            .kv_strf("x-amz-tagging", format_args!("team={v}&env=prod"));
                    }
                } else if self.rng.chance(0.3) {
                    self.w.kv_str("x-id", "GetObject");
                }
            }
        }
        self.w.end_obj();
        if op == 1 && error.is_none() && self.rng.chance(0.7) {
            self.w.kv_obj("responseElements");
            if self.rng.chance(0.5) {
                self.w.kv_str("x-amz-server-side-encryption", "aws:kms");
                let k = self.rng.pick(&acct.kms_keys).as_str();
                let region = self.region;
                self.w.kv_strf(
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    format_args!("arn:aws:kms:{region}:{id}:key/{k}"),
                );
                self.w
                    .kv_str("x-amz-server-side-encryption-bucket-key-enabled", "true");
            } else {
                self.w.kv_str("x-amz-server-side-encryption", "AES256");
            }
            self.w.key("x-amz-version-id");
            self.w.open_raw_str();
            self.rng.push_alnum(&mut self.w.buf, 32);
            self.w.close_raw_str();
            self.w.end_obj();
        } else {
            self.w.kv_null("responseElements");
        }
        let size = self.rng.log_uniform(1, 50_000_000);
        match (op, error.is_some()) {
            (_, true) => self.s3_additional(0, Some(243)),
            (1, _) => self.s3_additional(size, Some(0)),
            (2, _) => {
                let ms = self.rng.range(300, 40_000);
                self.s3_additional(0, Some(ms))
            }
            _ => self.s3_additional(0, Some(size)),
        }
        self.ids(ReqId::S3, Some(op != 1));
        self.w.kv_arr("resources");
        if op == 2 {
            self.resource(
                None,
                "AWS::S3::Object",
                "ARNPrefix",
                &format!("arn:aws:s3:::{bucket}/{prefix}"),
            );
        } else {
            self.resource(
                None,
                "AWS::S3::Object",
                "ARN",
                &format!("arn:aws:s3:::{bucket}/{key}"),
            );
        }
        self.resource(
            Some(id),
            "AWS::S3::Bucket",
            "ARN",
            &format!("arn:aws:s3:::{bucket}"),
        );
        self.w.end_arr();
        let shared = matches!(actor, Actor::External(_));
        let tls_host = if invoked_by.is_some() {
            None
        } else {
            Some(Cow::Owned(host))
        };
        self.tail(Tail {
            management: Some(false),
            shared,
            vpce,
            category: "Data",
            console,
            tls_host,
            edge,
            ..Tail::default()
        });
    }

    /// DeleteObjects with many keys. With `target` the key list grows until the record is about
    /// that many bytes; without, the requestParameters are CloudTrail's "too large" stub.
    fn s3_delete_objects(&mut self, t: i64, target: Option<usize>) {
        let start = self.w.buf.len();
        let acct = self.acct;
        let bucket = self.rng.pick(&acct.buckets).as_str();
        let actor = Actor::Role(self.role_of(RoleKind::Ci));
        let ip = self.client_ip();
        let ua = self.sdk_ua();
        let version = self.version(&["1.09", "1.10"]);
        self.head(
            version,
            actor,
            None,
            t,
            "s3.amazonaws.com",
            "DeleteObjects",
            ip,
            Some(ua),
        );
        let host = self.s3_host(bucket);
        self.w.kv_obj("requestParameters");
        match target {
            Some(target) => {
                self.w.kv_str("bucketName", bucket);
                self.w.kv_str("Host", &host);
                self.w.kv_obj("delete");
                self.w
                    .kv_str("xmlns", "http://s3.amazonaws.com/doc/2006-03-01/");
                self.w.kv_str("Quiet", "true");
                self.w.kv_arr("Object");
                while self.w.buf.len() - start < target {
                    let key = self.object_key();
                    self.w.begin_obj();
                    self.w.kv_str("Key", &key);
                    self.w.end_obj();
                }
                self.w.end_arr();
                self.w.end_obj();
                self.w.kv_str("delete", "");
            }
            None => {
                self.w.kv_str("reason", "requestParameters too large");
                self.w.kv_bool("omitted", true);
                self.w
                    .kv_int("originalSize", self.rng.range(102_401, 900_000) as i64);
            }
        }
        self.w.end_obj();
        self.w.kv_null("responseElements");
        let (bytes, ms) = (self.rng.range(20_000, 120_000), self.rng.range(200, 5000));
        self.s3_additional(bytes, Some(ms));
        self.ids(ReqId::S3, Some(false));
        self.w.kv_arr("resources");
        self.resource(
            Some(&acct.id),
            "AWS::S3::Bucket",
            "ARN",
            &format!("arn:aws:s3:::{bucket}"),
        );
        self.w.end_arr();
        self.tail(Tail {
            management: Some(false),
            category: "Data",
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- near-limit records

    fn big_record(&mut self, t: i64) {
        // Whole record 200-250 KB, safely under the 256 KB (262,144 byte) event limit.
        let target = self.rng.range(200_000, 250_000) as usize;
        match self.rng.below(3) {
            0 => self.s3_delete_objects(t, Some(target - 1500)),
            1 if self.region == "us-east-1" => self.big_policy(t, target, true),
            _ => self.big_policy(t, target, false),
        }
    }

    /// IAM PutRolePolicy (us-east-1) or KMS PutKeyPolicy with a policy document string that grows
    /// until the record reaches `target` bytes. The document is pretty-printed JSON inside a JSON
    /// string, so it is full of `\n` and `\"` escapes, like real policies.
    fn big_policy(&mut self, t: i64, target: usize, iam: bool) {
        let start = self.w.buf.len();
        let acct = self.acct;
        let id = acct.id.as_str();
        let actor = Actor::Role(self.role_of(RoleKind::Ci));
        let ip = self.client_ip();
        let ua = self.sdk_ua();
        let (source, name) = if iam {
            ("iam.amazonaws.com", "PutRolePolicy")
        } else {
            ("kms.amazonaws.com", "PutKeyPolicy")
        };
        let version = self.version(&["1.08", "1.09", "1.11"]);
        self.head(version, actor, None, t, source, name, ip, Some(ua));
        let key = self.rng.pick(&acct.kms_keys).as_str();
        self.w.kv_obj("requestParameters");
        if iam {
            self.w.kv_str("roleName", "lambda-exec-orders");
            self.w.kv_str("policyName", "generated-bucket-access");
            self.w.key("policyDocument");
        } else {
            self.w.kv_str("keyId", key);
            self.w.kv_str("policyName", "default");
            self.w.key("policy");
        }
        self.w.open_raw_str();
        escape_inner(
            &mut self.w.buf,
            "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [",
        );
        let mut piece = String::with_capacity(600);
        let mut n = 0u32;
        while self.w.buf.len() - start < target - 1600 {
            piece.clear();
            let world = self.world;
            let ext = &world.external[n as usize % world.external.len()];
            let bucket = &acct.buckets[n as usize % acct.buckets.len()];
            let _ = write!(
                piece,
                "{}\n    {{\n      \"Sid\": \"AllowPartner{n}\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {{\n        \"AWS\": \"arn:aws:iam::{ext}:role/partner-{n}\"\n      }},\n      \"Action\": [\n        \"s3:GetObject\",\n        \"s3:ListBucket\",\n        \"kms:Decrypt\"\n      ],\n      \"Resource\": [\n        \"arn:aws:s3:::{bucket}/tenant-{n}/*\",\n        \"arn:aws:s3:::{bucket}\"\n      ],\n      \"Condition\": {{\n        \"StringEquals\": {{\n          \"aws:PrincipalOrgID\": \"o-a1b2c3d4e5\"\n        }}\n      }}\n    }}",
                if n == 0 { "" } else { "," }
            );
            escape_inner(&mut self.w.buf, &piece);
            n += 1;
        }
        escape_inner(&mut self.w.buf, "\n  ]\n}");
        self.w.close_raw_str();
        if !iam {
            self.w.kv_bool("bypassPolicyLockoutSafetyCheck", false);
        }
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(false));
        if !iam {
            let region = self.region;
            self.w.kv_arr("resources");
            self.resource(
                Some(id),
                "AWS::KMS::Key",
                "ARN",
                &format!("arn:aws:kms:{region}:{id}:key/{key}"),
            );
            self.w.end_arr();
        }
        let host = if iam {
            "iam.amazonaws.com".to_string()
        } else {
            self.service_host("kms")
        };
        self.tail(Tail {
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- KMS

    fn kms(&mut self, t: i64, generate: bool) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let region = self.region;
        let key = self.rng.pick(&acct.kms_keys).as_str();
        const SERVICES: &[&str] = &[
            "s3.amazonaws.com",
            "secretsmanager.amazonaws.com",
            "logs.amazonaws.com",
            "ec2.amazonaws.com",
        ];
        let roll = self.rng.below(100);
        let (actor, invoked_by, internal) = match roll {
            0..=34 => {
                let by = *self.rng.pick(SERVICES);
                (Actor::Service(by), Some(by), true)
            }
            35..=64 => (
                Actor::Role(self.workload_role()),
                Some("s3.amazonaws.com"),
                true,
            ),
            _ => (Actor::Role(self.workload_role()), None, false),
        };
        let (ip, ua): (Cow<'_, str>, &str) = match (actor, invoked_by) {
            (Actor::Service(by), _) => {
                if self.rng.chance(0.5) {
                    (Cow::Borrowed("AWS Internal"), "AWS Internal")
                } else {
                    (Cow::Borrowed(by), by)
                }
            }
            (_, Some(by)) => (Cow::Borrowed(by), by),
            _ => (Cow::Borrowed(self.client_ip()), self.sdk_ua()),
        };
        let version = self.version(&["1.08", "1.09", "1.10", "1.11"]);
        let name = if generate {
            "GenerateDataKey"
        } else {
            "Decrypt"
        };
        self.head(
            version,
            actor,
            if matches!(actor, Actor::Service(_)) {
                None
            } else {
                invoked_by
            },
            t,
            "kms.amazonaws.com",
            name,
            &ip,
            Some(ua),
        );
        let error = !internal && self.rng.chance(0.02);
        if error {
            self.error(Some("AccessDeniedException"), "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.");
        }
        let bucket = self.rng.pick(&acct.buckets).as_str();
        self.w.kv_obj("requestParameters");
        if generate {
            if self.rng.chance(0.5) {
                self.w
                    .kv_strf("keyId", format_args!("arn:aws:kms:{region}:{id}:key/{key}"));
            } else {
                self.w.kv_str("keyId", "alias/aws/s3");
            }
        }
        self.w.kv_obj("encryptionContext");
        if self.rng.chance(0.7) {
            self.w
                .kv_strf("aws:s3:arn", format_args!("arn:aws:s3:::{bucket}"));
        } else {
            let f = self.rng.pick(&acct.functions);
            self.w.kv_strf(
                "aws:lambda:FunctionArn",
                format_args!("arn:aws:lambda:{region}:{id}:function:{f}"),
            );
        }
        self.w.end_obj();
        if generate {
            if self.rng.chance(0.7) {
                self.w.kv_str("keySpec", "AES_256");
            } else {
                self.w.kv_int("numberOfBytes", 32);
            }
        } else {
            self.w.kv_str("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
        }
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(true));
        self.w.kv_arr("resources");
        self.resource(
            Some(id),
            "AWS::KMS::Key",
            "ARN",
            &format!("arn:aws:kms:{region}:{id}:key/{key}"),
        );
        self.w.end_arr();
        let vpce = !internal && self.rng.chance(0.1);
        let tls_host = if internal {
            None
        } else {
            Some(Cow::Owned(self.service_host("kms")))
        };
        let shared = matches!(actor, Actor::Service(_)) && self.rng.chance(0.3);
        self.tail(Tail {
            shared,
            vpce,
            tls_host,
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- EC2

    fn ec2_describe(&mut self, t: i64) {
        const NAMES: &[&str] = &[
            "DescribeInstances",
            "DescribeSecurityGroups",
            "DescribeVolumes",
            "DescribeSubnets",
            "DescribeInstanceStatus",
            "DescribeTags",
            "DescribeNetworkInterfaces",
        ];
        let acct = self.acct;
        let name = *self.rng.pick(NAMES);
        let roll = self.rng.below(100);
        let (actor, invoked_by, console) = match roll {
            0..=19 => (
                Actor::Role(self.role_of(RoleKind::ServiceUse)),
                Some("config.amazonaws.com"),
                false,
            ),
            20..=34 => (
                Actor::Role(self.role_of(RoleKind::ServiceUse)),
                Some("autoscaling.amazonaws.com"),
                false,
            ),
            35..=59 => (Actor::Role(self.role_of(RoleKind::Sso)), None, true),
            60..=79 => (Actor::Role(self.role_of(RoleKind::Ci)), None, false),
            80..=86 => (Actor::ConsoleUser(self.rng.idx(3)), None, true),
            87..=88 => (Actor::Root, None, true),
            89 => (
                Actor::Federated(self.rng.idx(acct.users.len())),
                None,
                false,
            ),
            _ => (Actor::User(self.rng.idx(acct.users.len())), None, false),
        };
        let (ip, ua): (&str, &str) = match (invoked_by, console) {
            (Some(by), _) => (by, by),
            (None, true) => (self.client_ip(), "console.ec2.amazonaws.com"),
            _ => (self.client_ip(), self.sdk_ua()),
        };
        let version = self.version(&["1.08", "1.09", "1.10", "1.11"]);
        let arn = self.head(
            version,
            actor,
            invoked_by,
            t,
            "ec2.amazonaws.com",
            name,
            ip,
            Some(ua),
        );
        match self.rng.below(100) {
            0..=1 => self.error(Some("Client.UnauthorizedOperation"), &format!("You are not authorized to perform this operation. User: {arn} is not authorized to perform: ec2:{name} because no identity-based policy allows the ec2:{name} action")),
            2 => self.error(Some("Client.RequestLimitExceeded"), "Request limit exceeded."),
            _ => {}
        }
        let instance = self.rng.pick(&acct.instances).as_str();
        self.w.kv_obj("requestParameters");
        match name {
            "DescribeInstances" => {
                if self.rng.chance(0.5) {
                    self.w.kv_obj("instancesSet");
                    self.w.kv_arr("items");
                    self.w.begin_obj();
                    self.w.kv_str("instanceId", instance);
                    self.w.end_obj();
                    self.w.end_arr();
                    self.w.end_obj();
                    self.w.kv_obj("filterSet");
                    self.w.end_obj();
                } else {
                    self.w.kv_int("maxResults", 1000);
                    self.w.kv_obj("instancesSet");
                    self.w.end_obj();
                    self.filter("tag:Name", "web-prod");
                }
            }
            "DescribeSecurityGroups" => {
                self.w.kv_obj("securityGroupSet");
                self.w.end_obj();
                self.w.kv_obj("securityGroupIdSet");
                self.w.end_obj();
                self.w.kv_obj("filterSet");
                self.w.end_obj();
            }
            "DescribeVolumes" => {
                self.w.kv_obj("volumeSet");
                self.w.end_obj();
                self.filter("attachment.instance-id", instance);
            }
            "DescribeTags" | "DescribeNetworkInterfaces" => self.filter("resource-id", instance),
            "DescribeInstanceStatus" => {
                self.w.kv_obj("instancesSet");
                self.w.end_obj();
                self.w.kv_obj("filterSet");
                self.w.end_obj();
                self.w.kv_bool("includeAllInstances", true);
            }
            _ => {
                self.w.kv_obj("subnetSet");
                self.w.end_obj();
                self.w.kv_obj("filterSet");
                self.w.end_obj();
            }
        }
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(true));
        let api_version = if self.rng.chance(0.1) {
            Some("2016-11-15")
        } else {
            None
        };
        let tls_host = if invoked_by.is_some() {
            None
        } else {
            Some(Cow::Owned(self.service_host("ec2")))
        };
        self.tail(Tail {
            api_version,
            console,
            tls_host,
            ..Tail::default()
        });
    }

    fn filter(&mut self, name: &str, value: &str) {
        self.w.kv_obj("filterSet");
        self.w.kv_arr("items");
        self.w.begin_obj();
        self.w.kv_str("name", name);
        self.w.kv_obj("valueSet");
        self.w.kv_arr("items");
        self.w.begin_obj();
        self.w.kv_str("value", value);
        self.w.end_obj();
        self.w.end_arr();
        self.w.end_obj();
        self.w.end_obj();
        self.w.end_arr();
        self.w.end_obj();
    }

    // ---------------------------------------------------------------- STS

    fn sts_assume_role(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let roll = self.rng.below(100);
        let (actor, target_role) = match roll {
            0..=44 => {
                let by = *self.rng.pick(&[
                    "ec2.amazonaws.com",
                    "lambda.amazonaws.com",
                    "config.amazonaws.com",
                ]);
                let kind = match by {
                    "ec2.amazonaws.com" => RoleKind::Ec2,
                    "lambda.amazonaws.com" => RoleKind::Lambda,
                    _ => RoleKind::ServiceUse,
                };
                (Actor::Service(by), self.role_of(kind))
            }
            45..=69 => (
                Actor::User(self.rng.idx(acct.users.len())),
                self.role_of(RoleKind::CrossAccount),
            ),
            70..=84 => (
                Actor::External(self.rng.idx(3)),
                self.role_of(RoleKind::CrossAccount),
            ),
            _ => (
                Actor::Role(self.role_of(RoleKind::Ci)),
                self.role_of(RoleKind::Ec2),
            ),
        };
        let role = &acct.roles[target_role];
        let session: String = match actor {
            Actor::Service("ec2.amazonaws.com") => self.rng.pick(&acct.instances).clone(),
            Actor::Service("lambda.amazonaws.com") => self.rng.pick(&acct.functions).clone(),
            Actor::Service(_) => "AWSConfig-Describe".to_string(),
            _ => format!("session-{}", t - self.rng.below(100) as i64),
        };
        let (ip, ua): (&str, &str) = match actor {
            Actor::Service(by) => (by, by),
            _ => (self.client_ip(), self.sdk_ua()),
        };
        let version = self.version(&["1.08", "1.08", "1.11"]);
        let arn = self.head(
            version,
            actor,
            None,
            t,
            "sts.amazonaws.com",
            "AssumeRole",
            ip,
            Some(ua),
        );
        let role_arn = format!("arn:aws:iam::{id}:role/{}", role.name);
        let denied = !matches!(actor, Actor::Service(_)) && self.rng.chance(0.05);
        if denied {
            self.error(Some("AccessDenied"), &format!("User: {arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"));
        }
        self.w.kv_obj("requestParameters");
        self.w.kv_str("roleArn", &role_arn);
        self.w.kv_str("roleSessionName", &session);
        if self.rng.chance(0.3) {
            self.w.kv_int("durationSeconds", 3600);
        }
        self.w.end_obj();
        if denied {
            self.w.kv_null("responseElements");
        } else {
            self.w.kv_obj("responseElements");
            self.w.kv_obj("credentials");
            self.write_asia();
            self.w.key("sessionToken");
            self.w.open_raw_str();
            self.w.buf.push_str("IQoJb3JpZ2luX2VjE");
            let len = self.rng.range(300, 700) as usize;
            self.rng.push_b64(&mut self.w.buf, len);
            self.w.close_raw_str();
            self.w.key("expiration");
            self.w.open_raw_str();
            push_java_date(&mut self.w.buf, t + 3600, true);
            self.w.close_raw_str();
            self.w.end_obj();
            self.w.kv_obj("assumedRoleUser");
            self.w
                .kv_strf("assumedRoleId", format_args!("{}:{session}", role.id));
            self.w.kv_strf(
                "arn",
                format_args!("arn:aws:sts::{id}:assumed-role/{}/{session}", role.name),
            );
            self.w.end_obj();
            self.w.end_obj();
        }
        self.ids(ReqId::Uuid, Some(true));
        self.w.kv_arr("resources");
        self.resource(Some(id), "AWS::IAM::Role", "ARN", &role_arn);
        self.w.end_arr();
        let service = matches!(actor, Actor::Service(_));
        let shared = service || matches!(actor, Actor::External(_));
        let tls_host = if service {
            None
        } else {
            Some(Cow::Owned(self.service_host("sts")))
        };
        self.tail(Tail {
            shared,
            tls_host,
            ..Tail::default()
        });
    }

    fn sts_get_caller_identity(&mut self, t: i64) {
        let acct = self.acct;
        let attacker = self.rng.chance(0.3);
        let actor = if attacker {
            Actor::User(acct.users.len() - 1)
        } else {
            Actor::Role(self.workload_role())
        };
        let (ip, ua) = if attacker {
            (*self.rng.pick(ATTACKER_IPS), *self.rng.pick(ATTACKER_UAS))
        } else {
            (self.client_ip(), self.sdk_ua())
        };
        let version = self.version(&["1.08", "1.11"]);
        self.head(
            version,
            actor,
            None,
            t,
            "sts.amazonaws.com",
            "GetCallerIdentity",
            ip,
            Some(ua),
        );
        self.w.kv_null("requestParameters");
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(true));
        let host = self.service_host("sts");
        self.tail(Tail {
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- IAM

    fn iam(&mut self, t: i64) {
        const NAMES: &[&str] = &[
            "CreateUser",
            "AttachRolePolicy",
            "DeleteRole",
            "PutRolePolicy",
            "ListUsers",
            "GetUser",
            "CreateAccessKey",
        ];
        let acct = self.acct;
        let id = acct.id.as_str();
        let name = *self.rng.pick(NAMES);
        // A compromised long-term key used from attacker infrastructure, mostly failing.
        let attacker = self.rng.chance(0.2);
        let (actor, console) = if attacker {
            (Actor::User(acct.users.len() - 1), false)
        } else if self.rng.chance(0.5) {
            (Actor::Role(self.role_of(RoleKind::Ci)), false)
        } else {
            (Actor::Role(self.role_of(RoleKind::Sso)), true)
        };
        let (ip, ua): (&str, &str) = if attacker {
            (*self.rng.pick(ATTACKER_IPS), *self.rng.pick(ATTACKER_UAS))
        } else if console {
            (self.client_ip(), "AWS Internal")
        } else {
            (self.client_ip(), self.sdk_ua())
        };
        let version = self.version(&["1.08", "1.09", "1.11"]);
        let arn = self.head(
            version,
            actor,
            None,
            t,
            "iam.amazonaws.com",
            name,
            ip,
            Some(ua),
        );
        let target_user = if attacker {
            "backdoor-admin"
        } else {
            self.rng
                .pick(&["svc-reporting", "contractor-ana", "ops-readonly"])
        };
        let target_role =
            *self
                .rng
                .pick(&["legacy-batch-role", "temp-migration-role", "ec2-app-role"]);
        let denied = if attacker {
            self.rng.chance(0.7)
        } else {
            self.rng.chance(0.03)
        };
        let missing = !denied && name == "DeleteRole" && self.rng.chance(0.2);
        let resource = match name {
            "AttachRolePolicy" | "DeleteRole" | "PutRolePolicy" => {
                format!("arn:aws:iam::{id}:role/{target_role}")
            }
            "ListUsers" => format!("arn:aws:iam::{id}:user/"),
            _ => format!("arn:aws:iam::{id}:user/{target_user}"),
        };
        if denied {
            self.error(Some("AccessDenied"), &format!("User: {arn} is not authorized to perform: iam:{name} on resource: {resource} because no identity-based policy allows the iam:{name} action"));
        } else if missing {
            self.error(
                Some("NoSuchEntityException"),
                &format!("The role with name {target_role} cannot be found."),
            );
        }
        let failed = denied || missing;
        let tag = *self.rng.pick(TAG_VALUES);
        match name {
            "CreateUser" => {
                self.w.kv_obj("requestParameters");
                self.w.kv_str("userName", target_user);
                self.w.kv_arr("tags");
                self.w.begin_obj();
                self.w.kv_str("key", "team");
                self.w.kv_str("value", tag);
                self.w.end_obj();
                self.w.end_arr();
                self.w.end_obj();
                if failed {
                    self.w.kv_null("responseElements");
                } else {
                    self.w.kv_obj("responseElements");
                    self.w.kv_obj("user");
                    self.w.kv_str("path", "/");
                    self.w.kv_str("userName", target_user);
                    self.w.key("userId");
                    self.w.open_raw_str();
                    self.w.buf.push_str("AIDA");
                    self.rng.push_upper(&mut self.w.buf, 17);
                    self.w.close_raw_str();
                    self.w.kv_str("arn", &resource);
                    self.w.key("createDate");
                    self.w.open_raw_str();
                    push_java_date(&mut self.w.buf, t, true);
                    self.w.close_raw_str();
                    self.w.kv_arr("tags");
                    self.w.begin_obj();
                    self.w.kv_str("key", "team");
                    self.w.kv_str("value", tag);
                    self.w.end_obj();
                    self.w.end_arr();
                    self.w.end_obj();
                    self.w.end_obj();
                }
            }
            "AttachRolePolicy" => {
                self.w.kv_obj("requestParameters");
                self.w.kv_str("roleName", target_role);
                self.w.kv_str(
                    "policyArn",
                    if attacker {
                        "arn:aws:iam::aws:policy/AdministratorAccess"
                    } else {
                        "arn:aws:iam::aws:policy/ReadOnlyAccess"
                    },
                );
                self.w.end_obj();
                self.w.kv_null("responseElements");
            }
            "DeleteRole" => {
                self.w.kv_obj("requestParameters");
                self.w.kv_str("roleName", target_role);
                self.w.end_obj();
                self.w.kv_null("responseElements");
            }
            "PutRolePolicy" => {
                self.w.kv_obj("requestParameters");
                self.w.kv_str("roleName", target_role);
                self.w.kv_str("policyName", "inline-s3-access");
                let bucket = self.rng.pick(&acct.buckets);
                let doc = format!(
                    "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {{\n      \"Effect\": \"Allow\",\n      \"Action\": [\"s3:GetObject\", \"s3:PutObject\"],\n      \"Resource\": \"arn:aws:s3:::{bucket}/*\"\n    }}\n  ]\n}}"
                );
                self.w.kv_str("policyDocument", &doc);
                self.w.end_obj();
                self.w.kv_null("responseElements");
            }
            "ListUsers" => {
                self.w.kv_null("requestParameters");
                self.w.kv_null("responseElements");
            }
            "GetUser" => {
                self.w.kv_obj("requestParameters");
                self.w.kv_str("userName", target_user);
                self.w.end_obj();
                self.w.kv_null("responseElements");
            }
            _ => {
                self.w.kv_obj("requestParameters");
                self.w.kv_str("userName", target_user);
                self.w.end_obj();
                if failed {
                    self.w.kv_null("responseElements");
                } else {
                    self.w.kv_obj("responseElements");
                    self.w.kv_obj("accessKey");
                    self.w.key("accessKeyId");
                    self.w.open_raw_str();
                    self.w.buf.push_str("AKIA");
                    self.rng.push_upper(&mut self.w.buf, 16);
                    self.w.close_raw_str();
                    self.w.kv_str("status", "Active");
                    self.w.kv_str("userName", target_user);
                    self.w.key("createDate");
                    self.w.open_raw_str();
                    push_java_date(&mut self.w.buf, t, true);
                    self.w.close_raw_str();
                    self.w.end_obj();
                    self.w.end_obj();
                }
            }
        }
        self.ids(ReqId::Uuid, Some(matches!(name, "ListUsers" | "GetUser")));
        self.tail(Tail {
            console,
            tls_host: Some(Cow::Borrowed("iam.amazonaws.com")),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- Lambda

    fn lambda_invoke(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let region = self.region;
        let f = self.rng.pick(&acct.functions).as_str();
        let service = self.rng.chance(0.5);
        let by = *self.rng.pick(&[
            "apigateway.amazonaws.com",
            "events.amazonaws.com",
            "s3.amazonaws.com",
        ]);
        let actor = if service {
            Actor::Service(by)
        } else {
            Actor::Role(self.workload_role())
        };
        let (ip, ua): (&str, &str) = if service {
            (by, by)
        } else {
            (self.client_ip(), self.sdk_ua())
        };
        let version = self.version(&["1.08", "1.09", "1.10"]);
        self.head(
            version,
            actor,
            None,
            t,
            "lambda.amazonaws.com",
            "Invoke",
            ip,
            Some(ua),
        );
        self.w.kv_obj("requestParameters");
        self.w.kv_strf(
            "functionName",
            format_args!("arn:aws:lambda:{region}:{id}:function:{f}"),
        );
        if service && by == "s3.amazonaws.com" {
            let b = self.rng.pick(&acct.buckets);
            self.w
                .kv_strf("sourceArn", format_args!("arn:aws:s3:::{b}"));
        }
        if self.rng.chance(0.3) {
            self.w.kv_str("invocationType", "Event");
        }
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.w.kv_obj("additionalEventData");
        self.w.kv_strf(
            "functionVersion",
            format_args!("arn:aws:lambda:{region}:{id}:function:{f}:$LATEST"),
        );
        self.w.end_obj();
        self.ids(ReqId::Uuid, Some(false));
        self.w.kv_arr("resources");
        self.resource(
            Some(id),
            "AWS::Lambda::Function",
            "ARN",
            &format!("arn:aws:lambda:{region}:{id}:function:{f}"),
        );
        self.w.end_arr();
        let tls_host = if service {
            None
        } else {
            Some(Cow::Owned(self.service_host("lambda")))
        };
        self.tail(Tail {
            management: Some(false),
            shared: service,
            category: "Data",
            tls_host,
            ..Tail::default()
        });
    }

    fn lambda_update_code(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let region = self.region;
        let f = self.rng.pick(&acct.functions).as_str();
        let actor = Actor::Role(self.role_of(RoleKind::Ci));
        let ip = self.client_ip();
        let ua = self.sdk_ua();
        let version = self.version(&["1.08", "1.09"]);
        self.head(
            version,
            actor,
            None,
            t,
            "lambda.amazonaws.com",
            "UpdateFunctionCode20150331v2",
            ip,
            Some(ua),
        );
        let bucket = self.rng.pick(&acct.buckets).as_str();
        let mut build = String::new();
        self.rng.push_hex(&mut build, 12);
        self.w.kv_obj("requestParameters");
        self.w.kv_str("functionName", f);
        self.w.kv_bool("publish", true);
        self.w.kv_bool("dryRun", false);
        self.w.kv_str("s3Bucket", bucket);
        self.w
            .kv_strf("s3Key", format_args!("builds/{f}-{build}.zip"));
        self.w.end_obj();
        self.w.kv_obj("responseElements");
        self.w.kv_str("functionName", f);
        self.w.kv_strf(
            "functionArn",
            format_args!("arn:aws:lambda:{region}:{id}:function:{f}"),
        );
        let runtime = *self
            .rng
            .pick(&["python3.12", "nodejs20.x", "provided.al2023", "java21"]);
        self.w.kv_str("runtime", runtime);
        self.w.kv_strf(
            "role",
            format_args!("arn:aws:iam::{id}:role/lambda-exec-orders"),
        );
        self.w.kv_str("handler", "app.handler");
        self.w
            .kv_int("codeSize", self.rng.range(800, 50_000_000) as i64);
        self.w.kv_str("description", "");
        self.w
            .kv_int("timeout", *self.rng.pick(&[3i64, 30, 60, 900]));
        self.w
            .kv_int("memorySize", *self.rng.pick(&[128i64, 512, 1024, 3008]));
        self.w.key("lastModified");
        self.w.open_raw_str();
        push_iso(&mut self.w.buf, t);
        self.w.buf.truncate(self.w.buf.len() - 1);
        self.w.buf.push_str(".000+0000");
        self.w.close_raw_str();
        self.w.key("codeSha256");
        self.w.open_raw_str();
        self.rng.push_b64(&mut self.w.buf, 43);
        self.w.buf.push('=');
        self.w.close_raw_str();
        self.w.kv_str("version", "$LATEST");
        self.w.kv_obj("tracingConfig");
        self.w.kv_str("mode", "PassThrough");
        self.w.end_obj();
        self.w.key("revisionId");
        self.w.open_raw_str();
        self.rng.push_uuid(&mut self.w.buf);
        self.w.close_raw_str();
        self.w.kv_str("state", "Active");
        self.w.kv_str("lastUpdateStatus", "InProgress");
        self.w
            .kv_str("lastUpdateStatusReason", "The function is being created.");
        self.w.kv_str("lastUpdateStatusReasonCode", "Creating");
        self.w.kv_str("packageType", "Zip");
        self.w.kv_arr("architectures");
        self.w.str("x86_64");
        self.w.end_arr();
        self.w.kv_obj("ephemeralStorage");
        self.w.kv_int("size", 512);
        self.w.end_obj();
        self.w.kv_obj("snapStart");
        self.w.kv_str("applyOn", "None");
        self.w.kv_str("optimizationStatus", "Off");
        self.w.end_obj();
        self.w.kv_obj("loggingConfig");
        self.w.kv_str("logFormat", "Text");
        self.w.kv_strf("logGroup", format_args!("/aws/lambda/{f}"));
        self.w.end_obj();
        self.w.end_obj();
        self.ids(ReqId::Uuid, Some(false));
        let host = self.service_host("lambda");
        self.tail(Tail {
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- console sign-in

    fn console_login(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let roll = self.rng.below(100);
        // 0..60 IAM user success, 60..75 root, 75..85 wrong password, 85..100 unknown user name.
        let attacker = roll >= 85 && self.rng.chance(0.7);
        let ip = if attacker {
            *self.rng.pick(ATTACKER_IPS)
        } else {
            self.client_ip()
        };
        let ua = if self.rng.chance(0.05) {
            self.rng.pick_str(UNICODE_UAS)
        } else {
            self.browser_ua()
        };
        let version = self.version(&["1.08", "1.09", "1.10"]);
        self.w.begin_obj();
        self.w.kv_str("eventVersion", version);
        self.w.kv_obj("userIdentity");
        let user = self.rng.pick(&acct.users[..4]);
        match roll {
            60..=74 => {
                self.w.kv_str("type", "Root");
                self.w.kv_str("principalId", id);
                self.w
                    .kv_strf("arn", format_args!("arn:aws:iam::{id}:root"));
                self.w.kv_str("accountId", id);
                self.w.kv_str("accessKeyId", "");
            }
            0..=59 => {
                self.w.kv_str("type", "IAMUser");
                self.w.kv_str("principalId", &user.id);
                self.w
                    .kv_strf("arn", format_args!("arn:aws:iam::{id}:user/{}", user.name));
                self.w.kv_str("accountId", id);
                self.w.kv_str("userName", &user.name);
            }
            75..=84 => {
                self.w.kv_str("type", "IAMUser");
                self.w.kv_str("principalId", &user.id);
                self.w.kv_str("accountId", id);
                self.w.kv_str("accessKeyId", "");
                self.w.kv_str("userName", &user.name);
            }
            _ => {
                self.w.kv_str("type", "IAMUser");
                self.w.kv_str("accountId", id);
                self.w.kv_str("accessKeyId", "");
                self.w.kv_str("userName", "HIDDEN_DUE_TO_SECURITY_REASONS");
            }
        }
        self.w.end_obj();
        self.w.key("eventTime");
        self.w.open_raw_str();
        push_iso(&mut self.w.buf, t);
        self.w.close_raw_str();
        self.w.kv_str("eventSource", "signin.amazonaws.com");
        self.w.kv_str("eventName", "ConsoleLogin");
        self.w.kv_str("awsRegion", self.region);
        self.w.kv_str("sourceIPAddress", ip);
        self.w.kv_str("userAgent", ua);
        let success = roll < 75;
        match roll {
            75..=84 => self.error(None, "Failed authentication"),
            85.. => self.error(None, "No username found in supplied account"),
            _ => {}
        }
        self.w.kv_null("requestParameters");
        self.w.kv_obj("responseElements");
        self.w
            .kv_str("ConsoleLogin", if success { "Success" } else { "Failure" });
        self.w.end_obj();
        let mfa = success && self.rng.chance(0.7);
        self.w.kv_obj("additionalEventData");
        let region = self.region;
        self.w.kv_strf("LoginTo", format_args!("https://{region}.console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&region={region}&state=hashArgsFromTB_{region}_{:x}", self.rng.next_u64()));
        self.w.kv_str("MobileVersion", "No");
        if mfa && (60..75).contains(&roll) {
            self.w.kv_strf(
                "MFAIdentifier",
                format_args!("arn:aws:iam::{id}:mfa/root-account-mfa-device"),
            );
        }
        self.w.kv_str("MFAUsed", if mfa { "Yes" } else { "No" });
        self.w.end_obj();
        // ConsoleLogin events carry no requestID.
        self.ids(ReqId::None, Some(false));
        self.tail(Tail {
            event_type: "AwsConsoleSignIn",
            tls_host: Some(Cow::Borrowed("signin.aws.amazon.com")),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- service events

    /// `AwsServiceEvent`: no `type` in userIdentity, no requestID, `serviceEventDetails`.
    fn service_event(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let region = self.region;
        let which = self.rng.below(5);
        let (source, name): (&'static str, &'static str) = match which {
            0 => ("kms.amazonaws.com", "RotateKey"),
            1 => ("config.amazonaws.com", "ConfigRuleComplianceChange"),
            2 => ("ssm.amazonaws.com", "AutomationExecutionStatusChange"),
            3 => ("cloudtrail.amazonaws.com", "LogFileDeliveryStatusChange"),
            _ => ("ec2.amazonaws.com", "SharedSnapshotCopyInitiated"),
        };
        let version = self.version(&["1.08", "1.09", "1.10"]);
        self.head(
            version,
            Actor::NoType(source),
            None,
            t,
            source,
            name,
            source,
            Some(source),
        );
        self.w.kv_null("requestParameters");
        self.w.kv_null("responseElements");
        self.ids(ReqId::None, Some(false));
        let key = self.rng.pick(&acct.kms_keys).as_str();
        let bucket = self.rng.pick(&acct.buckets).as_str();
        let instance = self.rng.pick(&acct.instances).as_str();
        let mut details = String::with_capacity(256);
        match which {
            0 => {
                self.w.kv_arr("resources");
                self.resource(
                    Some(id),
                    "AWS::KMS::Key",
                    "ARN",
                    &format!("arn:aws:kms:{region}:{id}:key/{key}"),
                );
                self.w.end_arr();
                let _ = write!(details, r#"{{"keyId":"{key}"}}"#);
            }
            1 => {
                let compliance = if self.rng.chance(0.3) {
                    "NON_COMPLIANT"
                } else {
                    "COMPLIANT"
                };
                let _ = write!(
                    details,
                    r#"{{"configRuleName":"s3-bucket-public-read-prohibited","configRuleArn":"arn:aws:config:{region}:{id}:config-rule/config-rule-{:06x}","resourceType":"AWS::S3::Bucket","resourceId":"{bucket}","newEvaluationResult":{{"complianceType":"{compliance}","resultRecordedTime":"#,
                    self.rng.below(1 << 24)
                );
                details.push('"');
                push_iso(&mut details, t);
                details.push_str("\"},\"oldEvaluationResult\":null}");
            }
            2 => {
                details.push_str(r#"{"automationExecutionId":""#);
                self.rng.push_uuid(&mut details);
                let _ = write!(
                    details,
                    r#"","documentName":"AWS-RestartEC2Instance","status":"Success","targets":[{{"Key":"InstanceIds","Values":["{instance}"]}}],"stepCount":2}}"#
                );
            }
            3 => {
                let _ = write!(
                    details,
                    r#"{{"trailArn":"arn:aws:cloudtrail:us-east-1:{id}:trail/org-trail","s3BucketName":"trailpipe-synth-bucket","deliveryStatus":"{}","latestDeliveryAttemptSucceeded":{}}}"#,
                    if self.rng.chance(0.9) {
                        "SUCCESS"
                    } else {
                        "ACCESS_DENIED"
                    },
                    self.rng.chance(0.9)
                );
            }
            _ => {
                let _ = write!(
                    details,
                    r#"{{"snapshotId":"snap-0{:016x}","sourceAccountId":"{}","encrypted":true,"volumeSize":{}}}"#,
                    self.rng.next_u64(),
                    self.world.external[0],
                    self.rng.range(8, 2048)
                );
            }
        }
        let shared = which == 4;
        self.tail(Tail {
            event_type: "AwsServiceEvent",
            shared,
            service_details: Some(&details),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- Glue / Lake Formation

    /// `requestParameters.tableInput.parameters` is an object in some records and a string in
    /// others: the classic schema-inference trap.
    fn glue(&mut self, t: i64) {
        let acct = self.acct;
        let name = *self
            .rng
            .pick(&["CreateTable", "UpdateTable", "GetTable", "GetTable"]);
        let actor = Actor::Role(if self.rng.chance(0.5) {
            self.role_of(RoleKind::Ci)
        } else {
            self.role_of(RoleKind::Lambda)
        });
        let ip = self.client_ip();
        let ua = self.sdk_ua();
        let version = self.version(&["1.08", "1.09"]);
        self.head(
            version,
            actor,
            None,
            t,
            "glue.amazonaws.com",
            name,
            ip,
            Some(ua),
        );
        let table = *self.rng.pick(&[
            "cloudtrail_events",
            "orders",
            "clickstream_raw",
            "métricas_diarias",
        ]);
        let bucket = self.rng.pick(&acct.buckets).as_str();
        self.w.kv_obj("requestParameters");
        self.w.kv_str("databaseName", "analytics");
        if name == "GetTable" {
            self.w.kv_str("name", table);
        } else {
            self.w.kv_obj("tableInput");
            self.w.kv_str("name", table);
            self.w.kv_obj("storageDescriptor");
            self.w.kv_arr("columns");
            for (c, ty) in [
                ("event_id", "string"),
                ("event_time", "timestamp"),
                ("payload", "string"),
            ] {
                self.w.begin_obj();
                self.w.kv_str("name", c);
                self.w.kv_str("type", ty);
                self.w.end_obj();
            }
            self.w.end_arr();
            self.w
                .kv_strf("location", format_args!("s3://{bucket}/tables/{table}/"));
            self.w.kv_str(
                "inputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            );
            self.w.kv_str(
                "outputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            );
            self.w.kv_obj("serdeInfo");
            self.w.kv_str(
                "serializationLibrary",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            );
            self.w.end_obj();
            self.w.end_obj();
            self.w.kv_arr("partitionKeys");
            self.w.begin_obj();
            self.w.kv_str("name", "dt");
            self.w.kv_str("type", "string");
            self.w.end_obj();
            self.w.end_arr();
            self.w.kv_str("tableType", "EXTERNAL_TABLE");
            if self.rng.chance(0.5) {
                self.w.kv_obj("parameters");
                self.w.kv_str("classification", "parquet");
                self.w.kv_str("EXTERNAL", "TRUE");
                self.w.kv_str("projection.enabled", "true");
                self.w.end_obj();
            } else {
                self.w.kv_str(
                    "parameters",
                    "{classification=parquet, EXTERNAL=TRUE, projection.enabled=true}",
                );
            }
            self.w.end_obj();
        }
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(name == "GetTable"));
        let host = self.service_host("glue");
        self.tail(Tail {
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    /// `requestParameters.resource` is an object or an ARN string.
    fn lake_formation(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let region = self.region;
        let name = *self.rng.pick(&["GrantPermissions", "RevokePermissions"]);
        let actor = Actor::Role(self.role_of(RoleKind::Sso));
        let ip = self.client_ip();
        let ua = self.browser_ua();
        let version = self.version(&["1.08", "1.09"]);
        self.head(
            version,
            actor,
            None,
            t,
            "lakeformation.amazonaws.com",
            name,
            ip,
            Some(ua),
        );
        let table = *self
            .rng
            .pick(&["cloudtrail_events", "orders", "clickstream_raw"]);
        self.w.kv_obj("requestParameters");
        self.w.kv_obj("principal");
        self.w.kv_strf(
            "dataLakePrincipalIdentifier",
            format_args!("arn:aws:iam::{id}:role/lambda-exec-orders"),
        );
        self.w.end_obj();
        if self.rng.chance(0.5) {
            self.w.kv_obj("resource");
            self.w.kv_obj("table");
            self.w.kv_str("catalogId", id);
            self.w.kv_str("databaseName", "analytics");
            self.w.kv_str("name", table);
            self.w.end_obj();
            self.w.end_obj();
        } else {
            self.w.kv_strf(
                "resource",
                format_args!("arn:aws:glue:{region}:{id}:table/analytics/{table}"),
            );
        }
        self.w.kv_arr("permissions");
        self.w.str("SELECT");
        self.w.str("DESCRIBE");
        self.w.end_arr();
        self.w.kv_arr("permissionsWithGrantOption");
        self.w.end_arr();
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(false));
        let host = self.service_host("lakeformation");
        self.tail(Tail {
            console: true,
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    // ---------------------------------------------------------------- Secrets Manager, SSO

    fn secrets(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let region = self.region;
        let actor = Actor::Role(self.workload_role());
        let vpce = self.rng.chance(0.3);
        let ip: Cow<'_, str> = if vpce {
            Cow::Owned(self.private_ip())
        } else {
            Cow::Borrowed(self.client_ip())
        };
        let ua = self.sdk_ua();
        let version = self.version(&["1.08", "1.09", "1.10", "1.11"]);
        self.head(
            version,
            actor,
            None,
            t,
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            &ip,
            Some(ua),
        );
        if self.rng.chance(0.03) {
            self.error(
                Some("ResourceNotFoundException"),
                "Secrets Manager can't find the specified secret.",
            );
        }
        let secret = self.rng.pick(&acct.secrets);
        self.w.kv_obj("requestParameters");
        self.w.kv_strf(
            "secretId",
            format_args!("arn:aws:secretsmanager:{region}:{id}:secret:{secret}"),
        );
        self.w.end_obj();
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(true));
        let host = self.service_host("secretsmanager");
        self.tail(Tail {
            vpce,
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }

    fn sso_portal(&mut self, t: i64) {
        let acct = self.acct;
        let id = acct.id.as_str();
        let name = *self
            .rng
            .pick(&["GetRoleCredentials", "ListAccountRoles", "ListAccounts"]);
        let user = self.rng.idx(acct.sso_users.len());
        let ip = self.client_ip();
        let ua = self.browser_ua();
        let version = self.version(&["1.08", "1.11"]);
        self.head(
            version,
            Actor::IdentityCenter(user),
            None,
            t,
            "sso.amazonaws.com",
            name,
            ip,
            Some(ua),
        );
        if name == "ListAccounts" {
            self.w.kv_null("requestParameters");
        } else {
            self.w.kv_obj("requestParameters");
            self.w.kv_str("accountId", id);
            if name == "GetRoleCredentials" {
                self.w.kv_str("roleName", "AdministratorAccess");
            }
            self.w.end_obj();
        }
        self.w.kv_null("responseElements");
        self.ids(ReqId::Uuid, Some(true));
        let host = format!("portal.sso.{}.amazonaws.com", self.region);
        self.tail(Tail {
            tls_host: Some(Cow::Owned(host)),
            ..Tail::default()
        });
    }
}
