//! Client configuration: bootstrap servers, librdkafka properties, security.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;

use crate::contract::{SecurityScheme, Server};

/// Environment variable that overrides the bootstrap servers of any configuration
/// built by [`KafkaConfig::from_env_or_server`].
pub const ENV_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// Environment variable with the SASL user name (used when the builder has none).
pub const ENV_SASL_USERNAME: &str = "KAFKA_SASL_USERNAME";
/// Environment variable with the SASL password (used when the builder has none).
pub const ENV_SASL_PASSWORD: &str = "KAFKA_SASL_PASSWORD";
/// Environment variable with the path of a PEM file of the CA certificates that signed
/// the brokers' certificates (`ssl.ca.location`), used for TLS connections when the
/// builder set none.
pub const ENV_SSL_CA_LOCATION: &str = "KAFKA_SSL_CA_LOCATION";

const REDACTED: &str = "<redacted>";

/// A configuration problem, found before any connection is attempted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable of a server's URL has no override and no default value.
    #[error("server `{server}`: variable `{variable}` has no value and no default; pass it as an override")]
    MissingVariable {
        /// The name of the server.
        server: &'static str,
        /// The name of the variable without a value.
        variable: String,
    },
    /// A variable of a server's URL has a value that is not among its allowed values.
    #[error("server `{server}`: value `{value}` of variable `{variable}` is not one of the allowed values: {}", allowed.join(", "))]
    DisallowedValue {
        /// The name of the server.
        server: &'static str,
        /// The name of the variable.
        variable: String,
        /// The value the variable was given.
        value: String,
        /// The values the variable allows.
        allowed: Vec<&'static str>,
    },
    /// A server's URL has a `{` with no closing `}`.
    #[error("server `{server}`: url `{url}` has an unclosed `{{`")]
    MalformedUrl {
        /// The name of the server.
        server: &'static str,
        /// The server's URL as written in the document.
        url: &'static str,
    },
    /// No bootstrap servers were given, neither by the environment nor by a server.
    #[error("no bootstrap servers: set {ENV_BOOTSTRAP_SERVERS} or pass a server of the document")]
    MissingBootstrapServers,
    /// A security scheme has a type this runtime does not support for Kafka.
    #[error("security scheme `{scheme}` has type `{kind}`, which this runtime does not support for Kafka")]
    UnsupportedSecurity {
        /// The name of the security scheme.
        scheme: &'static str,
        /// The scheme's type, as written in the document.
        kind: &'static str,
    },
    /// A security scheme needs a credential that neither the builder nor the environment gives.
    #[error(
        "security scheme `{scheme}` needs a {what}: set it on the config builder or in ${env}"
    )]
    MissingCredential {
        /// The name of the security scheme.
        scheme: &'static str,
        /// The credential that is missing: `user name` or `password`.
        what: &'static str,
        /// The environment variable the credential can be set in.
        env: &'static str,
    },
    /// librdkafka could not create the client from the configuration.
    #[error("cannot create the Kafka client: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
}

/// Connection settings shared by [`Producer`](crate::Producer) and
/// [`Consumer`](crate::Consumer).
///
/// Any librdkafka property can be passed through with [`set`](Self::set). `Debug`
/// never prints secrets.
#[derive(Clone, Default)]
pub struct KafkaConfig {
    props: BTreeMap<String, String>,
    sasl_username: Option<String>,
    sasl_password: Option<String>,
    /// The scheme whose credentials must be resolved when the client is built.
    sasl_scheme: Option<&'static str>,
    /// TLS: the server's protocol (`kafka-secure`) or an `X509` scheme asked for it.
    secure: bool,
    /// Producers check what they send against the channel's payload schema.
    validate_sends: bool,
    /// Clients built from this configuration use this in-memory broker, not Kafka.
    #[cfg(feature = "testing")]
    memory: Option<std::sync::Arc<crate::testing::Memory>>,
}

