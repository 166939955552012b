//! Shared reads, locks and writes of the invoices issued in one transaction.
//!
//! An [`InvoiceBatch`] reads the parties, contract accounts, customer credit, number series and
//! partner revenue its invoices need with one query per table, and keeps them until the
//! transaction ends. It locks the rows it will change (number series, credit, partner revenue)
//! in key order when it reads them, so two batches do not deadlock on those rows. Their
//! new values stay in memory while invoices are priced. `flush` then writes every invoice with
//! one multi-row statement per table. A single invoice is a batch of one, so both take the
//! same path.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::accounts::{self, PlatformAccount, Purpose};
use super::invoice::{self, NewInvoice, PendingInvoice};
use super::numbering;
use super::parties::{self, Party, PartyRole};
use crate::error::Error;
use crate::ledger::PeriodId;
use crate::money::Currency;

/// A number series: issuer, series name and year.
pub type SeriesKey = (Uuid, String, i32);

/// A partner's revenue of one year in one currency.
pub type RevenueKey = (Uuid, i32, Currency);

/// A customer's unapplied credit in one currency, locked.
#[derive(Debug, Clone)]
pub struct Credit {
    pub account: String,
    /// Credit still unapplied, after the invoices of this batch.
    pub balance: Decimal,
    used: Decimal,
}

/// A number series as locked: its last number and issue instant, after this batch's invoices.
#[derive(Debug, Clone)]
struct Series {
    last_number: i64,
    last_issued_at: Option<DateTime<Utc>>,
    /// Whether the series has a row; a new series is inserted by `flush`.
    stored: bool,
    /// Numbers this batch took and has not written yet.
    numbers_taken: i64,
}

/// A partner's locked revenue of a year, with what this batch added to it.
#[derive(Debug, Clone, Copy, Default)]
struct Revenue {
    net: Decimal,
    added: Decimal,
}

/// Changes that one accepted invoice makes to the batch's locked rows.
pub struct Effects {
    pub series: SeriesKey,
    pub issued_at: DateTime<Utc>,
    pub revenue: Option<(RevenueKey, Decimal)>,
    pub credit: Option<((Uuid, Currency), Decimal)>,
}

/// Accounts that one invoice posts to and that are not open yet. The invoice opens them only
/// once it has passed every check, so that a rejected invoice of a batch opens none.
#[derive(Default)]
pub struct AccountsToOpen {
    contract: Vec<(Uuid, Currency, Purpose)>,
    platform: Vec<(PlatformAccount, Currency)>,
}

/// The reads, locks and pending writes of invoices issued in one transaction.
pub struct InvoiceBatch {
    tenant_id: Uuid,
    /// Every party asked for; `None` when the tenant has no such party.
    parties: HashMap<Uuid, Option<Party>>,
    locked_partners: HashSet<Uuid>,
    platform: Option<Option<Party>>,
    contract_accounts: HashMap<(Uuid, Currency, Purpose), Option<String>>,
    platform_accounts: HashSet<String>,
    credits: HashMap<(Uuid, Currency), Option<Credit>>,
    series: HashMap<SeriesKey, Series>,
    revenue: HashMap<RevenueKey, Revenue>,
    /// First days of the tenant's closed periods, once read.
    closed_periods: Option<HashSet<NaiveDate>>,
    pending: Vec<PendingInvoice>,
}

