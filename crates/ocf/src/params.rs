//! Parameter tables: one static table per agent yields both the meta-data
//! `<parameters>` section and the typed values read from `OCF_RESKEY_*`.

use std::collections::BTreeMap;

use crate::{OcfEnv, OcfError, Result};

/// The content type of a parameter, as the OCF meta-data declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Boolean,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
        }
    }
}

/// One instance parameter of an agent.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamType,
    /// The value used when the parameter is absent ("" for none).
    pub default: &'static str,
    pub required: bool,
    pub unique: bool,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
}

impl ParamSpec {
    /// A string parameter with no default, neither required nor unique.
    pub const fn new(name: &'static str, shortdesc: &'static str) -> ParamSpec {
        ParamSpec {
            name,
            kind: ParamType::String,
            default: "",
            required: false,
            unique: false,
            shortdesc,
            longdesc: "",
        }
    }
    pub const fn kind(mut self, kind: ParamType) -> ParamSpec {
        self.kind = kind;
        self
    }
    pub const fn default(mut self, default: &'static str) -> ParamSpec {
        self.default = default;
        self
    }
    pub const fn required(mut self) -> ParamSpec {
        self.required = true;
        self
    }
    pub const fn unique(mut self) -> ParamSpec {
        self.unique = true;
        self
    }
    pub const fn long(mut self, longdesc: &'static str) -> ParamSpec {
        self.longdesc = longdesc;
        self
    }
}

/// `ocf_is_true`: the spellings ocf-shellfuncs accepts as true. Anything else is false.
pub fn is_true(s: &str) -> bool {
    matches!(
        s,
        "yes" | "true" | "1" | "YES" | "TRUE" | "True" | "ja" | "on" | "ON"
    )
}

/// The parameter values of one invocation, defaults applied.
#[derive(Debug, Clone)]
pub struct Params {
    table: &'static [ParamSpec],
    given: BTreeMap<&'static str, String>,
}

impl Params {
    pub fn from_env(table: &'static [ParamSpec], env: &OcfEnv) -> Params {
        let given = table
            .iter()
            .filter_map(|p| env.reskey(p.name).map(|v| (p.name, v.to_string())))
            .collect();
        Params { table, given }
    }

    fn spec(&self, name: &str) -> &ParamSpec {
        // A name missing from the table is a bug in the agent, caught by its unit tests.
        self.table
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("parameter {name} is not in the agent's table"))
    }

    /// The value, or the default when the parameter was not given.
    pub fn str(&self, name: &str) -> &str {
        let spec = self.spec(name);
        self.given
            .get(spec.name)
            .map(String::as_str)
            .unwrap_or(spec.default)
    }

    /// Whether the parameter was given at all (even if empty).
    pub fn is_given(&self, name: &str) -> bool {
        self.given.contains_key(self.spec(name).name)
    }

    /// A boolean with ocf_is_true semantics.
    pub fn bool(&self, name: &str) -> bool {
        is_true(self.str(name))
    }

    /// An integer parameter; an unparsable value is `OCF_ERR_CONFIGURED`.
    pub fn int(&self, name: &str) -> Result<i64> {
        let v = self.str(name).trim();
        v.parse().map_err(|_| {
            OcfError::configured(format!(
                "parameter {name}: '{v}' is not an integer",
                v = self.str(name)
            ))
        })
    }

    /// Required parameters present and integers parsable.
    pub fn validate(&self) -> Result<()> {
        for p in self.table {
            if p.required && self.str(p.name).is_empty() {
                return Err(OcfError::configured(format!(
                    "required parameter {} is not set",
                    p.name
                )));
            }
            if p.kind == ParamType::Integer && !self.str(p.name).is_empty() {
                self.int(p.name)?;
            }
        }
        Ok(())
    }

    pub fn table(&self) -> &'static [ParamSpec] {
        self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TABLE: &[ParamSpec] = &[
        ParamSpec::new("ip", "address").required().unique(),
        ParamSpec::new("arp_count", "count")
            .kind(ParamType::Integer)
            .default("5"),
        ParamSpec::new("lvs", "lvs")
            .kind(ParamType::Boolean)
            .default("false"),
    ];

    #[test]
    fn defaults_and_types() {
        let env = OcfEnv::from_vars([("OCF_RESKEY_ip", "10.0.0.1"), ("OCF_RESKEY_lvs", "ja")]);
        let p = Params::from_env(TABLE, &env);
        assert_eq!(p.str("ip"), "10.0.0.1");
        assert_eq!(p.int("arp_count"), Ok(5));
        assert!(p.bool("lvs"));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn missing_required_and_bad_integer() {
        let p = Params::from_env(TABLE, &OcfEnv::default());
        let e = p.validate().unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::ErrConfigured);
        assert!(e.reason().contains("ip"));
        let env = OcfEnv::from_vars([("OCF_RESKEY_ip", "x"), ("OCF_RESKEY_arp_count", "five")]);
        let e = Params::from_env(TABLE, &env).validate().unwrap_err();
        assert!(e.reason().contains("arp_count"), "{e}");
    }

    #[test]
    fn is_true_matches_shellfuncs() {
        for t in ["yes", "true", "1", "YES", "TRUE", "True", "ja", "on", "ON"] {
            assert!(is_true(t));
        }
        for f in ["no", "0", "", "Yes", "y", "off"] {
            assert!(!is_true(f));
        }
    }
}
