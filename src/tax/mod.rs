//! Tax determination: jurisdictions, place-of-supply rules, effective-dated rates and the
//! external provider client.