impl InvoiceBatch {
    pub fn new(tenant_id: Uuid) -> InvoiceBatch {
        InvoiceBatch {
            tenant_id,
            parties: HashMap::new(),
            locked_partners: HashSet::new(),
            platform: None,
            contract_accounts: HashMap::new(),
            platform_accounts: HashSet::new(),
            credits: HashMap::new(),
            series: HashMap::new(),
            revenue: HashMap::new(),
            closed_periods: None,
            pending: Vec::new(),
        }
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// Reads and locks what `invoices` need and the batch does not hold yet, in two round
    /// trips. Invoices with faults are read for as far as they go; pricing rejects them.
    ///
    /// Locks are taken in one order: the advisory lock of each number series, then the
    /// series rows, the partner revenue rows and the customer credit rows. A series without a
    /// row has nothing else to lock, so its first invoices queue on the advisory lock. The
    /// advisory locks come before every row lock because an invoice that waited for one
    /// while holding rows could deadlock with an invoice that locked the series row inserted
    /// meanwhile and then waited for those rows. A credit note locks the partner's revenue
    /// before the customer's credit, as invoices do.
    pub async fn load(
        &mut self,
        tx: &Transaction<'_>,
        invoices: &[&NewInvoice],
    ) -> Result<(), Error> {
        let tenant_id = self.tenant_id;
        let sales: Vec<(&NewInvoice, Option<Currency>)> =
            invoices.iter().map(|new| (*new, Currency::parse(&new.currency).ok())).collect();
        // Sets drop the keys that several invoices share, and ordered sets give the key order
        // that rows are locked in.
        let mut ids = BTreeSet::new();
        let mut locked = BTreeSet::new();
        let mut account_keys = HashSet::new();
        let mut credit_keys = BTreeSet::new();
        let mut currencies = BTreeSet::new();
        for (new, currency) in &sales {
            for id in [new.customer_id, new.seller_id] {
                if !self.parties.contains_key(&id) {
                    ids.insert(id);
                }
            }
            if !self.locked_partners.contains(&new.seller_id) {
                locked.insert(new.seller_id);
            }
            let Some(currency) = *currency else { continue };
            for key in [
                (new.customer_id, currency, Purpose::Receivable),
                (new.seller_id, currency, Purpose::Payable),
            ] {
                if !self.contract_accounts.contains_key(&key) {
                    account_keys.insert(key);
                }
            }
            let credit = (new.customer_id, currency);
            if !self.credits.contains_key(&credit) {
                credit_keys.insert(credit);
            }
            if !self.platform_accounts.contains(&PlatformAccount::CommissionRevenue.code(currency)?)
            {
                currencies.insert(currency);
            }
        }
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let locked: Vec<Uuid> = locked.into_iter().collect();
        let account_keys: Vec<(Uuid, Currency, Purpose)> = account_keys.into_iter().collect();
        let credit_keys: Vec<(Uuid, Currency)> = credit_keys.into_iter().collect();

        let parties = async {
            if ids.is_empty() && locked.is_empty() {
                return Ok(HashMap::new());
            }
            parties::find_many(tx, tenant_id, &ids, &locked).await
        };
        let platform = async {
            match self.platform {
                Some(_) => Ok(None),
                None => parties::find_platform(tx, tenant_id).await.map(Some),
            }
        };
        let revenue = PlatformAccount::CommissionRevenue;
        let revenue_accounts =
            futures::future::try_join_all(currencies.iter().map(|currency| {
                accounts::find_platform_account(tx, tenant_id, &revenue, *currency)
            }));
        let closed = async {
            match self.closed_periods {
                Some(_) => Ok(None),
                None => closed_periods(tx, tenant_id).await.map(Some),
            }
        };
        let (found, platform, contract, revenue_accounts, closed) = tokio::try_join!(
            parties,
            platform,
            find_contract_accounts(tx, tenant_id, &account_keys),
            revenue_accounts,
            closed,
        )?;
        for id in ids {
            self.parties.insert(id, found.get(&id).cloned());
        }
        self.locked_partners.extend(locked);
        if let Some(platform) = platform {
            self.platform = Some(platform);
        }
        for key in account_keys {
            self.contract_accounts.insert(key, contract.get(&key).cloned());
        }
        self.platform_accounts.extend(revenue_accounts.into_iter().flatten());
        if let Some(closed) = closed {
            self.closed_periods = Some(closed);
        }
        // The locking statements are prepared before any is sent, so Postgres receives them in
        // the order they are polled: series locks and rows, revenue, then credit, in one round
        // trip.
        tokio::try_join!(
            tx.prepare_cached(LOCK_SERIES_NAMES),
            tx.prepare_cached(LOCK_SERIES),
            tx.prepare_cached(CREATE_REVENUE),
            tx.prepare_cached(LOCK_REVENUE),
            tx.prepare_cached(LOCK_CREDITS),
        )?;
        // Both futures finish before an error is returned, so the error returned is the one
        // Postgres raised first. Statements after a failed one only report that the
        // transaction is aborted.
        let (counters, credits) = tokio::join!(
            self.lock_counters(tx, &sales),
            lock_credits(tx, tenant_id, &credit_keys),
        );
        counters?;
        let credits = credits?;
        for key in credit_keys {
            self.credits.insert(key, credits.get(&key).cloned());
        }
        Ok(())
    }

    /// Locks the number series and partner revenue rows of `sales`, in key order.
    async fn lock_counters(
        &mut self,
        tx: &Transaction<'_>,
        sales: &[(&NewInvoice, Option<Currency>)],
    ) -> Result<(), Error> {
        let mut series_keys = BTreeSet::new();
        let mut revenue_keys = BTreeSet::new();
        for (new, currency) in sales {
            let Some((tiered, issuer)) = self.sale_terms(new) else { continue };
            let series = new.series.clone().unwrap_or_else(|| invoice::DEFAULT_SERIES.to_string());
            if numbering::validate_series(&series, "series").is_err() {
                continue;
            }
            let zone = issuer.time_zone();
            let key = (issuer.id, series, numbering::issue_year(new.issued_at, zone));
            if !self.series.contains_key(&key) {
                series_keys.insert(key);
            }
            if let (true, Some(currency)) = (tiered, currency) {
                let year = new.issued_at.with_timezone(&zone).date_naive().year();
                let key = (new.seller_id, year, *currency);
                if !self.revenue.contains_key(&key) {
                    revenue_keys.insert(key);
                }
            }
        }
        let series_keys: Vec<SeriesKey> = series_keys.into_iter().collect();
        let revenue_keys: Vec<RevenueKey> = revenue_keys.into_iter().collect();

        let tenant_id = self.tenant_id;
        let (names, series, revenue) = tokio::join!(
            lock_series_names(tx, tenant_id, &series_keys),
            lock_series(tx, tenant_id, &series_keys),
            lock_revenue(tx, tenant_id, &revenue_keys),
        );
        names?;
        let series = series?;
        let revenue = revenue?;

        for key in series_keys {
            let found = series.get(&key).cloned();
            let state = match found {
                Some((last_number, last_issued_at)) => Series {
                    last_number,
                    last_issued_at: Some(last_issued_at),
                    stored: true,
                    numbers_taken: 0,
                },
                None => {
                    Series { last_number: 0, last_issued_at: None, stored: false, numbers_taken: 0 }
                }
            };
            self.series.insert(key, state);
        }
        for key in revenue_keys {
            let net = revenue.get(&key).copied().unwrap_or_default();
            self.revenue.insert(key, Revenue { net, added: Decimal::ZERO });
        }
        Ok(())
    }

    /// Returns whether the commission of a sale is tiered, and its issuer, once its parties
    /// are read.
    fn sale_terms(&self, new: &NewInvoice) -> Option<(bool, &Party)> {
        let seller = self.party(new.seller_id)?;
        let platform = self.platform()?;
        let agreement = &seller.agreement_for_sale(platform, new.issued_at)?.agreement;
        let issuer = agreement.selling_role.issuer(seller, platform);
        Some((agreement.commission_tiers.len() > 1, issuer))
    }

    /// Returns a party read by `load`, or `None` when the tenant has none with this id.
    pub fn party(&self, id: Uuid) -> Option<&Party> {
        self.parties.get(&id).and_then(Option::as_ref)
    }

    /// Returns the party `id` in `role`, or `unknown_party` naming `field`.
    pub fn party_in_role(&self, id: Uuid, role: PartyRole, field: &str) -> Result<Party, Error> {
        parties::with_role(self.party(id), id, role, field)
    }

    pub fn platform(&self) -> Option<&Party> {
        self.platform.as_ref().and_then(Option::as_ref)
    }

    /// Returns the code of a party's contract account. An account not open yet is added to
    /// `to_open` under the code it will get.
    pub async fn contract_account(
        &mut self,
        tx: &Transaction<'_>,
        party_id: Uuid,
        currency: Currency,
        purpose: Purpose,
        to_open: &mut AccountsToOpen,
    ) -> Result<String, Error> {
        let key = (party_id, currency, purpose);
        let found = match self.contract_accounts.get(&key) {
            Some(found) => found.clone(),
            None => {
                let tenant_id = self.tenant_id;
                let found =
                    accounts::find_contract_account(tx, tenant_id, party_id, currency, purpose)
                        .await?;
                self.contract_accounts.insert(key, found.clone());
                found
            }
        };
        if let Some(code) = found {
            return Ok(code);
        }
        to_open.contract.push(key);
        Ok(accounts::contract_account_code(party_id, currency, purpose))
    }

    /// Returns the codes of platform accounts in `currency`. Those not known to be open are
    /// added to `to_open`.
    pub fn platform_accounts(
        &self,
        platform_accounts: &[PlatformAccount],
        currency: Currency,
        to_open: &mut AccountsToOpen,
    ) -> Result<Vec<String>, Error> {
        let codes = platform_accounts
            .iter()
            .map(|account| account.code(currency))
            .collect::<Result<Vec<_>, Error>>()?;
        for (account, code) in platform_accounts.iter().zip(&codes) {
            if !self.platform_accounts.contains(code) {
                to_open.platform.push((account.clone(), currency));
            }
        }
        Ok(codes)
    }

    /// Opens the accounts of `to_open`, with statements sent together. A platform account that
    /// turns out to be open already is only read.
    pub async fn open_accounts(
        &mut self,
        tx: &Transaction<'_>,
        to_open: AccountsToOpen,
    ) -> Result<(), Error> {
        let tenant_id = self.tenant_id;
        let contract = futures::future::try_join_all(to_open.contract.iter().map(
            |&(party_id, currency, purpose)| {
                accounts::open_contract_account(tx, tenant_id, party_id, currency, purpose)
            },
        ));
        let platform =
            futures::future::try_join_all(to_open.platform.iter().map(|(account, currency)| {
                accounts::platform_account(tx, tenant_id, account, *currency)
            }));
        let (contract_codes, platform_codes) = tokio::try_join!(contract, platform)?;
        for (key, code) in to_open.contract.into_iter().zip(contract_codes) {
            self.contract_accounts.insert(key, Some(code));
        }
        self.platform_accounts.extend(platform_codes);
        Ok(())
    }

    /// Returns the customer's credit account with its unapplied balance, if it has one.
    pub fn credit(&self, customer_id: Uuid, currency: Currency) -> Option<&Credit> {
        self.credits.get(&(customer_id, currency)).and_then(Option::as_ref)
    }

    /// Returns the partner's revenue of the year before the next invoice.
    pub fn revenue(&self, key: &RevenueKey) -> Result<Decimal, Error> {
        self.revenue.get(key).map(|revenue| revenue.net).ok_or_else(|| not_locked("revenue"))
    }

    /// Returns the next number of a series for a document issued at `issued_at`, checked to
    /// come after the series' last document. Nothing is taken until [`add`](Self::add).
    pub fn next_number(&self, key: &SeriesKey, issued_at: DateTime<Utc>) -> Result<i64, Error> {
        numbering::check_not_future(issued_at)?;
        let series = self.series.get(key).ok_or_else(|| not_locked("number series"))?;
        if series.last_issued_at.is_some_and(|last| last > issued_at) {
            return Err(numbering::issued_before_last(&key.1, issued_at));
        }
        Ok(series.last_number + 1)
    }

    /// Returns whether an entry dated `date` falls in a closed period.
    pub fn period_closed(&self, date: NaiveDate) -> bool {
        let starts_on = PeriodId::containing(date).starts_on();
        self.closed_periods.as_ref().is_some_and(|closed| closed.contains(&starts_on))
    }

    /// Accepts a priced invoice: takes its number, its share of the partner's revenue and the
    /// credit it uses, and keeps its rows for `flush`.
    pub fn add(&mut self, invoice: PendingInvoice, effects: Effects) {
        if let Some(series) = self.series.get_mut(&effects.series) {
            series.last_number += 1;
            series.numbers_taken += 1;
            series.last_issued_at = Some(effects.issued_at);
        }
        if let Some((key, net)) = effects.revenue {
            let revenue = self.revenue.entry(key).or_default();
            revenue.net += net;
            revenue.added += net;
        }
        if let Some((key, used)) = effects.credit {
            if let Some(Some(credit)) = self.credits.get_mut(&key) {
                credit.balance -= used;
                credit.used += used;
            }
        }
        self.pending.push(invoice);
    }

    /// Writes every accepted invoice and the new values of the locked rows, in one round trip.
    /// Any failure leaves the transaction to be rolled back.
    pub async fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), Error> {
        flush_all(tx, std::slice::from_mut(self)).await
    }

