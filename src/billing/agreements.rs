//! Changes of a partner's agreement. Each change is a new version in effect from a date.
//! Issued documents keep the version they were priced under, so a change may only take effect
//! after the partner's last issued invoice and last payout run.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use serde::Serialize;
use uuid::Uuid;

use super::parties::{self, Agreement, AgreementVersion, PartyRole};
use crate::error::{Error, ErrorCode};

/// A request to change a partner's agreement from `effective_from` on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewAgreementVersion {
    /// First issue date the new terms price, in the issuer's time zone.
    pub effective_from: NaiveDate,
    #[serde(flatten)]
    pub agreement: Agreement,
}

/// Stores a new version of the partner's agreement. The partner's row is locked first: an
/// invoice takes a shared lock on it before it reads the agreement, so the checks below see
/// every invoice priced under the current version.
pub async fn change(
    client: &impl GenericClient,
    tenant_id: Uuid,
    partner_id: Uuid,
    new: NewAgreementVersion,
) -> Result<AgreementVersion, Error> {
    // The body is the agreement itself, so fields are named without the party's prefix.
    new.agreement.validate().map_err(|mut err| {
        err.field = err.field.map(|field| match field.strip_prefix("agreement.") {
            Some(inner) => inner.to_string(),
            None => field,
        });
        err
    })?;
    let locked = client
        .query_opt(
            "SELECT role FROM parties WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            &[&tenant_id, &partner_id],
        )
        .await?;
    let is_partner = locked.is_some_and(|row| row.get::<_, &str>(0) == PartyRole::Partner.as_str());
    let partner = match parties::find(client, tenant_id, partner_id).await? {
        Some(partner) if is_partner => partner,
        _ => return Err(Error::not_found("partner", partner_id)),
    };
    let Some(current) = partner.agreement_versions.last() else {
        return Err(Error::internal(anyhow::anyhow!("partner without agreement")));
    };
    if new.agreement.selling_role != current.selling_role {
        return Err(Error::new(
            ErrorCode::InvalidField,
            "the selling role cannot change: it decides who issues and numbers the partner's \
             invoices; create a new partner for the other role",
        )
        .field("selling_role")
        .value(new.agreement.selling_role.as_str()));
    }
    check_effective_from(client, tenant_id, partner_id, current, new.effective_from).await?;

    let version = AgreementVersion {
        version: current.version + 1,
        effective_from: Some(new.effective_from),
        agreement: new.agreement,
    };
    parties::insert_agreement(client, tenant_id, partner_id, &version).await?;
    Ok(version)
}

/// Rejects an `effective_from` that would reprice what is already issued: it must come after
/// the current version's date, the partner's last invoice and its last payout run.
async fn check_effective_from(
    client: &impl GenericClient,
    tenant_id: Uuid,
    partner_id: Uuid,
    current: &AgreementVersion,
    effective_from: NaiveDate,
) -> Result<(), Error> {
    let too_early = |detail: String| {
        Error::new(ErrorCode::EffectiveFromTooEarly, detail)
            .field("effective_from")
            .value(effective_from.to_string())
    };
    if let Some(from) = current.effective_from.filter(|from| effective_from <= *from) {
        return Err(too_early(format!(
            "the current version {} is in effect from {from}; a new version must start later",
            current.version
        )));
    }
    let row = client
        .query_one(
            "SELECT (SELECT max(issue_date) FROM invoices \
                     WHERE tenant_id = $1 AND seller_id = $2), \
                    (SELECT max(r.as_of) FROM payout_runs r JOIN payout_run_lines l \
                     ON l.tenant_id = r.tenant_id AND l.run_id = r.id \
                     WHERE r.tenant_id = $1 AND l.partner_id = $2)",
            &[&tenant_id, &partner_id],
        )
        .await?;
    let last_invoice: Option<NaiveDate> = row.get(0);
    if let Some(issued) = last_invoice.filter(|issued| effective_from <= *issued) {
        return Err(too_early(format!(
            "an invoice of the partner issued on {issued} was priced under the current terms; \
             the change must take effect after that date"
        )));
    }
    let last_payout_run: Option<NaiveDate> = row.get(1);
    if let Some(run) = last_payout_run.filter(|run| effective_from <= *run) {
        return Err(too_early(format!(
            "a payout run as of {run} used the current minimum payout and delay; the change \
             must take effect after that date"
        )));
    }
    Ok(())
}

/// Lists every version of the partner's agreement, oldest first.
pub async fn list(
    client: &impl GenericClient,
    tenant_id: Uuid,
    partner_id: Uuid,
) -> Result<Vec<AgreementVersion>, Error> {
    match parties::find(client, tenant_id, partner_id).await? {
        Some(partner) if partner.role == PartyRole::Partner => Ok(partner.agreement_versions),
        _ => Err(Error::not_found("partner", partner_id)),
    }
}
