//! Parties (customers, partners and the platform) with their domiciles, and partner agreements.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::commission::{self, Tier};
use crate::error::{Error, ErrorCode};
use crate::money::Currency;

/// What a party is to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    Customer,
    Partner,
    Platform,
}

impl PartyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyRole::Customer => "customer",
            PartyRole::Partner => "partner",
            PartyRole::Platform => "platform",
        }
    }

    fn parse(text: &str) -> PartyRole {
        match text {
            "partner" => PartyRole::Partner,
            "platform" => PartyRole::Platform,
            _ => PartyRole::Customer,
        }
    }
}

/// Where a party is established or resides, for tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Domicile {
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "DE")]
    pub country: String,
    /// ISO 3166-2 subdivision code, such as "US-WA".
    #[serde(default)]
    pub subdivision: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    /// IANA time zone that dates the party's tax points.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
}

/// Whether the platform sells a partner's products as its agent or as supplier for tax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SellingRole {
    /// The partner is the supplier and owes the sale's tax; the platform invoices on its behalf.
    Agent,
    /// The platform is the deemed supplier and owes the sale's tax.
    Supplier,
}

impl SellingRole {
    /// Returns the party that issues the invoices of a sale in this role: the partner when the
    /// platform sells as its agent, the platform when it is the supplier.
    pub fn issuer<'a>(self, seller: &'a Party, platform: &'a Party) -> &'a Party {
        match self {
            SellingRole::Agent => seller,
            SellingRole::Supplier => platform,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SellingRole::Agent => "agent",
            SellingRole::Supplier => "supplier",
        }
    }

    pub fn parse(text: &str) -> SellingRole {
        if text == "supplier" {
            SellingRole::Supplier
        } else {
            SellingRole::Agent
        }
    }
}

/// Who bears the commission when a sale is refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommissionOnRefund {
    /// The platform returns the commission pro rata to the partner.
    Refunded,
    /// The platform keeps the commission; the partner bears it.
    Kept,
}

impl CommissionOnRefund {
    pub fn as_str(self) -> &'static str {
        match self {
            CommissionOnRefund::Refunded => "refunded",
            CommissionOnRefund::Kept => "kept",
        }
    }
}

/// The terms between the platform and a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    pub selling_role: SellingRole,
    /// Currencies the partner may sell in.
    #[schema(value_type = Vec<String>, example = json!(["EUR"]))]
    pub currencies: Vec<Currency>,
    pub commission_tiers: Vec<Tier>,
    /// Fixed commission per item sold, per currency: {"EUR": "0.30"}.
    #[serde(default, with = "crate::money::amount_map_str")]
    #[schema(value_type = Object)]
    pub fixed_fees: BTreeMap<String, Decimal>,
    pub commission_on_refund: CommissionOnRefund,
    /// Smallest payout per currency: {"EUR": "25.00"}.
    #[serde(default, with = "crate::money::amount_map_str")]
    #[schema(value_type = Object)]
    pub minimum_payouts: BTreeMap<String, Decimal>,
    /// Days a payment must age before it is paid out.
    pub payout_delay_days: u16,
}

impl Agreement {
    pub fn fixed_fee(&self, currency: Currency) -> Decimal {
        self.fixed_fees.get(currency.code()).copied().unwrap_or(Decimal::ZERO)
    }

    pub fn minimum_payout(&self, currency: Currency) -> Decimal {
        self.minimum_payouts.get(currency.code()).copied().unwrap_or(Decimal::ZERO)
    }

    /// Checks the tiers, currencies, amounts and payout delay.
    pub fn validate(&self) -> Result<(), Error> {
        commission::validate_tiers(&self.commission_tiers)?;
        if self.currencies.is_empty() {
            return Err(Error::new(ErrorCode::InvalidField, "at least one currency is needed")
                .field("agreement.currencies"));
        }
        for (name, map) in
            [("fixed_fees", &self.fixed_fees), ("minimum_payouts", &self.minimum_payouts)]
        {
            for (code, amount) in map {
                let field = format!("agreement.{name}.{code}");
                let currency =
                    Currency::parse(code).map_err(|err| Error::from(err).field(&field))?;
                currency.exact(*amount).map_err(|err| Error::from(err).field(&field))?;
                if *amount < Decimal::ZERO {
                    return Err(Error::new(ErrorCode::InvalidField, "amount must not be negative")
                        .field(field)
                        .value(amount.to_string()));
                }
            }
        }
        if self.payout_delay_days > 366 {
            return Err(Error::new(ErrorCode::InvalidField, "payout delay is at most 366 days")
                .field("agreement.payout_delay_days")
                .value(self.payout_delay_days));
        }
        Ok(())
    }
}