    async fn write_counters(&self, tx: &Transaction<'_>) -> Result<(), Error> {
        tokio::try_join!(self.write_series(tx), self.write_revenue(tx), self.write_credits(tx))?;
        Ok(())
    }

    /// Records that the new values of the locked rows are written.
    fn counters_written(&mut self) {
        for series in self.series.values_mut() {
            series.stored |= series.numbers_taken > 0;
            series.numbers_taken = 0;
        }
        for revenue in self.revenue.values_mut() {
            revenue.added = Decimal::ZERO;
        }
        for credit in self.credits.values_mut().flatten() {
            credit.used = Decimal::ZERO;
        }
    }

    async fn write_series(&self, tx: &Transaction<'_>) -> Result<(), Error> {
        let changed: Vec<(&SeriesKey, &Series)> =
            self.series.iter().filter(|(_, series)| series.numbers_taken > 0).collect();
        if changed.is_empty() {
            return Ok(());
        }
        let issuers: Vec<Uuid> = changed.iter().map(|(key, _)| key.0).collect();
        let names: Vec<&str> = changed.iter().map(|(key, _)| key.1.as_str()).collect();
        let years: Vec<i32> = changed.iter().map(|(key, _)| key.2).collect();
        let numbers: Vec<i64> = changed.iter().map(|(_, series)| series.last_number).collect();
        let instants: Vec<Option<DateTime<Utc>>> =
            changed.iter().map(|(_, series)| series.last_issued_at).collect();
        let stored: Vec<bool> = changed.iter().map(|(_, series)| series.stored).collect();
        let statement = tx.prepare_cached(WRITE_SERIES).await?;
        let params: [&(dyn ToSql + Sync); 7] =
            [&self.tenant_id, &issuers, &names, &years, &numbers, &instants, &stored];
        let written = tx.execute(&statement, &params).await?;
        if written != changed.len() as u64 {
            // NOTE: a credit note or statement numbered in the same new series takes its number
            // without the advisory lock. If it commits first, this write fails with a 500 for
            // a single invoice, and a batch runs again one document at a time.
            let detail = format!("{written} of {} number series were written", changed.len());
            return Err(Error::internal(anyhow::anyhow!(detail)));
        }
        Ok(())
    }