impl KafkaConfig {
    /// A configuration for the given `bootstrap.servers` list (`host:port[,host:port]`).
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaConfig::default().set("bootstrap.servers", bootstrap_servers)
    }

    /// Builds the configuration for a server of the document, filling the URL's
    /// `{variables}` from `overrides` or the variables' defaults, and dropping any
    /// `scheme://` prefix and path.
    pub fn for_server(server: &Server, overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let url = resolve_server_url(server, overrides)?;
        let bootstrap = url
            .split(',')
            .map(strip_scheme_and_path)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        if bootstrap.is_empty() {
            return Err(ConfigError::MissingBootstrapServers);
        }
        Ok(KafkaConfig::new(bootstrap).with_server_protocol(server))
    }

    /// Asks for TLS when the server's protocol does.
    fn with_server_protocol(mut self, server: &Server) -> Self {
        if matches!(server.protocol, "kafka-secure" | "secure" | "ssl" | "https") {
            self.secure = true;
        }
        self.with_security_protocol()
    }

    /// Sets `security.protocol` from what the server and every scheme applied so far
    /// asked for, so that the order schemes are applied in does not matter.
    fn with_security_protocol(self) -> Self {
        let protocol = match (self.sasl_scheme.is_some(), self.secure) {
            (true, true) => "SASL_SSL",
            (true, false) => "SASL_PLAINTEXT",
            (false, true) => "SSL",
            (false, false) => return self,
        };
        self.set("security.protocol", protocol)
    }

    /// `KAFKA_BOOTSTRAP_SERVERS` if set, else the resolved `server` (variable defaults
    /// only). Errors if neither is available.
    pub fn from_env_or_server(server: Option<&Server>) -> Result<Self, ConfigError> {
        let env = std::env::var(ENV_BOOTSTRAP_SERVERS)
            .ok()
            .filter(|v| !v.trim().is_empty());
        match (env, server) {
            // Keep what the server implies (TLS) but point at the override; the
            // server's URL need not resolve.
            (Some(servers), Some(server)) => {
                Ok(KafkaConfig::new(servers.trim()).with_server_protocol(server))
            }
            (Some(servers), None) => Ok(KafkaConfig::new(servers.trim())),
            (None, Some(server)) => KafkaConfig::for_server(server, &[]),
            (None, None) => Err(ConfigError::MissingBootstrapServers),
        }
    }

    /// A configuration whose clients use `memory` instead of Kafka.
    #[cfg(feature = "testing")]
    pub(crate) fn in_memory(memory: std::sync::Arc<crate::testing::Memory>) -> Self {
        let mut config = KafkaConfig::new("in-memory");
        config.memory = Some(memory);
        config
    }

    /// The in-memory broker clients of this configuration use, if any.
    #[cfg(feature = "testing")]
    pub(crate) fn memory(&self) -> Option<&std::sync::Arc<crate::testing::Memory>> {
        self.memory.as_ref()
    }

    /// Sets any librdkafka property (overrides earlier values and runtime defaults).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// The value of a property set on this configuration.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// The `bootstrap.servers` list, if set.
    pub fn bootstrap_servers(&self) -> Option<&str> {
        self.get("bootstrap.servers")
    }

    /// Sets `group.id`.
    pub fn group_id(self, group_id: impl Into<String>) -> Self {
        self.set("group.id", group_id)
    }

    /// Producers built from this configuration validate every message against its
    /// channel's payload schema before sending (`SendError::Schema`, nothing sent).
    /// Off by default: the generated types already carry most of the schema, and the
    /// receiving side validates; turn it on in tests to catch a contract break where
    /// it is made.
    pub fn validate_sends(mut self, validate: bool) -> Self {
        self.validate_sends = validate;
        self
    }

    /// Whether producers validate what they send ([`validate_sends`](Self::validate_sends)).
    pub fn validates_sends(&self) -> bool {
        self.validate_sends
    }

    /// Sets `client.id`.
    pub fn client_id(self, client_id: impl Into<String>) -> Self {
        self.set("client.id", client_id)
    }

    /// SASL credentials; take precedence over `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD`.
    pub fn sasl_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.sasl_username = Some(username.into());
        self.sasl_password = Some(password.into());
        self
    }

    /// Applies a security scheme of the document. Credentials never come from the
    /// document: they are taken from [`sasl_credentials`](Self::sasl_credentials) or
    /// the environment when the client is built.
    pub fn security(mut self, scheme: &SecurityScheme) -> Result<Self, ConfigError> {
        let mechanism = match scheme.kind {
            "userPassword" | "plain" => Some("PLAIN"),
            "scramSha256" => Some("SCRAM-SHA-256"),
            "scramSha512" => Some("SCRAM-SHA-512"),
            "X509" => None,
            kind => {
                return Err(ConfigError::UnsupportedSecurity {
                    scheme: scheme.name,
                    kind,
                })
            }
        };
        match mechanism {
            Some(mechanism) => {
                self.sasl_scheme = Some(scheme.name);
                self = self.set("sasl.mechanism", mechanism);
            }
            None => self.secure = true,
        }
        Ok(self.with_security_protocol())
    }

    /// Applies every security scheme the server requires, looked up by name in `schemes`.
    pub fn security_for_server(
        mut self,
        server: &Server,
        schemes: &[SecurityScheme],
    ) -> Result<Self, ConfigError> {
        for name in server.security {
            if let Some(scheme) = schemes.iter().find(|s| s.name == *name) {
                self = self.security(scheme)?;
            }
        }
        Ok(self)
    }

    /// This configuration without consumer-only properties, for the consumer's own
    /// producer (librdkafka warns about every foreign property it is given).
    pub(crate) fn for_producer(&self) -> Self {
        let mut c = self.clone();
        c.props.retain(|k, _| !is_consumer_only(k));
        c
    }

    /// The effective properties, with SASL credentials (builder, then env) and the
    /// TLS trust anchor (property, then env) resolved.
    pub(crate) fn resolved_props(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut props = self.props.clone();
        if !props.contains_key("bootstrap.servers") {
            return Err(ConfigError::MissingBootstrapServers);
        }
        self.resolve_sasl(&mut props)?;
        resolve_ca(&mut props);
        Ok(props)
    }

    fn resolve_sasl(&self, props: &mut BTreeMap<String, String>) -> Result<(), ConfigError> {
        if let Some(scheme) = self.sasl_scheme {
            let username = self
                .sasl_username
                .clone()
                .or_else(|| props.get("sasl.username").cloned())
                .or_else(|| std::env::var(ENV_SASL_USERNAME).ok())
                .ok_or(ConfigError::MissingCredential {
                    scheme,
                    what: "user name",
                    env: ENV_SASL_USERNAME,
                })?;
            let password = self
                .sasl_password
                .clone()
                .or_else(|| props.get("sasl.password").cloned())
                .or_else(|| std::env::var(ENV_SASL_PASSWORD).ok())
                .ok_or(ConfigError::MissingCredential {
                    scheme,
                    what: "password",
                    env: ENV_SASL_PASSWORD,
                })?;
            props.insert("sasl.username".into(), username);
            props.insert("sasl.password".into(), password);
        } else if let (Some(u), Some(p)) = (&self.sasl_username, &self.sasl_password) {
            props.insert("sasl.username".into(), u.clone());
            props.insert("sasl.password".into(), p.clone());
        }
        Ok(())
    }

    /// Builds an rdkafka `ClientConfig`: `defaults` first, then this configuration's
    /// properties (which win), then `forced` (which the runtime's semantics depend on).
    pub(crate) fn client_config(
        &self,
        defaults: &[(&str, &str)],
        forced: &[(&str, &str)],
    ) -> Result<ClientConfig, ConfigError> {
        let mut cc = ClientConfig::new();
        for (k, v) in defaults {
            cc.set(*k, *v);
        }
        for (k, v) in self.resolved_props()? {
            cc.set(k, v);
        }
        for (k, v) in forced {
            cc.set(*k, *v);
        }
        Ok(cc)
    }
}

