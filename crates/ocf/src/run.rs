//! The agent entry point: argv and environment in, one exit code out.

use std::sync::OnceLock;
use std::time::Duration;

use crate::command::Deadline;
use crate::{metadata, Action, AgentInfo, ExitCode, Logger, OcfEnv, Params, Result};

/// Everything an action needs to know about its invocation.
#[derive(Debug)]
pub struct Context {
    pub action: Action,
    pub env: OcfEnv,
    pub params: Params,
    pub log: Logger,
}

impl Context {
    pub fn new(info: &'static AgentInfo, action: Action, env: OcfEnv, log: Logger) -> Context {
        let params = Params::from_env(info.params, &env);
        Context {
            action,
            env,
            params,
            log,
        }
    }

    pub fn is_probe(&self) -> bool {
        self.env.is_probe(&self.action)
    }

    /// The operation timeout less a margin to report an exit reason in.
    pub fn deadline(&self) -> Deadline {
        Deadline::from_env(&self.env, Duration::from_secs(2))
    }
}

/// An agent's action handler. It receives only actions other than
/// `meta-data` and `usage`, which the runtime answers itself.
pub type Handler = fn(&Context) -> Result<ExitCode>;

static REASON_PREFIX: OnceLock<String> = OnceLock::new();

/// Runs the agent as a process and exits. Never returns, never unwinds out:
/// a panic becomes `OCF_ERR_GENERIC` with an exit reason.
pub fn main(info: &'static AgentInfo, handler: Handler) -> ! {
    let env = OcfEnv::from_process();
    let _ = REASON_PREFIX.set(env.exit_reason_prefix().to_string());
    std::panic::set_hook(Box::new(|p| {
        let prefix = REASON_PREFIX
            .get()
            .map_or("ocf-exit-reason:", String::as_str);
        eprintln!("{prefix}internal error in the agent: {p}");
        std::process::exit(ExitCode::ErrGeneric.code());
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = execute(info, handler, args.first().map(String::as_str), env);
    std::process::exit(code.code())
}

/// Dispatches one action and prints what the OCF contract asks for:
/// meta-data on stdout, one `ocf-exit-reason:` line on failure.
pub fn execute(
    info: &'static AgentInfo,
    handler: Handler,
    action: Option<&str>,
    env: OcfEnv,
) -> ExitCode {
    let Some(action) = action else {
        eprintln!("{}", usage(info));
        return ExitCode::ErrArgs;
    };
    let action = Action::parse(action);
    match action {
        Action::MetaData => {
            print!("{}", metadata::render(info));
            return ExitCode::Success;
        }
        Action::Usage => {
            println!("{}", usage(info));
            return ExitCode::Success;
        }
        _ => {}
    }
    let log = Logger::from_env(info.name, &env);
    if !info.supports(action.as_str()) {
        eprintln!("{}", usage(info));
        eprintln!(
            "{}action '{action}' is not implemented by {}",
            env.exit_reason_prefix(),
            info.name
        );
        return ExitCode::ErrUnimplemented;
    }
    let ctx = Context::new(info, action, env, log);
    match handler(&ctx) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}{}", ctx.env.exit_reason_prefix(), e.reason());
            ctx.log.log_reason(e.reason());
            e.exit_code()
        }
    }
}

fn usage(info: &AgentInfo) -> String {
    let actions: Vec<&str> = info.actions.iter().map(|a| a.name).collect();
    format!("usage: {} {{{}}}", info.name, actions.join("|"))
}