    async fn write_revenue(&self, tx: &Transaction<'_>) -> Result<(), Error> {
        let changed: Vec<(&RevenueKey, &Revenue)> =
            self.revenue.iter().filter(|(_, revenue)| !revenue.added.is_zero()).collect();
        if changed.is_empty() {
            return Ok(());
        }
        let partners: Vec<Uuid> = changed.iter().map(|(key, _)| key.0).collect();
        let years: Vec<i32> = changed.iter().map(|(key, _)| key.1).collect();
        let currencies: Vec<&str> = changed.iter().map(|(key, _)| key.2.code()).collect();
        let added: Vec<Decimal> = changed.iter().map(|(_, revenue)| revenue.added).collect();
        let statement = tx
            .prepare_cached(
                // Every row exists and is locked, so each insert conflicts and adds to it.
                "INSERT INTO partner_year_revenue AS r \
                     (tenant_id, partner_id, year, currency, net_revenue) \
                 SELECT $1, u.partner_id, u.year, u.currency, u.added \
                 FROM unnest($2::uuid[], $3::int[], $4::text[], $5::numeric[]) \
                     AS u (partner_id, year, currency, added) \
                 ON CONFLICT (tenant_id, partner_id, year, currency) DO UPDATE \
                     SET net_revenue = r.net_revenue + excluded.net_revenue",
            )
            .await?;
        let params: [&(dyn ToSql + Sync); 5] =
            [&self.tenant_id, &partners, &years, &currencies, &added];
        tx.execute(&statement, &params).await?;
        Ok(())
    }

