//! Deserialization of the configuration structs (and of the key-set
//! snapshots the shared tier passes around), table-driven.
//!
//! This is what `#[derive(Deserialize)]` with `#[serde(deny_unknown_fields)]`
//! generates for each struct, step for step (the same calls on the
//! deserializer in the same order, so the same values and the same errors,
//! message and position), but with the work shared: one loop reads the
//! fields of every struct from a map, one from a sequence, one function
//! reads a value of each field type, and a key is looked up in the struct's
//! field list; one visitor serves every struct, every sequence of structs,
//! every optional struct and every unit-variant enum, so the deserializer's
//! code for each is compiled once. The derive writes all of that out again
//! for every struct and every field: ~65 KB of the Envoy filter's wasm went
//! to deserializing the configuration, 21 KB less with this. What is left
//! per struct is its table (fields, value types, which are required) and
//! `build`, which puts the values read into the struct and fills in the
//! defaults.
//!
//! What the derive does, and so this:
//!
//! - keys: `deserialize_identifier`; a name not in the list is
//!   `unknown_field(name, FIELDS)`; an index (`visit_u64`) past the end is
//!   `invalid_value(.., "field index 0 <= i < N")`;
//! - a field seen twice is `duplicate_field(name)`, before its value is read;
//! - a missing field takes its `#[serde(default)]` (the field's, else the
//!   struct's `Default`); a required one is `missing_field(name)`, the first
//!   in declaration order;
//! - a struct may also come as a sequence of its fields in order: an element
//!   missing for a required field is `invalid_length(i, "struct X with N
//!   elements")`, for the others their default; elements past the last
//!   field are left to the deserializer;
//! - `Vec<T>` and `Option<T>` of a struct as serde's own: `deserialize_seq`
//!   expecting "a sequence", `deserialize_option` expecting "option" (unit
//!   and none are `None`); only serde's hidden hook for untagged enums is
//!   left out, which no configuration type uses;
//! - a unit-variant enum: `deserialize_enum(name, VARIANTS)`, its variant
//!   identifier (`unknown_variant`, "variant index 0 <= i < N"),
//!   `unit_variant`.
//!
//! tests/config_corpus.rs prints what 2,281 configurations (every field
//! missing, repeated, of every wrong type; every struct as a sequence of
//! every length; every enum in every form; from JSON text, from a
//! `serde_json::Value` and from TOML) parse to; its output was the same,
//! byte for byte, with the derive (commit 200138b) and with this.

