//! Business documents and their posting rules: invoices, payments and clearing, commissions,
//! credit notes, payouts and partner agreements.