    async fn write_credits(&self, tx: &Transaction<'_>) -> Result<(), Error> {
        let used: Vec<(&(Uuid, Currency), Decimal)> = self
            .credits
            .iter()
            .filter_map(|(key, credit)| Some((key, credit.as_ref()?.used)))
            .filter(|(_, used)| !used.is_zero())
            .collect();
        if used.is_empty() {
            return Ok(());
        }
        // One statement per account, all sent together: each names the whole primary key, so
        // it is an index lookup under any plan, and few customers of a batch have credit.
        let statement = tx
            .prepare_cached(
                "UPDATE contract_accounts SET credit_balance = credit_balance - $4 \
                 WHERE tenant_id = $1 AND party_id = $2 AND currency = $3 \
                   AND purpose = 'customer_credit'",
            )
            .await?;
        let updates = used.iter().map(|((customer, currency), amount)| {
            let statement = &statement;
            async move {
                let code = currency.code();
                let params: [&(dyn ToSql + Sync); 4] = [&self.tenant_id, customer, &code, amount];
                tx.execute(statement, &params).await
            }
        });
        futures::future::try_join_all(updates).await?;
        Ok(())
    }
}

/// Writes the accepted invoices of `batches`, whatever their tenants, with one statement per
/// table, and the new values of each batch's locked rows, in one round trip. Any failure
/// leaves the transaction to be rolled back.
pub async fn flush_all(tx: &Transaction<'_>, batches: &mut [InvoiceBatch]) -> Result<(), Error> {
    let pending: Vec<(Uuid, PendingInvoice)> = batches
        .iter_mut()
        .flat_map(|batch| {
            let tenant_id = batch.tenant_id;
            std::mem::take(&mut batch.pending).into_iter().map(move |invoice| (tenant_id, invoice))
        })
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let counters = futures::future::try_join_all(batches.iter().map(|b| b.write_counters(tx)));
    let (written, counters) = tokio::join!(invoice::write_all(tx, &pending), counters);
    written?;
    counters?;
    for batch in batches {
        batch.counters_written();
    }
    Ok(())
}

