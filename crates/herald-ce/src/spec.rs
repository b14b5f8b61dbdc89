//! CloudEvents specification versions Herald speaks.

use std::fmt;
use std::str::FromStr;

use crate::CeError;

/// The `specversion` of an event. Herald never converts between versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecVersion {
    V03,
    V10,
}

impl SpecVersion {
    /// The wire value of the `specversion` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V03 => "0.3",
            SpecVersion::V10 => "1.0",
        }
    }

    /// Name of the data-schema attribute: `schemaurl` in 0.3, `dataschema` in 1.0.
    pub fn dataschema_name(self) -> &'static str {
        match self {
            SpecVersion::V03 => "schemaurl",
            SpecVersion::V10 => "dataschema",
        }
    }

    /// True for the names this version reserves for context attributes and data members,
    /// which therefore can never be extensions.
    pub fn is_reserved(self, name: &str) -> bool {
        match name {
            "specversion" | "id" | "source" | "type" | "datacontenttype" | "subject" | "time"
            | "data" => true,
            "dataschema" | "data_base64" => self == SpecVersion::V10,
            "schemaurl" | "datacontentencoding" => self == SpecVersion::V03,
            _ => false,
        }
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpecVersion {
    type Err = CeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(SpecVersion::V10),
            "0.3" => Ok(SpecVersion::V03),
            other => Err(CeError::UnknownSpecVersion(other.to_owned())),
        }
    }
}

impl TryFrom<&str> for SpecVersion {
    type Error = CeError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}