/// Trusts the CA of `KAFKA_SSL_CA_LOCATION` on a TLS connection that names none: a
/// private CA is then configured the same way for every constructor, like credentials.
fn resolve_ca(props: &mut BTreeMap<String, String>) {
    let tls = props
        .get("security.protocol")
        .is_some_and(|p| p.eq_ignore_ascii_case("SSL") || p.eq_ignore_ascii_case("SASL_SSL"));
    if !tls || props.contains_key("ssl.ca.location") {
        return;
    }
    if let Some(ca) = std::env::var(ENV_SSL_CA_LOCATION)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        props.insert("ssl.ca.location".into(), ca.trim().to_owned());
    }
}

fn is_consumer_only(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "group.id",
        "group.instance.id",
        "group.protocol",
        "group.remote.assignor",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "auto.commit.interval.ms",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "auto.offset.reset",
        "partition.assignment.strategy",
        "isolation.level",
        "enable.partition.eof",
        "check.crcs",
        "coordinator.query.interval.ms",
        "allow.auto.create.topics",
    ];
    EXACT.contains(&key) || key.starts_with("fetch.") || key.starts_with("queued.")
}

/// Whether a property's value must never be printed.
pub(crate) fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key.ends_with(".key.pem")
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Props<'a>(&'a BTreeMap<String, String>);
        impl fmt::Debug for Props<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0
                            .iter()
                            .map(|(k, v)| (k, if is_secret(k) { REDACTED } else { v.as_str() })),
                    )
                    .finish()
            }
        }
        f.debug_struct("KafkaConfig")
            .field("props", &Props(&self.props))
            .field("sasl_username", &self.sasl_username)
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| REDACTED),
            )
            .field("sasl_scheme", &self.sasl_scheme)
            .finish()
    }
}

