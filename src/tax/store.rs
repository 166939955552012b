//! PostgreSQL: loading the rates fixtures, reading the rate book and storing determinations.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::fixtures;
use super::model::{Determination, DeterminationSource, Liability, PartyKind, RoundingScope};
use super::rates::{Jurisdiction, Level, Rate, RateBook};
use crate::error::Error;

const UPSERT_JURISDICTION: &str = "\
    INSERT INTO tax_jurisdictions (code, name, level, parent_code, time_zone, tax_name, \
        replaces_parent, rounding_scope, rounding_rule, source) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (code) DO UPDATE SET name = $2, level = $3, parent_code = $4, time_zone = $5, \
        tax_name = $6, replaces_parent = $7, rounding_scope = $8, rounding_rule = $9, \
        source = $10";

const UPSERT_RATE: &str = "\
    INSERT INTO tax_rates (jurisdiction_code, rate_class, rate, valid_from, valid_to, source, \
        source_read_on) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (jurisdiction_code, rate_class, valid_from) DO UPDATE SET rate = $3, \
        valid_to = $5, source = $6, source_read_on = $7";

/// Upserts the embedded jurisdictions and rates fixtures. Running it again changes nothing
/// unless the fixtures changed; it runs after the migrations, in one transaction.
pub async fn load_fixtures(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    let mut jurisdictions = fixtures::jurisdictions()?;
    let rates = fixtures::rates()?;
    // Validates the fixtures (parents, overlaps) before anything is written.
    RateBook::new(jurisdictions.clone(), rates.clone())?;
    jurisdictions.sort_by_key(|jurisdiction| jurisdiction.parent.is_some());

    let tx = client.transaction().await?;
    let upsert_jurisdiction = tx.prepare(UPSERT_JURISDICTION).await?;
    for j in &jurisdictions {
        let rounding_rule = serde_json::to_value(j.rounding_rule)?;
        tx.execute(
            &upsert_jurisdiction,
            &[
                &j.code,
                &j.name,
                &j.level.as_str(),
                &j.parent,
                &j.time_zone.name(),
                &j.tax_name,
                &j.replaces_parent,
                &scope_str(j.rounding_scope),
                &rounding_rule.as_str(),
                &j.source,
            ],
        )
        .await?;
    }
    let upsert_rate = tx.prepare(UPSERT_RATE).await?;
    for r in &rates {
        tx.execute(
            &upsert_rate,
            &[
                &r.jurisdiction,
                &r.class.as_str(),
                &r.rate,
                &r.valid_from,
                &r.valid_to,
                &r.source,
                &r.source_read_on,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        jurisdictions = jurisdictions.len(),
        rates = rates.len(),
        "tax rates fixtures loaded"
    );
    Ok(())
}

/// Parses a snake_case enum stored as text.
fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, text: String) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| anyhow::anyhow!("invalid {what} '{text}' in tax_jurisdictions"))
}

fn scope_str(scope: RoundingScope) -> &'static str {
    match scope {
        RoundingScope::Line => "line",
        RoundingScope::Document => "document",
    }
}