/// Outcome of checking a party's VAT id. A party whose id failed is taxed as not
/// VAT-registered: a business buys as a consumer, and a partner's commission is not reverse
/// charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VatIdCheck {
    /// The id passed its check digits, or its format where no check-digit rule is known.
    Valid,
    /// The id has its country's format but fails the check digits.
    Failed,
}

impl VatIdCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            VatIdCheck::Valid => "valid",
            VatIdCheck::Failed => "failed",
        }
    }

    fn parse(text: &str) -> VatIdCheck {
        if text == "failed" {
            VatIdCheck::Failed
        } else {
            VatIdCheck::Valid
        }
    }
}

/// One version of a partner's agreement, in effect from `effective_from` until the next
/// version's. The first version has no date and is in effect from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgreementVersion {
    /// 1 for the agreement the partner was created with, then one more per change.
    pub version: i32,
    /// First day, in the issuer's time zone, of the invoices this version prices.
    pub effective_from: Option<NaiveDate>,
    #[serde(flatten)]
    pub agreement: Agreement,
}

impl std::ops::Deref for AgreementVersion {
    type Target = Agreement;

    fn deref(&self) -> &Agreement {
        &self.agreement
    }
}

/// Returns the version of `versions` (ordered by version) in effect on `date`.
pub fn version_on(versions: &[AgreementVersion], date: NaiveDate) -> Option<&AgreementVersion> {
    versions.iter().rev().find(|version| version.effective_from.is_none_or(|from| from <= date))
}

/// A request to create a party.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParty {
    pub role: PartyRole,
    pub name: String,
    pub domicile: Domicile,
    /// A business (true) or a consumer (false).
    pub business: bool,
    /// VAT identification number with its country prefix, such as "DE136695976". An id with
    /// the country's format is stored even when its check digits fail (see `vat_id_check`).
    #[serde(default)]
    pub vat_id: Option<String>,
    /// Tax exemption codes the party holds.
    #[serde(default)]
    pub exemptions: Vec<String>,
    /// Required for partners, ignored otherwise.
    #[serde(default)]
    pub agreement: Option<Agreement>,
}

/// A stored party.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Party {
    pub id: Uuid,
    pub role: PartyRole,
    pub name: String,
    pub domicile: Domicile,
    pub business: bool,
    pub vat_id: Option<String>,
    /// Outcome of the VAT id's check; absent without a VAT id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_id_check: Option<VatIdCheck>,
    pub exemptions: Vec<String>,
    /// A partner's agreement in effect today, in the partner's time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<AgreementVersion>,
    /// Every version of a partner's agreement, oldest first.
    #[serde(skip)]
    pub agreement_versions: Vec<AgreementVersion>,
}

impl Party {
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.domicile.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Returns the version of the partner's agreement in effect on `date`.
    pub fn agreement_on(&self, date: NaiveDate) -> Option<&AgreementVersion> {
        version_on(&self.agreement_versions, date)
    }

    /// Returns the versions of the partner's agreement in effect on some day from `first` up
    /// to, not including, `end`.
    pub fn agreements_during(
        &self,
        first: NaiveDate,
        end: NaiveDate,
    ) -> impl Iterator<Item = &AgreementVersion> {
        let versions = &self.agreement_versions;
        versions.iter().enumerate().filter_map(move |(index, version)| {
            let starts_before_end = version.effective_from.is_none_or(|from| from < end);
            let next = versions.get(index + 1).and_then(|next| next.effective_from);
            let ends_after_first = next.is_none_or(|next| next > first);
            (starts_before_end && ends_after_first).then_some(version)
        })
    }