use crate::config::{
    Access, ApiTokenConfig, AssertionConfig, Config, CorsConfig, HeaderConfig, HeaderPreset,
    IssuerConfig, KeyCacheConfig, MethodOverride, Mode, Need, PolicyConfig, ResourceConfig,
    RouteConfig, SecretText, TokenConfig, VerdictCacheConfig,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// Declares the field value types: `Kind` names one, `Slot` holds one as
/// read (`$ty`: large values boxed, so that a slot is small to move;
/// sequences and options of structs through the shared visitors below),
/// `$conv` turns it into the field's type `$field`.
macro_rules! kinds {
    ($($kind:ident($ty:ty => $field:ty, $conv:expr)),* $(,)?) => {
        /// The type of a field's value.
        #[derive(Clone, Copy)]
        pub(crate) enum Kind {
            $($kind,)*
        }

        /// A field's value, read.
        pub(crate) enum Slot {
            $($kind($ty),)*
        }

        /// The next value of a map, as `kind`: `MapAccess::next_value::<T>`.
        fn read_value<'de, A: MapAccess<'de>>(map: &mut A, kind: Kind) -> Result<Slot, A::Error> {
            Ok(match kind {
                $(Kind::$kind => Slot::$kind(map.next_value::<$ty>()?),)*
            })
        }

        /// The next element of a sequence, as `kind`: `SeqAccess::next_element::<T>`.
        fn read_element<'de, A: SeqAccess<'de>>(
            seq: &mut A,
            kind: Kind,
        ) -> Result<Option<Slot>, A::Error> {
            Ok(match kind {
                $(Kind::$kind => seq.next_element::<$ty>()?.map(Slot::$kind),)*
            })
        }

        $(impl FromSlot for $field {
            fn from_slot(slot: Option<Slot>) -> Option<$field> {
                match slot {
                    Some(Slot::$kind(v)) => Some(($conv)(v)),
                    _ => None,
                }
            }
        })*
    };
}

/// A field's value out of its slot (`None`: absent).
trait FromSlot: Sized {
    fn from_slot(slot: Option<Slot>) -> Option<Self>;
}

fn same<T>(v: T) -> T {
    v
}

#[allow(clippy::boxed_local)] // Slots hold large values boxed.
fn unbox<T>(v: Box<T>) -> T {
    *v
}

kinds! {
    Str(String => String, same),
    OptStr(Option<String> => Option<String>, same),
    Strs(Vec<String> => Vec<String>, same),
    OptStrs(Option<Vec<String>> => Option<Vec<String>>, same),
    U64(u64 => u64, same),
    Usize(usize => usize, same),
    OptU64(Option<u64> => Option<u64>, same),
    Bool(bool => bool, same),
    JsonMap(BTreeMap<String, serde_json::Value> => BTreeMap<String, serde_json::Value>, same),
    StrMap(BTreeMap<String, String> => BTreeMap<String, String>, same),
    OptSecret(Option<SecretText> => Option<SecretText>, same),
    Mode(Mode => Mode, same),
    Access(Access => Access, same),
    MethodOverride(MethodOverride => MethodOverride, same),
    Preset(HeaderPreset => HeaderPreset, same),
    OptJson(Box<Option<serde_json::Value>> => Option<serde_json::Value>, unbox),
    Token(Box<TokenConfig> => TokenConfig, unbox),
    Keys(Box<KeyCacheConfig> => KeyCacheConfig, unbox),
    Cache(Box<VerdictCacheConfig> => VerdictCacheConfig, unbox),
    Headers(Box<HeaderConfig> => HeaderConfig, unbox),
    Policy(Box<PolicyConfig> => PolicyConfig, unbox),
    Need(Box<Need> => Need, unbox),
    Issuers(ManyOf<IssuerConfig> => Vec<IssuerConfig>, ManyOf::into_inner),
    Routes(ManyOf<RouteConfig> => Vec<RouteConfig>, ManyOf::into_inner),
    ApiTokens(ManyOf<ApiTokenConfig> => Vec<ApiTokenConfig>, ManyOf::into_inner),
    Cors(OptionOf<CorsConfig> => Option<CorsConfig>, OptionOf::into_inner),
    Resource(OptionOf<ResourceConfig> => Option<ResourceConfig>, OptionOf::into_inner),
    Assertion(OptionOf<AssertionConfig> => Option<AssertionConfig>, OptionOf::into_inner),
}

/// A `Vec<T>` of structs, deserialized as serde's `Vec<T>` is
/// (`deserialize_seq`; the visitor expects "a sequence" and reads elements
/// until there are none), through one visitor for every `T`.
pub(crate) struct ManyOf<T>(Vec<T>);

impl<T> ManyOf<T> {
    fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<'de, T: Table> serde::Deserialize<'de> for ManyOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let all = d.deserialize_seq(Many(&T::SHAPE))?;
        Ok(ManyOf(all.into_iter().map(T::build).collect()))
    }
}

struct Many(&'static Shape);

impl<'de> Visitor<'de> for Many {
    type Value = Vec<Vec<Option<Slot>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut all = Vec::new();
        while let Some(one) = seq.next_element_seed(One(self.0))? {
            all.push(one);
        }
        Ok(all)
    }
}

/// An `Option<T>` of a struct, deserialized as serde's `Option<T>` is
/// (`deserialize_option`; the visitor expects "option", takes unit and
/// none for `None`), through one visitor for every `T`.
pub(crate) struct OptionOf<T>(Option<Box<T>>);

impl<T> OptionOf<T> {
    fn into_inner(self) -> Option<T> {
        self.0.map(unbox)
    }
}

impl<'de, T: Table> serde::Deserialize<'de> for OptionOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let some = d.deserialize_option(Opt(&T::SHAPE))?;
        Ok(OptionOf(some.map(|slots| Box::new(T::build(slots)))))
    }
}

struct Opt(&'static Shape);

impl<'de> Visitor<'de> for Opt {
    type Value = Option<Vec<Option<Slot>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        One(self.0).deserialize(d).map(Some)
    }
}

/// One struct's fields, as `T::deserialize` reads them.
struct One(&'static Shape);

impl<'de> DeserializeSeed<'de> for One {
    type Value = Vec<Option<Slot>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_struct(self.0.name, self.0.fields, Fields(self.0))
    }
}