/// Reads every jurisdiction and rate into a rate book.
pub async fn load_rate_book(client: &impl GenericClient) -> Result<RateBook, Error> {
    let rows = client
        .query(
            "SELECT code, name, level, parent_code, time_zone, tax_name, replaces_parent, \
                    rounding_scope, rounding_rule, source \
             FROM tax_jurisdictions",
            &[],
        )
        .await?;
    let jurisdictions = rows
        .iter()
        .map(|row| {
            Ok(Jurisdiction {
                code: row.get(0),
                name: row.get(1),
                level: row.get::<_, String>(2).parse::<Level>().map_err(anyhow::Error::msg)?,
                parent: row.get(3),
                time_zone: row.get::<_, String>(4).parse().map_err(anyhow::Error::msg)?,
                tax_name: row.get(5),
                replaces_parent: row.get(6),
                rounding_scope: parse_enum("rounding scope", row.get(7))?,
                rounding_rule: parse_enum("rounding rule", row.get(8))?,
                source: row.get(9),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(Error::internal)?;
    let rows = client
        .query(
            "SELECT jurisdiction_code, rate_class, rate, valid_from, valid_to, source, \
                    source_read_on \
             FROM tax_rates",
            &[],
        )
        .await?;
    let rates = rows
        .iter()
        .map(|row| {
            Ok(Rate {
                jurisdiction: row.get(0),
                class: row.get::<_, String>(1).parse().map_err(anyhow::Error::msg)?,
                rate: row.get(2),
                valid_from: row.get(3),
                valid_to: row.get(4),
                source: row.get(5),
                source_read_on: row.get(6),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(Error::internal)?;
    RateBook::new(jurisdictions, rates).map_err(Error::internal)
}

const INSERT_DETERMINATION: &str = "\
    INSERT INTO tax_determinations (tenant_id, id, document_kind, document_id, rule_id, \
        supplier, supplier_rule, buyer_treated_as, buyer_tax_id, source, tax_estimated, \
        currency, prices_include_tax, tax_point, tax_date, net_total, tax_total, gross_total, \
        legal_mentions, provider_response, determination) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
        $19, $20, $21)";

const INSERT_LINE: &str = "\
    INSERT INTO tax_determination_lines (tenant_id, determination_id, position, \
        jurisdiction_code, jurisdiction_name, jurisdiction_level, tax_name, rule_id, rate, \
        taxable, amount, liable, legal_mention, rate_source, rounding_scope) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// Stores `determination` as the audit trail of a document (`invoice`, `commission`,
/// `credit_note`...) and returns its id. The caller owns the transaction, so the trail commits
/// with the document or not at all. A second determination for the same document is rejected
/// by the unique key.
pub async fn store_determination(
    client: &impl GenericClient,
    tenant_id: Uuid,
    document_kind: &str,
    document_id: Uuid,
    determination: &Determination,
) -> Result<Uuid, Error> {
    let id = Uuid::now_v7();
    let d = determination;
    let whole = serde_json::to_value(d).map_err(Error::internal)?;
    let (insert, insert_line) = tokio::try_join!(
        client.prepare_cached(INSERT_DETERMINATION),
        client.prepare_cached(INSERT_LINE),
    )?;
    let kind = kind_str(d.buyer_treated_as);
    let source = source_str(d.source);
    let currency = d.currency.code();
    let header: [&(dyn ToSql + Sync); 21] = [
        &tenant_id,
        &id,
        &document_kind,
        &document_id,
        &d.rule,
        &d.supplier,
        &d.supplier_rule,
        &kind,
        &d.buyer_tax_id,
        &source,
        &d.tax_estimated,
        &currency,
        &d.prices_include_tax,
        &d.tax_point,
        &d.tax_date,
        &d.net_total,
        &d.tax_total,
        &d.gross_total,
        &d.legal_mentions,
        &d.provider_response,
        &whole,
    ];
    let positions = (0..d.taxes.len())
        .map(|position| i16::try_from(position).map_err(Error::internal))
        .collect::<Result<Vec<i16>, Error>>()?;
    let line_fields: Vec<(&str, &str)> =
        d.taxes.iter().map(|line| (liable_str(line.liable), scope_str(line.rounding))).collect();
    let line_params: Vec<[&(dyn ToSql + Sync); 15]> = d
        .taxes
        .iter()
        .zip(&positions)
        .zip(&line_fields)
        .map(|((line, position), (liable, rounding))| {
            [
                &tenant_id as &(dyn ToSql + Sync),
                &id,
                position,
                &line.jurisdiction,
                &line.jurisdiction_name,
                &line.level,
                &line.tax_name,
                &line.rule,
                &line.rate,
                &line.taxable,
                &line.amount,
                liable,
                &line.legal_mention,
                &line.rate_source,
                rounding,
            ]
        })
        .collect();
    // The header and its lines are sent together: Postgres runs them in order, so the lines
    // find their header, and the whole trail costs one round trip.
    let mut inserts = vec![client.execute(&insert, &header)];
    inserts.extend(line_params.iter().map(|params| client.execute(&insert_line, params)));
    futures::future::try_join_all(inserts).await?;
    Ok(id)
}

/// Reads the determination stored for a document, if any.
pub async fn load_determination(
    client: &impl GenericClient,
    tenant_id: Uuid,
    document_kind: &str,
    document_id: Uuid,
) -> Result<Option<Determination>, Error> {
    let row = client
        .query_opt(
            "SELECT determination FROM tax_determinations \
             WHERE tenant_id = $1 AND document_kind = $2 AND document_id = $3",
            &[&tenant_id, &document_kind, &document_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let value: serde_json::Value = row.get(0);
    serde_json::from_value(value).map(Some).map_err(|err| {
        Error::internal(anyhow::anyhow!("stored tax determination cannot be read: {err}"))
    })
}

fn kind_str(kind: PartyKind) -> &'static str {
    match kind {
        PartyKind::Business => "business",
        PartyKind::Consumer => "consumer",
    }
}

fn source_str(source: DeterminationSource) -> &'static str {
    match source {
        DeterminationSource::Local => "local",
        DeterminationSource::Provider => "provider",
        DeterminationSource::Fallback => "fallback",
    }
}

fn liable_str(liable: Liability) -> &'static str {
    match liable {
        Liability::Seller => "seller",
        Liability::Platform => "platform",
        Liability::Buyer => "buyer",
        Liability::Nobody => "nobody",
    }
}
