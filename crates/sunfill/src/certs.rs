//! `sunfill certs init` and `sunfill certs show`: a small CA for Mosquitto and its clients.
//!
//! `init` writes into one directory: `ca.crt`/`ca.key` (reused if present, so more clients can
//! be added later), `broker.crt`/`broker.key` with the broker's host name and IP addresses as
//! subject alternative names, one `<name>.crt`/`<name>.key` per client (its CN becomes the MQTT
//! user name with `use_identity_as_username`), `mosquitto.conf` (a listener snippet) and
//! `sunfill.toml` (the matching `[mqtt]` lines). Private keys are created with mode 0600.

use crate::mqtt::tls::{cert_info, read_certs, CertInfo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// A certificate tooling failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}; check that the directory exists and is writable", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A certificate could not be generated or parsed.
    #[error("{what}: {detail}")]
    Cert {
        /// What was being done.
        what: String,
        /// The library's error.
        detail: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Cert {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

/// A certificate's validity period.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    /// Start.
    pub not_before: OffsetDateTime,
    /// End.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From one hour ago (clock skew) for `days` days.
    pub fn days(days: i64) -> Validity {
        let now = OffsetDateTime::now_utc();
        Validity {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(days),
        }
    }
}

/// A CA: its certificate (PEM) and key.
pub struct Ca {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    key_pem: String,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str, validity: Validity) -> Result<Ca, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err("CA"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "sunfill");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let key = KeyPair::generate().map_err(cert_err("CA key"))?;
        let cert = params
            .self_signed(&key)
            .map_err(cert_err("CA certificate"))?;
        let key_pem = key.serialize_pem();
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            key_pem,
        })
    }

    /// Loads a CA written by [`init`].
    pub fn load(cert: &Path, key: &Path) -> Result<Ca, Error> {
        let cert_pem = std::fs::read_to_string(cert).map_err(io(cert))?;
        let key_pem = std::fs::read_to_string(key).map_err(io(key))?;
        let kp = KeyPair::from_pem(&key_pem).map_err(cert_err("CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, kp).map_err(cert_err("CA certificate"))?;
        Ok(Ca {
            cert_pem,
            issuer,
            key_pem,
        })
    }

    /// The CA's private key, PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a broker certificate valid for `host` (DNS name or IP) and `ips`.
    pub fn issue_server(
        &self,
        host: &str,
        ips: &[IpAddr],
        validity: Validity,
    ) -> Result<(String, String), Error> {
        let mut sans = Vec::new();
        match host.parse::<IpAddr>() {
            Ok(ip) => sans.push(SanType::IpAddress(ip)),
            Err(_) => sans.push(SanType::DnsName(host.try_into().map_err(cert_err(
                "broker host name (letters, digits, '-' and '.' only)",
            ))?)),
        }
        for ip in ips {
            if !sans.contains(&SanType::IpAddress(*ip)) {
                sans.push(SanType::IpAddress(*ip));
            }
        }
        self.issue(host, sans, ExtendedKeyUsagePurpose::ServerAuth, validity)
    }

    /// Issues a client certificate whose CN (the MQTT user with `use_identity_as_username`)
    /// is `name`.
    pub fn issue_client(&self, name: &str, validity: Validity) -> Result<(String, String), Error> {
        self.issue(
            name,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            validity,
        )
    }

    fn issue(
        &self,
        cn: &str,
        sans: Vec<SanType>,
        eku: ExtendedKeyUsagePurpose,
        validity: Validity,
    ) -> Result<(String, String), Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err(cn))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![eku];
        params.use_authority_key_identifier_extension = true;
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let key = KeyPair::generate().map_err(cert_err("key"))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_err(cn))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Writes a file; keys get mode 0600 from the start (never world-readable, not even briefly).
pub fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), Error> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if secret {
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io(path))?;
        if secret {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io(path))?;
        }
        f.write_all(contents.as_bytes()).map_err(io(path))
    }
    #[cfg(not(unix))]
    {
        let _ = secret;
        let mut f = opts.open(path).map_err(io(path))?;
        f.write_all(contents.as_bytes()).map_err(io(path))
    }
}

/// What `certs init` should create.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Output directory (created if missing).
    pub dir: PathBuf,
    /// The broker's host name (or IP) as clients connect to it.
    pub host: String,
    /// Extra IP addresses of the broker.
    pub ips: Vec<IpAddr>,
    /// Client names; `sunfill` if empty.
    pub clients: Vec<String>,
    /// Validity of the broker and client certificates, days.
    pub days: i64,
}

