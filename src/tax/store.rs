//! PostgreSQL: loading the rates fixtures, reading the rate book and storing determinations.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{Json, ToSql};
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

const INSERT_DETERMINATIONS: &str = "\
    INSERT INTO tax_determinations (tenant_id, id, document_kind, document_id, rule_id, \
        supplier, supplier_rule, buyer_treated_as, buyer_tax_id, source, tax_estimated, \
        currency, prices_include_tax, tax_point, tax_date, net_total, tax_total, gross_total, \
        legal_mentions, provider_response, determination) \
    SELECT d.tenant_id, d.id, d.document_kind, d.document_id, d.rule_id, d.supplier, \
        d.supplier_rule, \
        d.buyer_treated_as, d.buyer_tax_id, d.source, d.tax_estimated, d.currency, \
        d.prices_include_tax, d.tax_point, d.tax_date, d.net_total, d.tax_total, d.gross_total, \
        ARRAY(SELECT json_array_elements_text(d.legal_mentions)), d.provider_response, \
        d.determination \
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], \
        $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[], \
        $13::boolean[], \
        $14::timestamptz[], $15::date[], $16::numeric[], $17::numeric[], $18::numeric[], \
        $19::json[], $20::json[], $21::json[]) \
        AS d (tenant_id, id, document_kind, document_id, rule_id, supplier, supplier_rule, \
        buyer_treated_as, buyer_tax_id, source, tax_estimated, currency, prices_include_tax, \
        tax_point, tax_date, net_total, tax_total, gross_total, legal_mentions, \
        provider_response, determination)";

const INSERT_LINES: &str = "\
    INSERT INTO tax_determination_lines (tenant_id, determination_id, position, \
        jurisdiction_code, jurisdiction_name, jurisdiction_level, tax_name, rule_id, rate, \
        taxable, amount, liable, legal_mention, rate_source, rounding_scope) \
    SELECT l.* FROM unnest($1::uuid[], $2::uuid[], $3::smallint[], $4::text[], $5::text[], \
        $6::text[], $7::text[], $8::text[], $9::numeric[], $10::numeric[], $11::numeric[], \
        $12::text[], $13::text[], $14::text[], $15::text[]) AS l";

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
    let determinations = [(tenant_id, document_kind, document_id, determination)];
    let ids = store_determinations(client, &determinations).await?;
    ids.into_iter().next().ok_or_else(|| Error::internal(anyhow::anyhow!("no determination id")))
}

/// Stores the determinations of many documents, each given with its tenant, document kind and
/// id, with two statements sent together, and returns their ids in order.
pub async fn store_determinations(
    client: &impl GenericClient,
    determinations: &[(Uuid, &str, Uuid, &Determination)],
) -> Result<Vec<Uuid>, Error> {
    let ids: Vec<Uuid> = determinations.iter().map(|_| Uuid::now_v7()).collect();
    let mut header = DeterminationColumns::default();
    let mut lines = LineColumns::default();
    for (id, (tenant_id, document_kind, document_id, d)) in ids.iter().zip(determinations) {
        header.push(*tenant_id, *id, document_kind, *document_id, d);
        for (position, line) in d.taxes.iter().enumerate() {
            let position = i16::try_from(position).map_err(Error::internal)?;
            lines.push(*tenant_id, *id, position, line);
        }
    }
    let (insert, insert_lines) = tokio::try_join!(
        client.prepare_cached(INSERT_DETERMINATIONS),
        client.prepare_cached(INSERT_LINES),
    )?;
    // The headers and their lines are sent together: Postgres runs them in order, so the lines
    // find their header, and the whole trail costs one round trip.
    let header_params = header.params();
    let line_params = lines.params();
    tokio::try_join!(
        client.execute(&insert, &header_params),
        client.execute(&insert_lines, &line_params),
    )?;
    Ok(ids)
}

/// The columns of `tax_determinations` rows, one array each.
#[derive(Default)]
struct DeterminationColumns<'a> {
    tenant_id: Vec<Uuid>,
    id: Vec<Uuid>,
    document_kind: Vec<&'a str>,
    document_id: Vec<Uuid>,
    rule: Vec<&'a str>,
    supplier: Vec<&'a str>,
    supplier_rule: Vec<Option<&'a str>>,
    buyer_treated_as: Vec<&'static str>,
    buyer_tax_id: Vec<Option<&'a str>>,
    source: Vec<&'static str>,
    tax_estimated: Vec<bool>,
    currency: Vec<&'a str>,
    prices_include_tax: Vec<bool>,
    tax_point: Vec<chrono::DateTime<chrono::Utc>>,
    tax_date: Vec<chrono::NaiveDate>,
    net_total: Vec<rust_decimal::Decimal>,
    tax_total: Vec<rust_decimal::Decimal>,
    gross_total: Vec<rust_decimal::Decimal>,
    // JSON columns, serialized straight into the statement's parameters without a
    // serde_json::Value.
    legal_mentions: Vec<Json<&'a [String]>>,
    provider_response: Vec<Option<&'a serde_json::Value>>,
    whole: Vec<Json<&'a Determination>>,
}