/// A struct's table.
pub(crate) struct Shape {
    /// The struct's name (`deserialize_struct`'s first argument).
    name: &'static str,
    /// `struct X`.
    expecting: &'static str,
    /// `struct X with N elements`.
    seq_expecting: &'static str,
    /// `field index 0 <= i < N`.
    index_expecting: &'static str,
    /// Field names, in declaration order.
    fields: &'static [&'static str],
    /// Their value types.
    kinds: &'static [Kind],
    /// Which have no default.
    required: &'static [bool],
}

/// A struct deserialized through its [`Shape`].
pub(crate) trait Table: Sized {
    /// The table.
    const SHAPE: Shape;
    /// The struct from the values read, one per field in order (`None`:
    /// absent, so its default; the required ones were checked).
    fn build(slots: Vec<Option<Slot>>) -> Self;
}

/// `T::deserialize`, as the derive's: `deserialize_struct(name, FIELDS,
/// visitor)`, the visitor reading the fields and refusing what the derive's
/// refuses, where the derive's does (inside `deserialize_struct`, so the
/// deserializer gives an error the same position). Only filling in the
/// defaults, which cannot fail, is left until after.
pub(crate) fn deserialize<'de, T: Table, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    One(&T::SHAPE).deserialize(d).map(T::build)
}

/// The visitor of every struct (one, so that the deserializer's code for a
/// struct is compiled once).
struct Fields(&'static Shape);

impl<'de> Visitor<'de> for Fields {
    type Value = Vec<Option<Slot>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0.expecting)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let shape = self.0;
        let mut slots = Vec::with_capacity(shape.kinds.len());
        for (i, &kind) in shape.kinds.iter().enumerate() {
            let slot = read_element(&mut seq, kind)?;
            if slot.is_none() && shape.required[i] {
                return Err(de::Error::invalid_length(i, &shape.seq_expecting));
            }
            slots.push(slot);
        }
        Ok(slots)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let shape = self.0;
        let mut slots: Vec<Option<Slot>> = shape.kinds.iter().map(|_| None).collect();
        while let Some(i) = map.next_key_seed(Key(shape))? {
            if slots[i].is_some() {
                return Err(de::Error::duplicate_field(shape.fields[i]));
            }
            slots[i] = Some(read_value(&mut map, shape.kinds[i])?);
        }
        // The derive's finalization: the first required field absent, in
        // declaration order.
        for (i, slot) in slots.iter().enumerate() {
            if slot.is_none() && shape.required[i] {
                return Err(de::Error::missing_field(shape.fields[i]));
            }
        }
        Ok(slots)
    }
}

/// A field name → its index (the derive's `__Field` and `__FieldVisitor`).
struct Key(&'static Shape);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        match usize::try_from(v) {
            Ok(i) if i < self.0.fields.len() => Ok(i),
            _ => Err(E::invalid_value(
                Unexpected::Unsigned(v),
                &self.0.index_expecting,
            )),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        let fields = self.0.fields;
        fields
            .iter()
            .position(|f| *f == v)
            .ok_or_else(|| E::unknown_field(v, fields))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<usize, E> {
        let fields = self.0.fields;
        fields
            .iter()
            .position(|f| f.as_bytes() == v)
            .ok_or_else(|| E::unknown_field(&String::from_utf8_lossy(v), fields))
    }
}

/// A field's value when absent: `[required]`, `[container]` (from the
/// struct's `Default`, `#[serde(default)]` on the struct) or an expression.
macro_rules! missing {
    // Checked while reading: a required field is never absent here.
    ([required], $name:expr, $default:ident, $field:ident) => {
        Default::default()
    };
    ([container], $name:expr, $default:ident, $field:ident) => {
        $default.$field
    };
    ([$($e:tt)*], $name:expr, $default:ident, $field:ident) => {
        $($e)*
    };
}

macro_rules! required {
    ([required]) => {
        true
    };
    ([$($e:tt)*]) => {
        false
    };
}