/// Updates the series that have a row and inserts the new ones; returns a row per series
/// written. A new series that another transaction inserted meanwhile is not written. The
/// updates are written as inserts that conflict on the primary key, so each row is found by
/// a unique index probe whatever plan Postgres would choose for a join.
const WRITE_SERIES: &str = "\
    WITH series AS ( \
        SELECT * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[], \
            $6::timestamptz[], $7::boolean[]) \
            AS s (issuer_id, series, year, last_number, last_issued_at, stored) \
    ), updated AS ( \
        INSERT INTO number_series \
            (tenant_id, issuer_id, series, year, last_number, last_issued_at) \
        SELECT $1, s.issuer_id, s.series, s.year, s.last_number, s.last_issued_at \
        FROM series s WHERE s.stored \
        ON CONFLICT (tenant_id, issuer_id, series, year) DO UPDATE \
            SET last_number = excluded.last_number, last_issued_at = excluded.last_issued_at \
        RETURNING 1 \
    ), inserted AS ( \
        INSERT INTO number_series \
            (tenant_id, issuer_id, series, year, last_number, last_issued_at) \
        SELECT $1, s.issuer_id, s.series, s.year, s.last_number, s.last_issued_at \
        FROM series s WHERE NOT s.stored \
        ON CONFLICT DO NOTHING \
        RETURNING 1 \
    ) \
    SELECT 1 FROM updated UNION ALL SELECT 1 FROM inserted";

/// Takes the advisory locks of a list of number series names, in the order of their lock keys.
/// PostgreSQL (9.6 and later) evaluates the volatile lock function after the sort.
const LOCK_SERIES_NAMES: &str = "\
    SELECT pg_advisory_xact_lock(hashtextextended(name, 0)) \
    FROM unnest($1::text[]) AS name ORDER BY hashtextextended(name, 0)";

