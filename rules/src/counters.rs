//! The counter vocabulary shared with the gateway: a [`Sample`] is one named number with its
//! kind and help text, and a [`Samples`] source lists its own. The gateway keeps one registry
//! of sources per process and renders status and metrics from it; this crate only says what
//! it counts, so it does not depend on the gateway.
//!
//! Declare a source's counters once with [`counters!`](crate::counters): the field's doc line
//! is its help text, its name (with the source's prefix) is the status key and metric name.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether a sample only grows (a total since start) or goes up and down (a level now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A total since start: rendered `devgate_<name>_total`.
    Counter,
    /// A level now: rendered `devgate_<name>`.
    Gauge,
}

/// One named number, read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Status key and metric name (without `devgate_` and `_total`).
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// One line saying what is counted.
    pub help: &'static str,
    /// The value; `None` when it cannot be read without waiting (no made-up number).
    pub value: Option<u64>,
}

/// A source of samples: a part of the process that counts something.
pub trait Samples {
    /// Appends this source's samples, in a stable order.
    fn samples(&self, out: &mut Vec<Sample>);
}

/// A field type [`counters!`](crate::counters) can read as a sample value.
pub trait SampleValue {
    /// The value now (relaxed: each is current, not a common snapshot).
    fn sample_value(&self) -> Option<u64>;
}

impl SampleValue for u64 {
    fn sample_value(&self) -> Option<u64> {
        Some(*self)
    }
}

impl SampleValue for bool {
    fn sample_value(&self) -> Option<u64> {
        Some(u64::from(*self))
    }
}

impl SampleValue for AtomicU64 {
    fn sample_value(&self) -> Option<u64> {
        Some(self.load(Ordering::Relaxed))
    }
}

impl SampleValue for AtomicBool {
    fn sample_value(&self) -> Option<u64> {
        Some(u64::from(self.load(Ordering::Relaxed)))
    }
}

/// Declares a struct of counters once: each field with one doc line (its help text), its kind
/// (`Counter` or `Gauge`) and its type (`u64`, `bool`, `AtomicU64`, `AtomicBool`); implements
/// [`Samples`] naming each sample `<prefix><field>`. Fields are public, so an increment stays a
/// plain atomic add on the field.
///
/// ```
/// rules::counters! {
///     /// Example counters.
///     #[derive(Debug, Default)]
///     pub struct Example prefix "ex_" {
///         /// Things seen.
///         Counter seen: u64,
///     }
/// }
/// let mut out = Vec::new();
/// rules::Samples::samples(&Example { seen: 3 }, &mut out);
/// assert_eq!((out[0].name, out[0].help, out[0].value), ("ex_seen", "Things seen.", Some(3)));
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident prefix $prefix:literal {
            $(
                #[doc = $help:literal]
                $kind:ident $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( #[doc = $help] pub $field: $ty, )*
        }

        impl $crate::Samples for $name {
            fn samples(&self, out: &mut Vec<$crate::Sample>) {
                $(
                    out.push($crate::Sample {
                        name: concat!($prefix, stringify!($field)),
                        kind: $crate::Kind::$kind,
                        help: $help.trim(),
                        value: $crate::SampleValue::sample_value(&self.$field),
                    });
                )*
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::counters! {
        /// Test counters.
        #[derive(Debug, Default)]
        struct Test prefix "t_" {
            /// Events seen.
            Counter events: AtomicU64,
            /// Whether it is up.
            Gauge up: bool,
        }
    }

    #[test]
    fn a_declared_struct_lists_every_field_with_prefix_kind_help_and_value() {
        let t = Test::default();
        t.events.fetch_add(2, Ordering::Relaxed);
        let mut out = Vec::new();
        t.samples(&mut out);
        assert_eq!(
            out,
            [
                Sample {
                    name: "t_events",
                    kind: Kind::Counter,
                    help: "Events seen.",
                    value: Some(2)
                },
                Sample {
                    name: "t_up",
                    kind: Kind::Gauge,
                    help: "Whether it is up.",
                    value: Some(0)
                },
            ]
        );
    }
}