/// The table of a struct: `Type("Type", N) { field: Kind = [missing], ... }`,
/// fields in declaration order; `default` after the name when the struct
/// has `#[serde(default)]`.
macro_rules! table {
    ($ty:ident($name:literal, $n:literal) $($container:ident)? {
        $($field:ident: $kind:ident = [$($missing:tt)*]),* $(,)?
    }) => {
        impl Table for $ty {
            const SHAPE: Shape = Shape {
                name: $name,
                expecting: concat!("struct ", $name),
                seq_expecting: concat!("struct ", $name, " with ", $n, " elements"),
                index_expecting: concat!("field index 0 <= i < ", $n),
                fields: &[$(stringify!($field)),*],
                kinds: &[$(Kind::$kind),*],
                required: &[$(required!([$($missing)*])),*],
            };

            #[allow(unused_variables)]
            fn build(slots: Vec<Option<Slot>>) -> Self {
                table!(@default $ty container_default $($container)?);
                let mut slots = slots.into_iter();
                $(
                    let $field = match FromSlot::from_slot(slots.next().flatten()) {
                        Some(v) => v,
                        None => missing!([$($missing)*], stringify!($field), container_default, $field),
                    };
                )*
                $ty { $($field),* }
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize::<$ty, D>(d)
            }
        }
    };
    (@default $ty:ident $default:ident default) => {
        let $default = <$ty as Default>::default();
    };
    (@default $ty:ident $default:ident) => {
        let $default = ();
    };
}

table!(Config("Config", 13) {
    mode: Mode = [Default::default()],
    realm: Str = [crate::config::default_realm()],
    issuers: Issuers = [Default::default()],
    token: Token = [Default::default()],
    keys: Keys = [Default::default()],
    cache: Cache = [Default::default()],
    headers: Headers = [Default::default()],
    policy: Policy = [Default::default()],
    routes: Routes = [Default::default()],
    api_tokens: ApiTokens = [Default::default()],
    cors: Cors = [Default::default()],
    resource: Resource = [Default::default()],
    assertion: Assertion = [Default::default()],
});

table!(AssertionConfig("AssertionConfig", 7) {
    audience: Str = [required],
    issuer: Str = [required],
    header: Str = [crate::config::default_assertion_header()],
    ttl: U64 = [crate::config::default_assertion_ttl()],
    jwks_path: Str = [crate::config::default_assertion_jwks_path()],
    kid: OptStr = [Default::default()],
    key: OptSecret = [Default::default()],
});

table!(ResourceConfig("ResourceConfig", 5) {
    identifier: Str = [required],
    authorization_servers: Strs = [Default::default()],
    scopes_supported: OptStrs = [Default::default()],
    name: OptStr = [Default::default()],
    documentation: OptStr = [Default::default()],
});

table!(CorsConfig("CorsConfig", 6) default {
    allowed_origins: Strs = [container],
    allowed_methods: Strs = [container],
    allowed_headers: Strs = [container],
    expose_headers: Strs = [container],
    max_age: U64 = [container],
    allow_credentials: Bool = [container],
});

table!(IssuerConfig("IssuerConfig", 18) {
    issuer: Str = [required],
    jwks_uri: OptStr = [Default::default()],
    audiences: Strs = [Default::default()],
    audience_claims: Strs = [crate::config::default_audience_claims()],
    claim_values: JsonMap = [Default::default()],
    algorithms: Strs = [crate::config::default_algorithms()],
    leeway: U64 = [crate::config::default_leeway()],
    typ: OptStr = [Default::default()],
    max_age: OptU64 = [Default::default()],
    required_claims: Strs = [Default::default()],
    scope_claims: Strs = [crate::config::default_scope_claims()],
    role_claims: Strs = [crate::config::default_role_claims()],
    permission_claims: Strs = [crate::config::default_permission_claims()],
    subject_claim: Str = [crate::config::default_subject_claim()],
    tenant_claim: OptStr = [Default::default()],
    tenants: Strs = [Default::default()],
    any_tenant: Bool = [Default::default()],
    hmac_secret: OptStr = [Default::default()],
});

table!(TokenConfig("TokenConfig", 4) {
    max_size: Usize = [crate::config::default_max_size()],
    cookie: OptStr = [Default::default()],
    header: OptStr = [Default::default()],
    query: OptStr = [Default::default()],
});

table!(KeyCacheConfig("KeyCacheConfig", 7) default {
    min_ttl: U64 = [container],
    max_ttl: U64 = [container],
    default_ttl: U64 = [container],
    stale_if_error: U64 = [container],
    refetch_cooldown: U64 = [container],
    max_response_bytes: Usize = [container],
    fetch_timeout: U64 = [container],
});

