//! The meta-data XML, generated from the agent's tables.
//!
//! The output validates against both the legacy `ra-api-1.dtd` (which
//! ocf-tester checks) and the OCF 1.1 `metadata.rng`, so it uses only what
//! both accept: no `reloadable`, no `unique-group`, no `reload-agent`, and
//! every action has a `timeout`.

use std::fmt::Write;

use crate::ParamSpec;

/// One `<action>` line.
#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub name: &'static str,
    /// Seconds.
    pub timeout: u32,
    pub interval: Option<u32>,
    pub depth: Option<u32>,
    pub role: Option<&'static str>,
}

impl ActionSpec {
    pub const fn new(name: &'static str, timeout: u32) -> ActionSpec {
        ActionSpec {
            name,
            timeout,
            interval: None,
            depth: None,
            role: None,
        }
    }
    pub const fn interval(mut self, seconds: u32) -> ActionSpec {
        self.interval = Some(seconds);
        self
    }
    pub const fn depth(mut self, depth: u32) -> ActionSpec {
        self.depth = Some(depth);
        self
    }
    pub const fn role(mut self, role: &'static str) -> ActionSpec {
        self.role = Some(role);
        self
    }
}

/// What the meta-data says about an agent.
#[derive(Debug, Clone, Copy)]
pub struct AgentInfo {
    /// The agent's type name (`Filesystem`).
    pub name: &'static str,
    /// The agent's own version.
    pub version: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    pub params: &'static [ParamSpec],
    pub actions: &'static [ActionSpec],
}

impl AgentInfo {
    /// Whether the meta-data advertises this action (`status` counts as `monitor`).
    pub fn supports(&self, action: &str) -> bool {
        let action = if action == "status" {
            "monitor"
        } else {
            action
        };
        self.actions.iter().any(|a| a.name == action)
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the complete meta-data document.
pub fn render(info: &AgentInfo) -> String {
    let mut x = String::with_capacity(8192);
    let _ = write!(
        x,
        "<?xml version=\"1.0\"?>\n\
         <!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n\
         <resource-agent name=\"{}\" version=\"{}\">\n\
         <version>1.0</version>\n\
         <longdesc lang=\"en\">\n{}\n</longdesc>\n\
         <shortdesc lang=\"en\">{}</shortdesc>\n\n<parameters>\n",
        escape(info.name),
        escape(info.version),
        escape(desc(info.longdesc, info.shortdesc)),
        escape(info.shortdesc),
    );
    for p in info.params {
        let _ = write!(
            x,
            "<parameter name=\"{}\" unique=\"{}\" required=\"{}\">\n\
             <longdesc lang=\"en\">\n{}\n</longdesc>\n\
             <shortdesc lang=\"en\">{}</shortdesc>\n\
             <content type=\"{}\" default=\"{}\" />\n</parameter>\n\n",
            escape(p.name),
            u8::from(p.unique),
            u8::from(p.required),
            escape(desc(p.longdesc, p.shortdesc)),
            escape(p.shortdesc),
            p.kind.as_str(),
            escape(p.default),
        );
    }
    x.push_str("</parameters>\n\n<actions>\n");
    for a in info.actions {
        let _ = write!(x, "<action name=\"{}\" timeout=\"{}s\"", a.name, a.timeout);
        if let Some(i) = a.interval {
            let _ = write!(x, " interval=\"{i}s\"");
        }
        if let Some(d) = a.depth {
            let _ = write!(x, " depth=\"{d}\"");
        }
        if let Some(r) = a.role {
            let _ = write!(x, " role=\"{r}\"");
        }
        x.push_str(" />\n");
    }
    x.push_str("</actions>\n</resource-agent>\n");
    x
}

fn desc<'a>(long: &'a str, short: &'a str) -> &'a str {
    if long.is_empty() {
        short
    } else {
        long
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamType;

    static PARAMS: &[ParamSpec] = &[ParamSpec::new("dir", "Mount <point>")
        .required()
        .kind(ParamType::String)];
    static ACTIONS: &[ActionSpec] = &[
        ActionSpec::new("start", 60),
        ActionSpec::new("monitor", 40).interval(20).depth(0),
    ];
    static INFO: AgentInfo = AgentInfo {
        name: "T",
        version: "1.0",
        shortdesc: "test & check",
        longdesc: "",
        params: PARAMS,
        actions: ACTIONS,
    };

    #[test]
    fn renders_escaped_document() {
        let x = render(&INFO);
        assert!(x.starts_with("<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent"));
        assert!(x.contains("<shortdesc lang=\"en\">test &amp; check</shortdesc>"));
        assert!(x.contains("Mount &lt;point&gt;"));
        assert!(x.contains("<parameter name=\"dir\" unique=\"0\" required=\"1\">"));
        assert!(
            x.contains("<action name=\"monitor\" timeout=\"40s\" interval=\"20s\" depth=\"0\" />")
        );
        assert!(INFO.supports("status"));
        assert!(!INFO.supports("promote"));
    }
}