/// What `certs init` wrote.
#[derive(Clone, Debug)]
pub struct InitReport {
    /// The directory (absolute).
    pub dir: PathBuf,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The Mosquitto listener snippet.
    pub mosquitto_conf: String,
    /// The sunfill `[mqtt]` lines.
    pub sunfill_toml: String,
}

/// Creates (or extends) the CA directory; see the module docs.
pub fn init(o: &InitOptions) -> Result<InitReport, Error> {
    std::fs::create_dir_all(&o.dir).map_err(io(&o.dir))?;
    let dir = std::fs::canonicalize(&o.dir).map_err(io(&o.dir))?;
    let mut files = Vec::new();
    let ca_crt = dir.join("ca.crt");
    let ca_key = dir.join("ca.key");
    let ca = if ca_crt.exists() && ca_key.exists() {
        Ca::load(&ca_crt, &ca_key)?
    } else {
        let ca = Ca::new(&format!("sunfill CA for {}", o.host), Validity::days(3650))?;
        write_file(&ca_crt, &ca.cert_pem, false)?;
        write_file(&ca_key, ca.key_pem(), true)?;
        files.push(ca_crt.clone());
        files.push(ca_key.clone());
        ca
    };
    let validity = Validity::days(o.days);
    let (crt, key) = ca.issue_server(&o.host, &o.ips, validity)?;
    let broker_crt = dir.join("broker.crt");
    let broker_key = dir.join("broker.key");
    write_file(&broker_crt, &crt, false)?;
    write_file(&broker_key, &key, true)?;
    files.push(broker_crt.clone());
    files.push(broker_key.clone());
    let clients = if o.clients.is_empty() {
        vec!["sunfill".to_string()]
    } else {
        o.clients.clone()
    };
    for name in &clients {
        if name.is_empty() || name.contains(['/', '\\', '+', '#']) || name.starts_with('.') {
            return Err(Error::Cert {
                what: format!("client name \"{name}\""),
                detail:
                    "use letters, digits, '-' and '_' (it becomes a file name and the MQTT user)"
                        .into(),
            });
        }
        let (crt, key) = ca.issue_client(name, validity)?;
        let c = dir.join(format!("{name}.crt"));
        let k = dir.join(format!("{name}.key"));
        write_file(&c, &crt, false)?;
        write_file(&k, &key, true)?;
        files.push(c);
        files.push(k);
    }
    let d = dir.display();
    let mosquitto_conf = format!(
        "# Mosquitto TLS listener, written by `sunfill certs init` (include it or paste it into\n\
         # mosquitto.conf). Mosquitto must be able to read broker.key: if it runs as user\n\
         # mosquitto, `chown mosquitto {d}/broker.key` (keep mode 0600).\n\
         listener 8883\n\
         cafile {d}/ca.crt\n\
         certfile {d}/broker.crt\n\
         keyfile {d}/broker.key\n\
         tls_version tlsv1.2\n\
         # Mutual TLS: every client needs a certificate signed by ca.crt; its CN is its user name.\n\
         require_certificate true\n\
         use_identity_as_username true\n"
    );
    let first = &clients[0];
    let host = if o.host.contains(':') {
        format!("[{}]", o.host)
    } else {
        o.host.clone()
    };
    let sunfill_toml = format!(
        "# sunfill config lines, written by `sunfill certs init`\n\
         [mqtt]\n\
         broker = \"mqtts://{host}:8883\"\n\
         ca_file = \"{d}/ca.crt\"\n\
         client_cert = \"{d}/{first}.crt\"\n\
         client_key = \"{d}/{first}.key\"\n\
         # Test by hand: mosquitto_sub -h {h} -p 8883 --cafile {d}/ca.crt --cert {d}/{first}.crt --key {d}/{first}.key -t 'sunfill/#' -v\n",
        h = o.host
    );
    let conf = dir.join("mosquitto.conf");
    let toml = dir.join("sunfill.toml");
    write_file(&conf, &mosquitto_conf, false)?;
    write_file(&toml, &sunfill_toml, false)?;
    files.push(conf);
    files.push(toml);
    Ok(InitReport {
        dir,
        files,
        mosquitto_conf,
        sunfill_toml,
    })
}

