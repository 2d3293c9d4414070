//! Node names: cheap to clone, never allocate on the hot path.

use std::{borrow::Borrow, fmt, sync::Arc};

/// The name of a workflow node (a step, a branch, a route, a fallback leg).
///
/// A `Name` is either a `&'static str` or a shared `Arc<str>`, so cloning a
/// primitive (which combinators do once per call) never allocates.
///
/// ```
/// use tta_primitives_core::Name;
///
/// let a = Name::from("fetch_user");
/// let b = Name::from(String::from("fetch_user"));
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "fetch_user");
/// ```
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// A name backed by a static string; usable in `const` contexts.
    pub const fn new_static(name: &'static str) -> Self {
        Self(Repr::Static(name))
    }

    /// The name as a `&'static str`, when it is one (no allocation needed
    /// to keep it).
    pub fn as_static(&self) -> Option<&'static str> {
        match self.0 {
            Repr::Static(s) => Some(s),
            Repr::Shared(_) => None,
        }
    }

    /// The shared string, when the name is not static.
    pub fn as_shared(&self) -> Option<&Arc<str>> {
        match &self.0 {
            Repr::Static(_) => None,
            Repr::Shared(s) => Some(s),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Self {
        Self::new_static(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Self(Repr::Shared(s.into()))
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Self(Repr::Shared(s))
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workflow node that carries a [`Name`]: every primitive, and the layers
/// that build them. The name labels the node's spans and metrics.
///
/// ```
/// use tta_primitives_core::{Named, prelude::*};
///
/// let fetch = lambda(|id: u32| async move { Ok::<_, WorkflowError>(id) }).named("fetch_user");
/// assert_eq!(fetch.name().as_str(), "fetch_user");
/// assert_eq!(fetch.retry(RetryPolicy::builder().build()?).name().as_str(), "retry");
/// # Ok::<(), ConfigError>(())
/// ```
pub trait Named: Sized {
    /// This node's name (each primitive has a default: its type, e.g. `retry`).
    fn name(&self) -> &Name;

    /// Replaces this node's name in place.
    fn rename(&mut self, name: Name);

    /// Names this node.
    #[must_use]
    fn named(mut self, name: impl Into<Name>) -> Self {
        self.rename(name.into());
        self
    }
}

/// Implements [`Named`] for a type whose name is its `name` field.
macro_rules! impl_named {
    ($ty:ident $(< $($g:ident),* >)?) => {
        impl$(<$($g),*>)? $crate::name::Named for $ty$(<$($g),*>)? {
            fn name(&self) -> &$crate::Name {
                &self.name
            }

            fn rename(&mut self, name: $crate::Name) {
                self.name = name;
            }
        }
    };
}
pub(crate) use impl_named;
