//! Double-entry core: accounts, journal entries, posting, balances and fiscal periods.
