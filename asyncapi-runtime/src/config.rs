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

const REDACTED: &str = "<redacted>";

/// A configuration problem, found before any connection is attempted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("server `{server}`: variable `{variable}` has no value and no default; pass it as an override")]
    MissingVariable {
        server: &'static str,
        variable: String,
    },
    #[error("server `{server}`: value `{value}` of variable `{variable}` is not one of the allowed values {allowed:?}")]
    DisallowedValue {
        server: &'static str,
        variable: String,
        value: String,
        allowed: Vec<&'static str>,
    },
    #[error("server `{server}`: url `{url}` has an unclosed `{{`")]
    MalformedUrl {
        server: &'static str,
        url: &'static str,
    },
    #[error("no bootstrap servers: set {ENV_BOOTSTRAP_SERVERS} or pass a server of the document")]
    MissingBootstrapServers,
    #[error("security scheme `{scheme}` has type `{kind}`, which this runtime does not support for Kafka")]
    UnsupportedSecurity {
        scheme: &'static str,
        kind: &'static str,
    },
    #[error(
        "security scheme `{scheme}` needs a {what}: set it on the config builder or in ${env}"
    )]
    MissingCredential {
        scheme: &'static str,
        what: &'static str,
        env: &'static str,
    },
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
    /// The server asked for TLS (`kafka-secure` protocol).
    secure: bool,
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
        let mut config = KafkaConfig::new(bootstrap);
        config.secure = matches!(server.protocol, "kafka-secure" | "secure" | "ssl" | "https");
        if config.secure {
            config = config.set("security.protocol", "SSL");
        }
        Ok(config)
    }

    /// `KAFKA_BOOTSTRAP_SERVERS` if set, else the resolved `server` (variable defaults
    /// only). Errors if neither is available.
    pub fn from_env_or_server(server: Option<&Server>) -> Result<Self, ConfigError> {
        let env = std::env::var(ENV_BOOTSTRAP_SERVERS)
            .ok()
            .filter(|v| !v.trim().is_empty());
        match (env, server) {
            (Some(servers), Some(server)) => {
                // Keep what the server implies (TLS) but point at the override.
                Ok(KafkaConfig::for_server(server, &[])
                    .unwrap_or_default()
                    .set("bootstrap.servers", servers.trim()))
            }
            (Some(servers), None) => Ok(KafkaConfig::new(servers.trim())),
            (None, Some(server)) => KafkaConfig::for_server(server, &[]),
            (None, None) => Err(ConfigError::MissingBootstrapServers),
        }
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
                let protocol = if self.secure {
                    "SASL_SSL"
                } else {
                    "SASL_PLAINTEXT"
                };
                self = self
                    .set("security.protocol", protocol)
                    .set("sasl.mechanism", mechanism);
                self.sasl_scheme = Some(scheme.name);
            }
            None => {
                self.secure = true;
                self = self.set("security.protocol", "SSL");
            }
        }
        Ok(self)
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

    /// The effective properties, with SASL credentials resolved (builder, then env).
    pub(crate) fn resolved_props(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut props = self.props.clone();
        if !props.contains_key("bootstrap.servers") {
            return Err(ConfigError::MissingBootstrapServers);
        }
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
        Ok(props)
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
        std::env::remove_var(ENV_BOOTSTRAP_SERVERS);
        std::env::remove_var(ENV_SASL_USERNAME);
        std::env::remove_var(ENV_SASL_PASSWORD);
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