    /// Returns the version of the partner's agreement that prices a sale issued at `at`. That
    /// is the one in effect on the sale's issue date in the issuer's time zone: the partner's
    /// for an agent sale, the platform's for a sale the platform supplies. Every version has
    /// the same selling role, so the issuer does not depend on the version.
    pub fn agreement_for_sale(
        &self,
        platform: &Party,
        at: DateTime<Utc>,
    ) -> Option<&AgreementVersion> {
        let role = self.agreement_versions.first()?.selling_role;
        let issuer = role.issuer(self, platform);
        self.agreement_on(at.with_timezone(&issuer.time_zone()).date_naive())
    }
}

/// Checks the new party and returns its VAT id's check and stored form, if it has one.
fn validate(new: &NewParty) -> Result<Option<(VatIdCheck, String)>, Error> {
    let invalid = |field: &str, detail: &str, value: &str| {
        Error::new(ErrorCode::InvalidField, detail.to_string())
            .field(field)
            .value(value.to_string())
    };
    if new.name.trim().is_empty() || new.name.len() > 200 {
        return Err(invalid("name", "name must have 1 to 200 characters", &new.name));
    }
    crate::ledger::check_no_nul("name", &new.name)?;
    let domicile = &new.domicile;
    let texts = [
        ("domicile.subdivision", &domicile.subdivision),
        ("domicile.postal_code", &domicile.postal_code),
        ("domicile.city", &domicile.city),
    ];
    for (field, text) in texts {
        if let Some(text) = text {
            crate::ledger::check_no_nul(field, text)?;
        }
    }
    let country = &new.domicile.country;
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid("domicile.country", "expected an ISO 3166-1 alpha-2 code", country));
    }
    crate::tax::rules::check_country(country, "domicile.country")?;
    if new.domicile.time_zone.parse::<chrono_tz::Tz>().is_err() {
        let zone = &new.domicile.time_zone;
        return Err(invalid("domicile.time_zone", "expected an IANA time zone", zone));
    }
    let vat_id_check = match &new.vat_id {
        Some(vat_id) => Some(super::taxes::check_vat_id(country, vat_id)?),
        None => None,
    };
    match (&new.agreement, new.role) {
        (Some(agreement), PartyRole::Partner) => agreement.validate()?,
        (None, PartyRole::Partner) => {
            return Err(Error::new(
                ErrorCode::InvalidField,
                "a partner needs an agreement: commission, payout terms and selling role",
            )
            .field("agreement"))
        }
        _ => {}
    }
    Ok(vat_id_check)
}

/// Inserts a party, and its agreement when it is a partner.
pub async fn create(
    client: &impl GenericClient,
    tenant_id: Uuid,
    new: NewParty,
) -> Result<Party, Error> {
    let checked_vat_id = validate(&new)?;
    let vat_id_check = checked_vat_id.as_ref().map(|(check, _)| *check);
    let vat_id = checked_vat_id.map(|(_, number)| number);
    let id = Uuid::now_v7();
    let inserted = client
        .execute(
            "INSERT INTO parties (tenant_id, id, role, name, country, subdivision, postal_code, \
             city, time_zone, business, vat_id, vat_id_check, exemptions) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT DO NOTHING",
            &[
                &tenant_id,
                &id,
                &new.role.as_str(),
                &new.name,
                &new.domicile.country,
                &new.domicile.subdivision,
                &new.domicile.postal_code,
                &new.domicile.city,
                &new.domicile.time_zone,
                &new.business,
                &vat_id,
                &vat_id_check.map(VatIdCheck::as_str),
                &new.exemptions,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(Error::new(ErrorCode::InvalidField, "the tenant already has a platform party")
            .field("role")
            .value("platform"));
    }
    let agreement = if new.role == PartyRole::Partner { new.agreement } else { None };
    let agreement =
        agreement.map(|agreement| AgreementVersion { version: 1, effective_from: None, agreement });
    if let Some(agreement) = &agreement {
        insert_agreement(client, tenant_id, id, agreement).await?;
    }
    Ok(Party {
        id,
        role: new.role,
        name: new.name,
        domicile: new.domicile,
        business: new.business,
        vat_id,
        vat_id_check,
        exemptions: new.exemptions,
        agreement_versions: agreement.iter().cloned().collect(),
        agreement,
    })
}

/// Inserts one version of a partner's agreement.
pub async fn insert_agreement(
    client: &impl GenericClient,
    tenant_id: Uuid,
    partner_id: Uuid,
    version: &AgreementVersion,
) -> Result<(), Error> {
    let agreement = &version.agreement;
    let currencies: Vec<&str> = agreement.currencies.iter().map(|c| c.code()).collect();
    let json = |value: &dyn erased::Json| value.to_json();
    client
        .execute(
            "INSERT INTO partner_agreements (tenant_id, partner_id, selling_role, currencies, \
             commission_tiers, fixed_fees, commission_on_refund, minimum_payouts, \
             payout_delay_days, version, effective_from) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &tenant_id,
                &partner_id,
                &agreement.selling_role.as_str(),
                &currencies,
                &json(&agreement.commission_tiers)?,
                &json(&agreement.fixed_fees)?,
                &agreement.commission_on_refund.as_str(),
                &json(&agreement.minimum_payouts)?,
                &i32::from(agreement.payout_delay_days),
                &version.version,
                &version.effective_from,
            ],
        )
        .await?;
    Ok(())
}

