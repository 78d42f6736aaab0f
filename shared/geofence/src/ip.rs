//! Where an IP address is, from a MaxMind-format database (GeoIP2/GeoLite2 City or Country,
//! or any database with the same `country` and `subdivisions` fields).
//!
//! The reader works on the database's bytes, so this crate still does no IO: the service
//! reads the file (and re-reads it when the operator ships a new one).

use std::net::IpAddr;

use maxminddb::{Reader, geoip2};

use crate::error::GeofenceError;

/// An open MaxMind database.
pub struct IpLocator {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for IpLocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpLocator")
            .field("database_type", &self.reader.metadata().database_type)
            .field("node_count", &self.reader.metadata().node_count)
            .finish()
    }
}

impl IpLocator {
    /// Opens a database from its bytes; refuses anything that is not a valid MaxMind DB.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeofenceError> {
        let reader =
            Reader::from_source(bytes).map_err(|e| GeofenceError::IpDatabase(e.to_string()))?;
        Ok(Self { reader })
    }

    /// The region code of `ip`: `IN-TS` when the database knows the first-level subdivision,
    /// `IN` when it knows only the country, `None` when it knows nothing (private ranges,
    /// unassigned space) or the record is unreadable.
    pub fn region_code(&self, ip: IpAddr) -> Option<String> {
        let result = self.reader.lookup(ip).ok()?;
        let city: geoip2::City<'_> = result.decode().ok().flatten()?;
        let country = city.country.iso_code?;
        Some(match city.subdivisions.first().and_then(|s| s.iso_code) {
            Some(subdivision) => format!("{country}-{subdivision}"),
            None => country.to_owned(),
        })
    }
}