impl<'a> DeterminationColumns<'a> {
    fn push(
        &mut self,
        tenant_id: Uuid,
        id: Uuid,
        document_kind: &'a str,
        document_id: Uuid,
        d: &'a Determination,
    ) {
        self.tenant_id.push(tenant_id);
        self.id.push(id);
        self.document_kind.push(document_kind);
        self.document_id.push(document_id);
        self.rule.push(&d.rule);
        self.supplier.push(&d.supplier);
        self.supplier_rule.push(d.supplier_rule.as_deref());
        self.buyer_treated_as.push(kind_str(d.buyer_treated_as));
        self.buyer_tax_id.push(d.buyer_tax_id.as_deref());
        self.source.push(source_str(d.source));
        self.tax_estimated.push(d.tax_estimated);
        self.currency.push(d.currency.code());
        self.prices_include_tax.push(d.prices_include_tax);
        self.tax_point.push(d.tax_point);
        self.tax_date.push(d.tax_date);
        self.net_total.push(d.net_total);
        self.tax_total.push(d.tax_total);
        self.gross_total.push(d.gross_total);
        self.legal_mentions.push(Json(&d.legal_mentions));
        self.provider_response.push(d.provider_response.as_ref());
        self.whole.push(Json(d));
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 21] {
        [
            &self.tenant_id,
            &self.id,
            &self.document_kind,
            &self.document_id,
            &self.rule,
            &self.supplier,
            &self.supplier_rule,
            &self.buyer_treated_as,
            &self.buyer_tax_id,
            &self.source,
            &self.tax_estimated,
            &self.currency,
            &self.prices_include_tax,
            &self.tax_point,
            &self.tax_date,
            &self.net_total,
            &self.tax_total,
            &self.gross_total,
            &self.legal_mentions,
            &self.provider_response,
            &self.whole,
        ]
    }
}

/// The columns of `tax_determination_lines` rows, one array each.
#[derive(Default)]
struct LineColumns<'a> {
    tenant_id: Vec<Uuid>,
    determination_id: Vec<Uuid>,
    position: Vec<i16>,
    jurisdiction: Vec<&'a str>,
    jurisdiction_name: Vec<&'a str>,
    level: Vec<&'a str>,
    tax_name: Vec<&'a str>,
    rule: Vec<&'a str>,
    rate: Vec<rust_decimal::Decimal>,
    taxable: Vec<rust_decimal::Decimal>,
    amount: Vec<rust_decimal::Decimal>,
    liable: Vec<&'static str>,
    legal_mention: Vec<Option<&'a str>>,
    rate_source: Vec<&'a str>,
    rounding: Vec<&'static str>,
}

impl<'a> LineColumns<'a> {
    fn push(
        &mut self,
        tenant_id: Uuid,
        determination_id: Uuid,
        position: i16,
        line: &'a super::model::TaxLine,
    ) {
        self.tenant_id.push(tenant_id);
        self.determination_id.push(determination_id);
        self.position.push(position);
        self.jurisdiction.push(&line.jurisdiction);
        self.jurisdiction_name.push(&line.jurisdiction_name);
        self.level.push(&line.level);
        self.tax_name.push(&line.tax_name);
        self.rule.push(&line.rule);
        self.rate.push(line.rate);
        self.taxable.push(line.taxable);
        self.amount.push(line.amount);
        self.liable.push(liable_str(line.liable));
        self.legal_mention.push(line.legal_mention.as_deref());
        self.rate_source.push(&line.rate_source);
        self.rounding.push(scope_str(line.rounding));
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.tenant_id,
            &self.determination_id,
            &self.position,
            &self.jurisdiction,
            &self.jurisdiction_name,
            &self.level,
            &self.tax_name,
            &self.rule,
            &self.rate,
            &self.taxable,
            &self.amount,
            &self.liable,
            &self.legal_mention,
            &self.rate_source,
            &self.rounding,
        ]
    }
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