mod erased {
    use crate::error::Error;

    /// Serializes any value to JSON for a jsonb column.
    pub trait Json {
        fn to_json(&self) -> Result<serde_json::Value, Error>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<serde_json::Value, Error> {
            serde_json::to_value(self).map_err(Error::internal)
        }
    }
}

/// Reads parties with every version of their agreement, oldest first, as one JSON array.
const SELECT_PARTY: &str = "SELECT p.id, p.role, p.name, p.country, p.subdivision, \
    p.postal_code, p.city, p.time_zone, p.business, p.vat_id, p.exemptions, \
    (SELECT jsonb_agg(jsonb_build_object('version', a.version, \
        'effective_from', a.effective_from, 'selling_role', a.selling_role, \
        'currencies', a.currencies, 'commission_tiers', a.commission_tiers, \
        'fixed_fees', a.fixed_fees, 'commission_on_refund', a.commission_on_refund, \
        'minimum_payouts', a.minimum_payouts, 'payout_delay_days', a.payout_delay_days) \
        ORDER BY a.version) \
     FROM partner_agreements a WHERE a.tenant_id = p.tenant_id AND a.partner_id = p.id), \
    p.vat_id_check \
    FROM parties p WHERE p.tenant_id = $1";

/// Loads a party by id; `None` when the tenant has none with that id.
pub async fn find(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Party>, Error> {
    let statement = client.prepare_cached(&format!("{SELECT_PARTY} AND p.id = $2")).await?;
    let row = client.query_opt(&statement, &[&tenant_id, &id]).await?;
    row.map(|row| party_from_row(&row)).transpose()
}

/// Loads a party like `find`, after taking a shared lock on its row that lasts until the
/// transaction ends. The lock is taken by its own statement, sent together with the read, so
/// the read returns every agreement version committed before the lock was granted. An
/// agreement change locks the row exclusively, so it waits for documents priced meanwhile.
pub async fn find_locked(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Party>, Error> {
    let read_sql = format!("{SELECT_PARTY} AND p.id = $2");
    let (lock, read) = tokio::try_join!(
        client
            .prepare_cached("SELECT 1 FROM parties WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE"),
        client.prepare_cached(&read_sql),
    )?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenant_id, &id];
    let (_, row) =
        tokio::try_join!(client.query_opt(&lock, &params), client.query_opt(&read, &params),)?;
    row.map(|row| party_from_row(&row)).transpose()
}

/// Loads the parties `ids` the tenant has, after taking a shared lock, in id order, on the
/// rows of `locked`: partners whose agreement must not change while their sales are priced.
/// The lock and the read are sent together, as in [`find_locked`].
pub async fn find_many(
    client: &impl GenericClient,
    tenant_id: Uuid,
    ids: &[Uuid],
    locked: &[Uuid],
) -> Result<HashMap<Uuid, Party>, Error> {
    // Each id is looked up on its own, so the plan is one primary key lookup per id whatever
    // the number of parties the tenant has. LIMIT keeps Postgres from turning the subquery
    // into a join, which it may plan as a scan of all the tenant's parties.
    let read_sql = format!(
        "SELECT p.* FROM unnest($2::uuid[]) AS k (id) \
         CROSS JOIN LATERAL ({SELECT_PARTY} AND p.id = k.id LIMIT 1) p"
    );
    let (lock, read) = tokio::try_join!(
        client.prepare_cached(
            "SELECT 1 FROM unnest($2::uuid[]) AS k (id) \
             CROSS JOIN LATERAL ( \
                 SELECT 1 FROM parties WHERE tenant_id = $1 AND id = k.id FOR KEY SHARE \
             ) p"
        ),
        client.prepare_cached(&read_sql),
    )?;
    let mut locked = locked.to_vec();
    locked.sort_unstable();
    locked.dedup();
    let lock = async {
        if locked.is_empty() {
            return Ok(Vec::new());
        }
        client.query(&lock, &[&tenant_id, &locked]).await
    };
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenant_id, &ids];
    let (_, rows) = tokio::try_join!(lock, client.query(&read, &params))?;
    rows.iter().map(|row| party_from_row(row).map(|party| (party.id, party))).collect()
}