table!(VerdictCacheConfig("VerdictCacheConfig", 4) default {
    ttl: U64 = [container],
    capacity: Usize = [container],
    negative_ttl: U64 = [container],
    negative_capacity: Usize = [container],
});

table!(HeaderConfig("HeaderConfig", 8) default {
    preset: Preset = [container],
    subject: Str = [container],
    issuer: Str = [container],
    tenant: Str = [container],
    scopes: Str = [container],
    claims: StrMap = [container],
    decision: Str = [container],
    strip_authorization: Bool = [container],
});

table!(PolicyConfig("PolicyConfig", 3) default {
    default: Access = [container],
    method_override: MethodOverride = [container],
    preflight: OptJson = [container],
});

table!(Need("Need", 2) default {
    any: Strs = [container],
    all: Strs = [container],
});

table!(RouteConfig("RouteConfig", 10) {
    path: Str = [required],
    methods: Strs = [Default::default()],
    access: Access = [Default::default()],
    scopes: Need = [Default::default()],
    roles: Need = [Default::default()],
    permissions: Need = [Default::default()],
    tenants: Strs = [Default::default()],
    owner: StrMap = [Default::default()],
    api_tokens: Bool = [crate::config::yes()],
    forward_preflight: Bool = [Default::default()],
});

table!(ApiTokenConfig("ApiTokenConfig", 3) {
    name: Str = [required],
    sha256: Str = [required],
    scopes: Strs = [Default::default()],
});

/// A unit-variant enum's table (as its derive's: `deserialize_enum`, a
/// variant identifier, `unit_variant`).
struct Variants {
    name: &'static str,
    /// `enum X`.
    expecting: &'static str,
    /// `variant index 0 <= i < N`.
    index_expecting: &'static str,
    variants: &'static [&'static str],
}

fn deserialize_variant<'de, D: Deserializer<'de>>(
    d: D,
    shape: &'static Variants,
) -> Result<usize, D::Error> {
    d.deserialize_enum(shape.name, shape.variants, Variant(shape))
}

/// The visitor of every unit-variant enum, and its variant identifier.
struct Variant(&'static Variants);

impl<'de> Visitor<'de> for Variant {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0.expecting)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<usize, A::Error> {
        let (i, variant) = data.variant_seed(VariantKey(self.0))?;
        de::VariantAccess::unit_variant(variant)?;
        Ok(i)
    }
}

struct VariantKey(&'static Variants);

impl<'de> DeserializeSeed<'de> for VariantKey {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for VariantKey {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("variant identifier")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        match usize::try_from(v) {
            Ok(i) if i < self.0.variants.len() => Ok(i),
            _ => Err(E::invalid_value(
                Unexpected::Unsigned(v),
                &self.0.index_expecting,
            )),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        let variants = self.0.variants;
        variants
            .iter()
            .position(|x| *x == v)
            .ok_or_else(|| E::unknown_variant(v, variants))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<usize, E> {
        let variants = self.0.variants;
        variants
            .iter()
            .position(|x| x.as_bytes() == v)
            .ok_or_else(|| E::unknown_variant(&String::from_utf8_lossy(v), variants))
    }
}

/// `Type("Type", N) { "name" => Variant, ... }`, variants in declaration order.
macro_rules! variants {
    ($ty:ident($name:literal, $n:literal) { $($text:literal => $variant:ident),* $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const SHAPE: Variants = Variants {
                    name: $name,
                    expecting: concat!("enum ", $name),
                    index_expecting: concat!("variant index 0 <= i < ", $n),
                    variants: &[$($text),*],
                };
                const ALL: [$ty; $n] = [$($ty::$variant),*];
                deserialize_variant(d, &SHAPE).map(|i| ALL[i])
            }
        }
    };
}

variants!(Mode("Mode", 2) {
    "enforce" => Enforce,
    "report-only" => ReportOnly,
});

variants!(Access("Access", 4) {
    "anonymous" => Anonymous,
    "authenticated" => Authenticated,
    "optional" => Optional,
    "deny" => Deny,
});

variants!(MethodOverride("MethodOverride", 2) {
    "evaluate" => Evaluate,
    "ignore" => Ignore,
});

variants!(HeaderPreset("HeaderPreset", 3) {
    "edgeward" => Edgeward,
    "oauth2-proxy" => Oauth2Proxy,
    "edgeward+oauth2-proxy" => Both,
});
