//! THE list of capabilities, and the type erasure that lets the rest of the binary treat
//! them alike: config sections, environment, validation, listeners, start.
//!
//! Adding a capability: its crate implements `opshelf_core::Capability`, gets a cargo
//! feature in this crate's Cargo.toml, and one `capability!` line in [`Registry::builtin`].
//! Nothing else in the binary names it (its CLI subcommand, if it has one, lives in `cli/`).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use opshelf_core::config::ConfigError;
use opshelf_core::{Capability, Context, Env, EnvError, ListenerSpec, StartError, Started};

/// Register `$ty` when the feature is on; otherwise remember the name, so a config section
/// for it says "built without" instead of "unknown".
macro_rules! capability {
    ($r:ident, $feature:literal, $ty:path) => {
        #[cfg(feature = $feature)]
        {
            $r = $r.with::<$ty>();
        }
        #[cfg(not(feature = $feature))]
        {
            $r.not_built.push($feature);
        }
    };
}

/// Every capability this binary knows, in start order.
impl Registry {
    #[must_use]
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        // One line per capability: the cargo feature and the type implementing `Capability`.
        // The console first: it mounts its UI on later capabilities' listeners (flags).
        capability!(r, "console", opshelf_console::Console);
        capability!(r, "secrets", opshelf_secrets::Secrets);
        capability!(r, "flags", opshelf_flags::Flags);
        capability!(r, "waf", opshelf_waf::Waf);
        capability!(r, "scan", opshelf_scan::Scan);
        capability!(r, "traces", opshelf_traces::Traces);
        capability!(r, "logs", opshelf_logs::Logs);
        r
    }
}

/// A capability's settings, type-erased.
pub trait Section: Any + Send + Sync + fmt::Debug {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn clone_box(&self) -> Box<dyn Section>;
    fn eq_dyn(&self, other: &dyn Section) -> bool;
}

impl<T: Any + Clone + PartialEq + Send + Sync + fmt::Debug> Section for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn Section> {
        Box::new(self.clone())
    }
    fn eq_dyn(&self, other: &dyn Section) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

// Through `**`: a `Box<dyn Section>` is itself a `Section` (the blanket impl), and calling
// the methods on the box would compare or clone the box, not what it holds.
impl Clone for Box<dyn Section> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

impl PartialEq for Box<dyn Section> {
    fn eq(&self, other: &Self) -> bool {
        (**self).eq_dyn(&**other)
    }
}

/// A future that starts a capability.
pub type StartFuture = Pin<Box<dyn Future<Output = Result<Started, StartError>> + Send>>;

/// What the binary does with a capability, without knowing its type.
pub trait Registered: Send + Sync {
    fn name(&self) -> &'static str;
    fn example(&self) -> &'static str;
    fn default_section(&self) -> Box<dyn Section>;
    /// Parse the `[name]` table; the error is (key relative to the section, message).
    fn parse(
        &self,
        value: toml::Value,
        retry_as_string: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Section>, (String, String)>;
    fn apply_env(&self, section: &mut dyn Section, env: &Env) -> Result<(), EnvError>;
    fn validate(&self, section: &dyn Section) -> Result<(), ConfigError>;
    fn enabled(&self, section: &dyn Section) -> bool;
    fn disabled_summary(&self, section: &dyn Section) -> String;
    fn listeners(&self, section: &dyn Section) -> Vec<ListenerSpec>;
    fn start(&self, section: &dyn Section, ctx: Context) -> StartFuture;
}

struct Entry<C>(PhantomData<fn() -> C>);

impl<C: Capability> Entry<C> {
    fn get(section: &dyn Section) -> &C::Config {
        section
            .as_any()
            .downcast_ref::<C::Config>()
            .unwrap_or_else(|| panic!("section [{}] holds another type", C::NAME))
    }
}

impl<C: Capability> Registered for Entry<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn example(&self) -> &'static str {
        C::CONFIG_EXAMPLE
    }
    fn default_section(&self) -> Box<dyn Section> {
        Box::new(C::Config::default())
    }
    fn parse(
        &self,
        value: toml::Value,
        retry_as_string: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Section>, (String, String)> {
        crate::config::parse_section::<C::Config>(value, retry_as_string)
            .map(|c| Box::new(c) as Box<dyn Section>)
    }
    fn apply_env(&self, section: &mut dyn Section, env: &Env) -> Result<(), EnvError> {
        let config = section
            .as_any_mut()
            .downcast_mut::<C::Config>()
            .unwrap_or_else(|| panic!("section [{}] holds another type", C::NAME));
        C::apply_env(config, env)
    }
    fn validate(&self, section: &dyn Section) -> Result<(), ConfigError> {
        C::validate(Self::get(section))
    }
    fn enabled(&self, section: &dyn Section) -> bool {
        C::enabled(Self::get(section))
    }
    fn disabled_summary(&self, section: &dyn Section) -> String {
        C::disabled_summary(Self::get(section))
    }
    fn listeners(&self, section: &dyn Section) -> Vec<ListenerSpec> {
        C::listeners(Self::get(section))
    }
    fn start(&self, section: &dyn Section, ctx: Context) -> StartFuture {
        let config = Self::get(section).clone();
        Box::pin(C::start(config, ctx))
    }
}

/// The capabilities a run knows.
pub struct Registry {
    entries: Vec<Box<dyn Registered>>,
    /// Names of capabilities this binary was built without.
    pub not_built: Vec<&'static str>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("capabilities", &self.names())
            .field("not_built", &self.not_built)
            .finish()
    }
}

impl Registry {
    /// No capability at all.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
            not_built: Vec::new(),
        }
    }

    /// Add capability `C` (after those already there).
    ///
    /// # Panics
    /// When a capability of the same name is already registered.
    #[must_use]
    pub fn with<C: Capability>(mut self) -> Self {
        assert!(
            self.get(C::NAME).is_none(),
            "capability {} registered twice",
            C::NAME
        );
        self.entries.push(Box::new(Entry::<C>(PhantomData)));
        self
    }

    /// Every registered capability, in start order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Registered> {
        self.entries.iter().map(AsRef::as_ref)
    }

    /// The capability named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&dyn Registered> {
        self.iter().find(|e| e.name() == name)
    }

    /// Registered names, in order.
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Registered::name).collect()
    }

    /// Every capability's default section.
    #[must_use]
    pub fn default_sections(&self) -> BTreeMap<&'static str, Box<dyn Section>> {
        self.iter()
            .map(|e| (e.name(), e.default_section()))
            .collect()
    }
}