/// Returns `party` if it has `role`, and `unknown_party` naming `field` and `id` otherwise.
pub fn with_role(
    party: Option<&Party>,
    id: Uuid,
    role: PartyRole,
    field: &str,
) -> Result<Party, Error> {
    match party {
        Some(party) if party.role == role => Ok(party.clone()),
        _ => Err(Error::new(ErrorCode::UnknownParty, format!("no {} with this id", role.as_str()))
            .field(field)
            .value(id.to_string())),
    }
}

/// Loads a partner with `find_locked`, naming `field` when there is none with this id.
pub async fn require_partner_locked(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
    field: &str,
) -> Result<Party, Error> {
    match find_locked(client, tenant_id, id).await? {
        Some(party) if party.role == PartyRole::Partner => Ok(party),
        _ => Err(Error::new(ErrorCode::UnknownParty, "no partner with this id")
            .field(field)
            .value(id.to_string())),
    }
}

/// Loads the tenant's platform party.
pub async fn platform(client: &impl GenericClient, tenant_id: Uuid) -> Result<Party, Error> {
    find_platform(client, tenant_id).await?.ok_or_else(platform_not_configured)
}

/// Loads the tenant's platform party; `None` before it is created.
pub async fn find_platform(
    client: &impl GenericClient,
    tenant_id: Uuid,
) -> Result<Option<Party>, Error> {
    let statement =
        client.prepare_cached(&format!("{SELECT_PARTY} AND p.role = 'platform'")).await?;
    let row = client.query_opt(&statement, &[&tenant_id]).await?;
    row.map(|row| party_from_row(&row)).transpose()
}

/// Returns the error of a document posted before the tenant's platform party exists.
pub fn platform_not_configured() -> Error {
    Error::new(
        ErrorCode::PlatformNotConfigured,
        "create the platform party (POST /v1/parties with role \"platform\") first",
    )
}

/// Loads a party that must exist with `role`, naming `field` when it does not.
pub async fn require(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
    role: PartyRole,
    field: &str,
) -> Result<Party, Error> {
    with_role(find(client, tenant_id, id).await?.as_ref(), id, role, field)
}

fn party_from_row(row: &tokio_postgres::Row) -> Result<Party, Error> {
    let versions: Option<serde_json::Value> = row.get(11);
    let agreement_versions: Vec<AgreementVersion> = match versions {
        Some(versions) => serde_json::from_value(versions).map_err(Error::internal)?,
        None => Vec::new(),
    };
    let time_zone: &str = row.get(7);
    let zone: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let today = Utc::now().with_timezone(&zone).date_naive();
    let agreement = version_on(&agreement_versions, today).cloned();
    Ok(Party {
        id: row.get(0),
        role: PartyRole::parse(row.get(1)),
        name: row.get(2),
        domicile: Domicile {
            country: row.get(3),
            subdivision: row.get(4),
            postal_code: row.get(5),
            city: row.get(6),
            time_zone: row.get(7),
        },
        business: row.get(8),
        vat_id: row.get(9),
        vat_id_check: row.get::<_, Option<&str>>(12).map(VatIdCheck::parse),
        exemptions: row.get(10),
        agreement,
        agreement_versions,
    })
}