/// Locks and reads the number series of a list of keys, one primary key lookup per key in the
/// order given. Keys without a row are left out.
const LOCK_SERIES: &str = "\
    SELECT n.issuer_id, n.series, n.year, n.last_number, n.last_issued_at \
    FROM unnest($2::uuid[], $3::text[], $4::int[]) AS k (issuer_id, series, year) \
    CROSS JOIN LATERAL ( \
        SELECT issuer_id, series, year, last_number, last_issued_at FROM number_series \
        WHERE tenant_id = $1 AND issuer_id = k.issuer_id AND series = k.series \
          AND year = k.year \
        FOR UPDATE \
    ) n";

/// Creates the missing partner revenue rows of a list of keys.
const CREATE_REVENUE: &str = "\
    INSERT INTO partner_year_revenue (tenant_id, partner_id, year, currency, net_revenue) \
    SELECT $1, k.partner_id, k.year, k.currency, 0 \
    FROM unnest($2::uuid[], $3::int[], $4::text[]) AS k (partner_id, year, currency) \
    ON CONFLICT DO NOTHING";

/// Locks and reads the partner revenue rows of a list of keys, one primary key lookup per key
/// in the order given.
const LOCK_REVENUE: &str = "\
    SELECT r.partner_id, r.year, r.currency, r.net_revenue \
    FROM unnest($2::uuid[], $3::int[], $4::bpchar[]) AS k (partner_id, year, currency) \
    CROSS JOIN LATERAL ( \
        SELECT partner_id, year, currency, net_revenue FROM partner_year_revenue \
        WHERE tenant_id = $1 AND partner_id = k.partner_id AND year = k.year \
          AND currency = k.currency \
        FOR UPDATE \
    ) r";

/// Locks and reads the customer credit accounts of a list of keys (party id and currency),
/// one primary key lookup per key in the order given.
const LOCK_CREDITS: &str = "\
    SELECT c.party_id, c.currency, c.account_code, c.credit_balance \
    FROM unnest($2::uuid[], $3::bpchar[]) AS k (party_id, currency) \
    CROSS JOIN LATERAL ( \
        SELECT party_id, currency, account_code, credit_balance FROM contract_accounts \
        WHERE tenant_id = $1 AND party_id = k.party_id AND currency = k.currency \
          AND purpose = 'customer_credit' \
        FOR UPDATE \
    ) c";

/// Reads the contract account code of each key (party id, currency and purpose) with one
/// primary key lookup per key. It returns one row per key, in the order given, with a null
/// code where there is no account. LIMIT keeps the subquery from being turned into a join.
const FIND_CONTRACT_ACCOUNTS: &str = "\
    SELECT c.account_code \
    FROM unnest($2::uuid[], $3::bpchar[], $4::text[]) WITH ORDINALITY \
        AS k (party_id, currency, purpose, position) \
    LEFT JOIN LATERAL ( \
        SELECT account_code FROM contract_accounts \
        WHERE tenant_id = $1 AND party_id = k.party_id AND currency = k.currency \
          AND purpose = k.purpose \
        LIMIT 1 \
    ) c ON true \
    ORDER BY k.position";

fn not_locked(table: &str) -> Error {
    Error::internal(anyhow::anyhow!("the {table} of an invoice was not read before pricing"))
}

/// Reads the contract accounts of `keys` that are open.
async fn find_contract_accounts(
    client: &impl GenericClient,
    tenant_id: Uuid,
    keys: &[(Uuid, Currency, Purpose)],
) -> Result<HashMap<(Uuid, Currency, Purpose), String>, Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let statement = client.prepare_cached(FIND_CONTRACT_ACCOUNTS).await?;
    let parties: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
    let currencies: Vec<&str> = keys.iter().map(|key| key.1.code()).collect();
    let purposes: Vec<&str> = keys.iter().map(|key| key.2.as_str()).collect();
    let rows = client.query(&statement, &[&tenant_id, &parties, &currencies, &purposes]).await?;
    if rows.len() != keys.len() {
        return Err(Error::internal(anyhow::anyhow!(
            "read {} contract account rows for {} keys, expected one per key",
            rows.len(),
            keys.len()
        )));
    }
    let found = keys
        .iter()
        .zip(rows)
        .filter_map(|(key, row)| Some((*key, row.get::<_, Option<String>>(0)?)));
    Ok(found.collect())
}