fn resolve_server_url(server: &Server, overrides: &[(&str, &str)]) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(server.url.len());
    let mut rest = server.url;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or(ConfigError::MalformedUrl {
            server: server.name,
            url: server.url,
        })?;
        let name = &after[..end];
        let declared = server.variables.iter().find(|v| v.name == name);
        let value = overrides
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .or_else(|| declared.and_then(|v| v.default))
            .ok_or_else(|| ConfigError::MissingVariable {
                server: server.name,
                variable: name.to_owned(),
            })?;
        if let Some(var) = declared {
            if !var.allowed.is_empty() && !var.allowed.contains(&value) {
                return Err(ConfigError::DisallowedValue {
                    server: server.name,
                    variable: name.to_owned(),
                    value: value.to_owned(),
                    allowed: var.allowed.to_vec(),
                });
            }
        }
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn strip_scheme_and_path(entry: &str) -> &str {
    let entry = entry.trim();
    let entry = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    entry.split('/').next().unwrap_or(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ServerVariable;

    const VARS: &[ServerVariable] = &[
        ServerVariable {
            name: "host",
            default: None,
            allowed: &[],
            description: None,
        },
        ServerVariable {
            name: "port",
            default: Some("9092"),
            allowed: &["9092", "9093"],
            description: None,
        },
    ];

    fn server(url: &'static str, protocol: &'static str) -> Server {
        Server {
            name: "prod",
            url,
            protocol,
            protocol_version: None,
            description: None,
            variables: VARS,
            security: &[],
        }
    }

    #[test]
    fn fills_variables_and_strips_scheme() {
        let s = server("kafka://{host}:{port}/", "kafka");
        let c = KafkaConfig::for_server(&s, &[("host", "broker-1")]).unwrap();
        assert_eq!(c.bootstrap_servers(), Some("broker-1:9092"));
        let c = KafkaConfig::for_server(&s, &[("host", "b"), ("port", "9093")]).unwrap();
        assert_eq!(c.bootstrap_servers(), Some("b:9093"));
    }

    #[test]
    fn variable_without_value_or_default_is_an_error() {
        let s = server("{host}:{port}", "kafka");
        let err = KafkaConfig::for_server(&s, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::MissingVariable { ref variable, .. } if variable == "host")
        );
        let err = KafkaConfig::for_server(&s, &[("host", "h"), ("port", "1")]).unwrap_err();
        assert!(matches!(err, ConfigError::DisallowedValue { .. }));
        // The allowed values as a reader lists them, not Rust's debug format.
        assert!(
            err.to_string()
                .ends_with("is not one of the allowed values: 9092, 9093"),
            "{err}"
        );
    }

    #[test]
    fn security_kinds_map_to_librdkafka() {
        let plain = SecurityScheme {
            name: "creds",
            kind: "userPassword",
            description: None,
        };
        let c = KafkaConfig::for_server(&server("kafka-secure://h:9092", "kafka-secure"), &[])
            .unwrap()
            .security(&plain)
            .unwrap()
            .sasl_credentials("alice", "s3cr3t");
        let props = c.resolved_props().unwrap();
        assert_eq!(props["security.protocol"], "SASL_SSL");
        assert_eq!(props["sasl.mechanism"], "PLAIN");
        assert_eq!(props["sasl.username"], "alice");
        assert_eq!(props["sasl.password"], "s3cr3t");

        let scram = SecurityScheme {
            name: "scram",
            kind: "scramSha512",
            description: None,
        };
        let c = KafkaConfig::new("h:1").security(&scram).unwrap();
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("security.protocol"), Some("SASL_PLAINTEXT"));

        let x509 = SecurityScheme {
            name: "cert",
            kind: "X509",
            description: None,
        };
        let c = KafkaConfig::new("h:1").security(&x509).unwrap();
        assert_eq!(c.get("security.protocol"), Some("SSL"));

        let oauth = SecurityScheme {
            name: "o",
            kind: "oauth2",
            description: None,
        };
        assert!(matches!(
            KafkaConfig::new("h:1").security(&oauth),
            Err(ConfigError::UnsupportedSecurity { .. })
        ));
    }

    const SCRAM: SecurityScheme = SecurityScheme {
        name: "scram",
        kind: "scramSha512",
        description: None,
    };
    const CERT: SecurityScheme = SecurityScheme {
        name: "cert",
        kind: "X509",
        description: None,
    };

    fn protocol_after(config: KafkaConfig, schemes: &[&SecurityScheme]) -> Option<String> {
        let mut config = config;
        for scheme in schemes {
            config = config.security(scheme).unwrap();
        }
        config.get("security.protocol").map(str::to_owned)
    }

    #[test]
    fn sasl_on_a_secure_server_is_sasl_ssl() {
        let secure = || KafkaConfig::for_server(&server("h:{port}", "kafka-secure"), &[]).unwrap();
        assert_eq!(protocol_after(secure(), &[]).as_deref(), Some("SSL"));
        assert_eq!(
            protocol_after(secure(), &[&SCRAM]).as_deref(),
            Some("SASL_SSL")
        );
        let plain = || KafkaConfig::for_server(&server("h:{port}", "kafka"), &[]).unwrap();
        assert_eq!(protocol_after(plain(), &[]), None);
        assert_eq!(
            protocol_after(plain(), &[&SCRAM]).as_deref(),
            Some("SASL_PLAINTEXT")
        );
    }

    #[test]
    fn sasl_and_x509_in_either_order_are_sasl_ssl() {
        for order in [[&SCRAM, &CERT], [&CERT, &SCRAM]] {
            let c = KafkaConfig::new("h:1");
            assert_eq!(
                protocol_after(c, &order).as_deref(),
                Some("SASL_SSL"),
                "{:?}",
                order.map(|s| s.kind)
            );
        }
        let secure = KafkaConfig::for_server(&server("h:{port}", "kafka-secure"), &[]).unwrap();
        assert_eq!(
            protocol_after(secure, &[&SCRAM, &CERT]).as_deref(),
            Some("SASL_SSL")
        );
    }

    #[test]
    fn security_for_server_applies_every_named_scheme() {
        let s = Server {
            security: &["scram", "cert"],
            ..server("h:{port}", "kafka")
        };
        let c = KafkaConfig::for_server(&s, &[])
            .unwrap()
            .security_for_server(&s, &[CERT, SCRAM])
            .unwrap();
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    }

    // The only test touching these variables, so no other test races with it.
    #[test]
    fn environment_overrides_bootstrap_and_supplies_credentials() {
        let s = server("kafka://{host}:{port}", "kafka");
        std::env::set_var(ENV_BOOTSTRAP_SERVERS, "env-broker:1234");
        std::env::set_var(ENV_SASL_USERNAME, "env-user");
        std::env::set_var(ENV_SASL_PASSWORD, "env-pass");
        let from_env = KafkaConfig::from_env_or_server(Some(&s));
        let plain = SecurityScheme {
            name: "creds",
            kind: "plain",
            description: None,
        };
        let with_env_creds = KafkaConfig::new("h:1")
            .security(&plain)
            .unwrap()
            .resolved_props();
        // A server whose URL cannot be resolved still says it wants TLS.
        let secure = server("{host}:{port}", "kafka-secure");
        let secure_from_env = KafkaConfig::from_env_or_server(Some(&secure));
        std::env::set_var(ENV_SSL_CA_LOCATION, "/env/ca.pem");
        let tls_ca = KafkaConfig::new("h:1")
            .security(&CERT)
            .unwrap()
            .resolved_props();
        let sasl_ssl_ca = KafkaConfig::new("h:1")
            .security(&SCRAM)
            .unwrap()
            .security(&CERT)
            .unwrap()
            .resolved_props();
        let explicit_ca = KafkaConfig::new("h:1")
            .security(&CERT)
            .unwrap()
            .set("ssl.ca.location", "/own/ca.pem")
            .resolved_props();
        let plaintext_ca = KafkaConfig::new("h:1").resolved_props();
        std::env::remove_var(ENV_BOOTSTRAP_SERVERS);
        std::env::remove_var(ENV_SASL_USERNAME);
        std::env::remove_var(ENV_SASL_PASSWORD);
        std::env::remove_var(ENV_SSL_CA_LOCATION);
        let without_env = KafkaConfig::from_env_or_server(None);
        let missing_creds = KafkaConfig::new("h:1")
            .security(&plain)
            .unwrap()
            .resolved_props();

        assert_eq!(
            from_env.unwrap().bootstrap_servers(),
            Some("env-broker:1234")
        );
        let props = with_env_creds.unwrap();
        assert_eq!(props["sasl.username"], "env-user");
        assert_eq!(props["sasl.password"], "env-pass");
        assert!(matches!(
            without_env,
            Err(ConfigError::MissingBootstrapServers)
        ));
        assert!(matches!(
            missing_creds,
            Err(ConfigError::MissingCredential { .. })
        ));
        let secure_from_env = secure_from_env.unwrap();
        assert_eq!(secure_from_env.bootstrap_servers(), Some("env-broker:1234"));
        assert_eq!(secure_from_env.get("security.protocol"), Some("SSL"));
        assert_eq!(tls_ca.unwrap()["ssl.ca.location"], "/env/ca.pem");
        let sasl_ssl_ca = sasl_ssl_ca.unwrap();
        assert_eq!(sasl_ssl_ca["security.protocol"], "SASL_SSL");
        assert_eq!(sasl_ssl_ca["ssl.ca.location"], "/env/ca.pem");
        assert_eq!(explicit_ca.unwrap()["ssl.ca.location"], "/own/ca.pem");
        assert!(!plaintext_ca.unwrap().contains_key("ssl.ca.location"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = KafkaConfig::new("h:1")
            .sasl_credentials("alice", "hunter2-a")
            .set("sasl.password", "hunter2-b")
            .set("ssl.key.password", "hunter2-c")
            .set("ssl.keystore.password", "hunter2-d")
            .set("sasl.oauthbearer.client.secret", "hunter2-e")
            .set("client.id", "visible-id");
        let text = format!("{c:?} {c:#?}");
        assert!(!text.contains("hunter2"), "secret leaked: {text}");
        assert!(text.contains("visible-id"));
        assert!(text.contains("alice"));
    }
}