/// Describes a certificate in plain words, with a verdict on its dates.
pub fn describe(info: &CertInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "subject:   {}", info.subject);
    let _ = writeln!(s, "issuer:    {}", info.issuer);
    if info.subject == info.issuer {
        let _ = writeln!(s, "           (self-signed)");
    }
    let _ = writeln!(
        s,
        "kind:      {}",
        if info.is_ca {
            "CA certificate (signs other certificates)"
        } else {
            "end-entity certificate (a broker or a client)"
        }
    );
    if info.sans.is_empty() {
        let _ = writeln!(
            s,
            "names:     none (no subject alternative names: TLS clients will not accept it for any host)"
        );
    } else {
        let _ = writeln!(s, "names:     {}", info.sans.join(", "));
    }
    let _ = writeln!(
        s,
        "valid:     from {} until {}",
        info.not_before, info.not_after
    );
    let verdict = if info.valid_in_secs > 0 {
        format!(
            "NOT YET VALID: becomes valid in {} (check the clocks)",
            human(info.valid_in_secs)
        )
    } else if info.expires_in_secs < 0 {
        format!("EXPIRED {} ago", human(-info.expires_in_secs))
    } else {
        format!("valid now; expires in {}", human(info.expires_in_secs))
    };
    let _ = writeln!(s, "status:    {verdict}");
    s
}

fn human(secs: i64) -> String {
    let days = secs / 86_400;
    if days >= 2 {
        format!("{days} days")
    } else if secs >= 7200 {
        format!("{} hours", secs / 3600)
    } else {
        format!("{} minutes", secs / 60)
    }
}

/// `sunfill certs show FILE`: every certificate in a PEM file, described.
pub fn show(path: &Path) -> Result<String, Error> {
    let certs = read_certs(path, "certificate file").map_err(|detail| Error::Cert {
        what: format!("{}", path.display()),
        detail,
    })?;
    if certs.is_empty() {
        return Err(Error::Cert {
            what: path.display().to_string(),
            detail: "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into(),
        });
    }
    let mut out = String::new();
    for (i, der) in certs.iter().enumerate() {
        if certs.len() > 1 {
            let _ = writeln!(out, "certificate {} of {}:", i + 1, certs.len());
        }
        match cert_info(der) {
            Some(info) => out.push_str(&describe(&info)),
            None => {
                let _ = writeln!(out, "(cannot parse this certificate)");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_a_working_set_with_private_keys_0600() {
        let dir = tempfile::tempdir().unwrap();
        let r = init(&InitOptions {
            dir: dir.path().join("pki"),
            host: "broker.lan".into(),
            ips: vec!["192.168.1.5".parse().unwrap()],
            clients: vec!["sunfill".into(), "ha".into()],
            days: 365,
        })
        .unwrap();
        assert_eq!(r.files.len(), 10);
        #[cfg(unix)]
        for f in r
            .files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "key"))
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
        let broker = show(&r.dir.join("broker.crt")).unwrap();
        assert!(
            broker.contains("names:     DNS:broker.lan, IP:192.168.1.5"),
            "{broker}"
        );
        assert!(
            broker.contains("issuer:    CN=sunfill CA for broker.lan"),
            "{broker}"
        );
        assert!(broker.contains("valid now; expires in 36"), "{broker}");
        let client = show(&r.dir.join("ha.crt")).unwrap();
        assert!(client.contains("subject:   CN=ha"), "{client}");
        assert!(r.mosquitto_conf.contains("use_identity_as_username true"));
        assert!(r
            .sunfill_toml
            .contains("broker = \"mqtts://broker.lan:8883\""));
        // A second run reuses the CA.
        let ca_before = std::fs::read_to_string(r.dir.join("ca.crt")).unwrap();
        init(&InitOptions {
            dir: r.dir.clone(),
            host: "broker.lan".into(),
            ips: vec![],
            clients: vec!["car".into()],
            days: 30,
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(r.dir.join("ca.crt")).unwrap(),
            ca_before
        );
    }

    #[test]
    fn show_says_expired() {
        let ca = Ca::new("test CA", Validity::days(10)).unwrap();
        let now = OffsetDateTime::now_utc();
        let (crt, _) = ca
            .issue_server(
                "old.lan",
                &[],
                Validity {
                    not_before: now - Duration::days(40),
                    not_after: now - Duration::days(10),
                },
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.crt");
        std::fs::write(&p, crt).unwrap();
        let s = show(&p).unwrap();
        assert!(s.contains("status:    EXPIRED 10 days ago"), "{s}");
    }
}