/// Locks the customer credit accounts of `keys`, given in key order, and reads their balance.
async fn lock_credits(
    client: &impl GenericClient,
    tenant_id: Uuid,
    keys: &[(Uuid, Currency)],
) -> Result<HashMap<(Uuid, Currency), Credit>, Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let parties: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
    let currencies: Vec<&str> = keys.iter().map(|key| key.1.code()).collect();
    let statement = client.prepare_cached(LOCK_CREDITS).await?;
    let rows = client.query(&statement, &[&tenant_id, &parties, &currencies]).await?;
    let mut found = HashMap::new();
    for row in rows {
        // The query returns only the rows of `keys`.
        let key = (row.get(0), Currency::parse(row.get::<_, &str>(1).trim_end())?);
        let credit = Credit { account: row.get(2), balance: row.get(3), used: Decimal::ZERO };
        found.insert(key, credit);
    }
    Ok(found)
}

/// Takes the advisory lock of each number series of `keys`, held until the transaction ends.
/// Every invoice takes it before its row locks, so the first invoices of a series without a
/// row wait for each other here and the later ones read the row the first one inserted.
async fn lock_series_names(
    client: &impl GenericClient,
    tenant_id: Uuid,
    keys: &[SeriesKey],
) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = keys
        .iter()
        .map(|(issuer, series, year)| format!("number_series:{tenant_id}:{issuer}:{series}:{year}"))
        .collect();
    let statement = client.prepare_cached(LOCK_SERIES_NAMES).await?;
    client.query(&statement, &[&names]).await?;
    Ok(())
}

/// Locks the number series rows of `keys`, given in key order, and reads their last number
/// and issue instant. Series without a row are left out.
async fn lock_series(
    client: &impl GenericClient,
    tenant_id: Uuid,
    keys: &[SeriesKey],
) -> Result<HashMap<SeriesKey, (i64, DateTime<Utc>)>, Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let issuers: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
    let names: Vec<&str> = keys.iter().map(|key| key.1.as_str()).collect();
    let years: Vec<i32> = keys.iter().map(|key| key.2).collect();
    let statement = client.prepare_cached(LOCK_SERIES).await?;
    let rows = client.query(&statement, &[&tenant_id, &issuers, &names, &years]).await?;
    Ok(rows
        .iter()
        .map(|row| ((row.get(0), row.get(1), row.get(2)), (row.get(3), row.get(4))))
        .collect())
}

/// Creates the partner revenue rows of `keys` that are missing, then locks all of them, in
/// key order, and reads them.
async fn lock_revenue(
    client: &impl GenericClient,
    tenant_id: Uuid,
    keys: &[RevenueKey],
) -> Result<HashMap<RevenueKey, Decimal>, Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let partners: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
    let years: Vec<i32> = keys.iter().map(|key| key.1).collect();
    let currencies: Vec<&str> = keys.iter().map(|key| key.2.code()).collect();
    let (create, lock) = tokio::try_join!(
        client.prepare_cached(CREATE_REVENUE),
        client.prepare_cached(LOCK_REVENUE)
    )?;
    let params: [&(dyn ToSql + Sync); 4] = [&tenant_id, &partners, &years, &currencies];
    let (created, rows) =
        tokio::join!(client.execute(&create, &params), client.query(&lock, &params));
    created?;
    let rows = rows?;
    let mut found = HashMap::new();
    for row in rows {
        // The query returns only the rows of `keys`.
        let currency = Currency::parse(row.get::<_, &str>(2).trim_end())?;
        found.insert((row.get(0), row.get(1), currency), row.get(3));
    }
    Ok(found)
}

/// Reads the first days of the tenant's closed periods.
async fn closed_periods(
    client: &impl GenericClient,
    tenant_id: Uuid,
) -> Result<HashSet<NaiveDate>, Error> {
    let statement =
        client.prepare_cached("SELECT starts_on FROM fiscal_periods WHERE tenant_id = $1").await?;
    let rows = client.query(&statement, &[&tenant_id]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
